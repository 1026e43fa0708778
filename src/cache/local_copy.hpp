#pragma once
// A worker's in-process copy of hot cached summaries, so a cache hit needs no Redis round trip.
// Each copy expires when the Redis key it mirrors does (the TTL Redis reported, or the one we
// set), so serving it adds no staleness beyond what the Redis cache already allows. Bounded:
// when full, expired copies are dropped first, then everything (the next hits refill it).
//
// Thread safety: one per worker, on that worker's thread (no locking).

#include "common/clock.hpp"

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace analytics::cache {

class local_copy {
public:
    explicit local_copy(std::size_t max_entries = 4096) : max_entries_(max_entries) {}

    /// The body cached under `key`, or nullptr when absent or expired at `now`.
    const std::string* find(std::string_view key, common::clock::mono_time now) const;

    /// Keeps `body` under `key` until `expires`; `now` is the current time, for eviction.
    void put(std::string_view key, std::string body, common::clock::mono_time now,
             common::clock::mono_time expires);

    std::size_t size() const noexcept { return entries_.size(); }

private:
    struct entry {
        std::string body;
        common::clock::mono_time expires;
    };
    struct key_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept
        {
            return std::hash<std::string_view>{}(s);
        }
    };

    std::size_t max_entries_;
    std::unordered_map<std::string, entry, key_hash, std::equal_to<>> entries_;
};

}  // namespace analytics::cache
