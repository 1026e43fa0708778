#pragma once
// The Lua scripts a client has run or been given, by SHA-1 and source. Every new connection
// loads them all (SCRIPT LOAD) before it takes commands, because a server's script cache is
// lost on restart and not replicated: a replica promoted to master knows none of them, and a
// MULTI or a pipeline cannot fall back to EVAL the way a lone EVALSHA can.
//
// Thread safety: belongs to one client, on its thread.

#include "redis/script.hpp"

#include <algorithm>
#include <string>
#include <vector>

namespace analytics::redis {

class script_registry {
public:
    struct entry {
        std::string sha1;
        std::string source;
    };

    /// Adds `s` unless a script of the same SHA-1 is known; true when it was new.
    bool add(const script& s)
    {
        const bool known = std::any_of(entries_.begin(), entries_.end(),
                                       [&](const entry& e) { return e.sha1 == s.sha1(); });
        if (known) {
            return false;
        }
        entries_.push_back({s.sha1(), s.source()});
        return true;
    }

    const std::vector<entry>& entries() const noexcept { return entries_; }

private:
    std::vector<entry> entries_;
};

}  // namespace analytics::redis
