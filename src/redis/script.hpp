#pragma once
// A Lua script run with EVALSHA; its SHA1 is computed once at construction so the first call
// needs no SCRIPT LOAD. On NOSCRIPT (e.g. after a Redis restart or SCRIPT FLUSH) the client
// falls back to EVAL, which also caches the script on the server.
//
// Thread safety: immutable after construction.

#include <string>
#include <string_view>

namespace analytics::redis {

class script {
public:
    explicit script(std::string source);

    const std::string& source() const { return source_; }
    const std::string& sha1() const { return sha1_; }  // 40 lowercase hex digits

private:
    std::string source_;
    std::string sha1_;
};

}  // namespace analytics::redis
