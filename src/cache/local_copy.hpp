#pragma once
// A worker's in-process copy of hot cached summaries, so a cache hit needs no Redis round trip.
// A copy is kept only while Redis tells this worker about every change of the key it mirrors
// (cache::client_tracking): the owner calls invalidate() for each key Redis reports changed
// and clear() when Redis reports a flush or the reports may have stopped (a connection
// dropped). Each copy also expires when the Redis key does (the TTL Redis reported, or the one
// we set), so serving it adds no staleness beyond what the Redis cache already allows.
//
// Reads race with invalidations: a reply read on one connection can arrive after the
// invalidation of its key arrived on the other. So a copy is kept only under a claim taken
// before the Redis call was sent: invalidate() and clear() void the claims on what they drop,
// and put() with a void claim keeps nothing.
//
// Bounded: when full, expired copies (and pending claims) are dropped first, then everything
// (the next hits refill it).
//
// Thread safety: one per worker, on that worker's thread (no locking).

#include "common/clock.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace analytics::cache {

class local_copy {
public:
    /// A claim on a key; 0 is no claim (put() then keeps nothing).
    using claim_id = std::uint64_t;

    explicit local_copy(std::size_t max_entries = 4096) : max_entries_(max_entries) {}

    /// The body cached under `key`, or nullptr when absent, expired at `now` or only claimed.
    const std::string* find(std::string_view key, common::clock::mono_time now) const;

    /// Claims `key` before the Redis call whose answer put() may keep; drops its copy, if any.
    /// `now` is the current time, for eviction.
    claim_id claim(std::string_view key, common::clock::mono_time now);

    /// Keeps `body` under `key` until `expires` if `claim` is still the key's claim. Returns
    /// whether it did.
    bool put(std::string_view key, claim_id claim, std::string body,
             common::clock::mono_time expires);

    /// Drops the copy of `key` and voids its claim.
    void invalidate(std::string_view key);

    /// Drops every copy and voids every claim.
    void clear() noexcept { entries_.clear(); }

    std::size_t size() const noexcept { return entries_.size(); }

private:
    struct entry {
        std::string body;
        common::clock::mono_time expires;  // min() while only claimed
        claim_id claim;
    };
    struct key_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept
        {
            return std::hash<std::string_view>{}(s);
        }
    };

    std::size_t max_entries_;
    claim_id last_claim_ = 0;
    std::unordered_map<std::string, entry, key_hash, std::equal_to<>> entries_;
};

}  // namespace analytics::cache
