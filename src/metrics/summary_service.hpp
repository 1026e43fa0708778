#pragma once
// Answers GET /api/metrics/summary: read-through cache -> circuit breaker -> external service
// -> rollups, with stale-if-error.
//
// docs/contract.md, Summary: every miss (also for a type with no metrics) calls the external
// service through the breaker. Breaker open: CIRCUIT_OPEN with Retry-After; call failed or
// timed out: EXTERNAL_SERVICE_ERROR; in both cases an expired copy, if held, is served instead
// (STALE).
//
// Concurrent misses on one key compute once across every worker of every instance sharing the
// Redis. Within a worker a single flight per key asks Redis once; across workers and instances
// a lease in Redis (cache::summary_cache) elects one computation. The others wait for its
// result: woken by Redis's invalidation of the key when the owner fills it, and polling with a
// short backoff in case the owner failed, its lease was released or tracking is off. A waiter
// never waits longer than EXTERNAL_SERVICE_TIMEOUT: then it computes itself, so a lost lease
// costs a duplicate call, never a hang.
//
// Hits are served from the worker's in-process copy of the Redis cache (cache::local_copy),
// so the hot path makes no Redis call. Copies are kept only while Redis reports every change of
// the cached keys (cache::client_tracking), and dropped on each report: a DEL, overwrite,
// expiry or flush of the Redis key reaches every worker as soon as the report does.
//
// Thread safety: one per worker, on that worker's thread, as is its breaker; the external
// service it uses is process-wide and thread-safe.

#include "breaker/scoped_breaker.hpp"
#include "cache/client_tracking.hpp"
#include "cache/local_copy.hpp"
#include "cache/summary_cache.hpp"
#include "common/asio.hpp"
#include "common/clock.hpp"
#include "common/degraded_mode.hpp"
#include "common/single_flight.hpp"
#include "metrics/metric_store.hpp"
#include "metrics/summary.hpp"
#include "upstream/external_service.hpp"

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace analytics::telemetry {
class shard;
}

namespace analytics::metrics {

/// The degraded modes this path reports, each logged once per outage (process-wide).
struct summary_outages {
    common::degraded_mode& storage;   // Redis unreachable for the cache or the rollups
    common::degraded_mode& upstream;  // external service calls failing or timing out
    common::degraded_mode& stale;     // stale copies served instead of fresh summaries
};

struct summary_answer {
    enum class kind { hit, miss, stale, circuit_open, upstream_failed, storage_unavailable };

    kind outcome = kind::miss;
    std::string body;                     // the summary JSON for hit, miss and stale
    std::chrono::seconds retry_after{0};  // for circuit_open
};

class summary_service {
public:
    /// Listens to `tracking` (one service per tracking); counts cache lookups, computations and
    /// upstream calls in `stats` (the worker's shard).
    summary_service(cache::summary_cache& cache, cache::client_tracking& tracking,
                    metric_store& store, breaker::scoped_breaker& breaker,
                    upstream::external_service& upstream,
                    std::chrono::milliseconds upstream_timeout, summary_outages outages,
                    const common::clock& clock, telemetry::shard& stats);

    /// The summary of `type` (validated) over `p`.
    net::awaitable<summary_answer> get(std::string_view type, period p);

    /// Summaries computed (cache misses that reached the rollups) by this worker.
    std::uint64_t computations() const noexcept { return computed_; }

    /// Times this worker waited for a lease another holder had.
    std::uint64_t lease_waits() const noexcept { return lease_waits_; }

private:
    net::awaitable<summary_answer> fetch(std::string type, period p);
    net::awaitable<summary_answer> compute(std::string type, period p, std::string token);
    net::awaitable<summary_answer> give_up(std::string_view type, period p, std::string_view token,
                                           summary_answer failure);
    net::awaitable<summary_answer> stale_or(std::string_view type, period p,
                                            summary_answer failure);
    net::awaitable<void> wait_for_change(const std::string& key,
                                         std::chrono::steady_clock::duration limit);
    std::string next_token();

    cache::summary_cache& cache_;
    cache::client_tracking& tracking_;
    metric_store& store_;
    breaker::scoped_breaker& breaker_;
    upstream::external_service& upstream_;
    std::chrono::milliseconds upstream_timeout_;
    std::chrono::milliseconds lease_ttl_;
    summary_outages outages_;
    const common::clock& clock_;
    telemetry::shard& stats_;
    cache::local_copy local_;
    common::single_flight<summary_answer> flights_;
    // The fetch of each key waiting for another holder's lease, woken by the key's invalidation.
    std::unordered_map<std::string, net::steady_timer*> waiting_;
    std::string token_prefix_;
    std::uint64_t tokens_ = 0;
    std::uint64_t computed_ = 0;
    std::uint64_t lease_waits_ = 0;
};

}  // namespace analytics::metrics
