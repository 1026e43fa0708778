#pragma once
// The limit this process enforces on its own while Redis cannot be reached
// (RATE_LIMIT_FAILURE_MODE=local, docs/contract.md, Rate limiting): the same sliding window counter
// as the Redis script, kept in memory on the monotonic clock, so that no client is unlimited during
// an outage. It counts only the requests it is asked about, i.e. those that found Redis failing;
// with several instances a client may get up to `limit` per instance while Redis is down.
//
// Owns one map from client to its two window counters, split into shards by hash so that worker
// threads rarely meet on a lock. Memory is bounded: once per window a shard drops the clients
// whose counters have both aged out, and when it is full even so it evicts the eighth of its
// clients with the lowest weighted counts, who lose the least by being forgotten.
//
// Thread safety: one instance per process, shared by every worker thread; check() may be called
// from any thread concurrently (each shard has its own mutex).

#include "common/clock.hpp"
#include "config/settings.hpp"
#include "ratelimit/client_map.hpp"
#include "ratelimit/decision.hpp"
#include "ratelimit/window_math.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string_view>

namespace analytics::ratelimit {

class local_backstop {
public:
    /// `max_clients` bounds the number of clients tracked at once, over all shards. `options`
    /// are within range (window_policy::fits; from_env checks it).
    local_backstop(const config::ratelimit_options& options, const common::clock& clock,
                   std::size_t max_clients = 65'536);

    local_backstop(const local_backstop&) = delete;
    local_backstop& operator=(const local_backstop&) = delete;

    /// Counts the request when it fits and decides, with source local_backstop.
    decision check(std::string_view client);

    /// The number of clients tracked right now (for tests and diagnostics).
    std::size_t size() const;

private:
    struct counters {
        std::int64_t window_index = 0;
        std::int64_t current = 0;
        std::int64_t previous = 0;
    };

    struct shard {
        mutable std::mutex mutex;
        client_map<counters> clients;
        std::int64_t swept_index = 0;  // the window in which stale clients were last dropped
    };

    static constexpr std::size_t shard_count = 16;

    /// The counters as seen from window `index`: rolled forward, as the script does.
    static window_sample sample_of(const counters& c, std::int64_t index, std::int64_t elapsed_ms);

    static void drop_stale(shard& s, std::int64_t index);
    void evict_least_used(shard& s, std::int64_t index, std::int64_t elapsed_ms) const;

    window_policy policy_;
    const common::clock& clock_;
    std::size_t max_per_shard_;
    std::array<shard, shard_count> shards_;
};

}  // namespace analytics::ratelimit
