#pragma once
// Answers GET /api/metrics/summary: read-through cache -> circuit breaker -> external service
// -> rollups, with single-flight for concurrent misses and stale-if-error.
//
// API.md § Summary: every miss (also for a type with no metrics) calls the external service
// through the breaker. Breaker open: CIRCUIT_OPEN with Retry-After; call failed or timed out:
// EXTERNAL_SERVICE_ERROR; in both cases an expired copy, if held, is served instead (STALE).
//
// Hits are served from the worker's in-process copy of the Redis cache while the Redis key
// lives (cache::local_copy), so the hot path makes no Redis call.
//
// Thread safety: one per worker, on that worker's thread, as is its breaker; the external
// service it uses is process-wide and thread-safe.

#include "breaker/scoped_breaker.hpp"
#include "cache/local_copy.hpp"
#include "cache/summary_cache.hpp"
#include "common/asio.hpp"
#include "common/clock.hpp"
#include "common/degraded_mode.hpp"
#include "common/single_flight.hpp"
#include "metrics/metric_store.hpp"
#include "metrics/summary.hpp"
#include "upstream/external_service.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

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
    summary_service(cache::summary_cache& cache, metric_store& store,
                    breaker::scoped_breaker& breaker, upstream::external_service& upstream,
                    std::chrono::milliseconds upstream_timeout, summary_outages outages,
                    const common::clock& clock);

    /// The summary of `type` (validated) over `p`.
    net::awaitable<summary_answer> get(std::string_view type, period p);

    /// Summaries computed (cache misses that reached the rollups) by this worker.
    std::uint64_t computations() const noexcept { return computed_; }

private:
    net::awaitable<summary_answer> compute(std::string type, period p);
    net::awaitable<summary_answer> stale_or(std::string_view type, period p,
                                            summary_answer failure);

    cache::summary_cache& cache_;
    metric_store& store_;
    breaker::scoped_breaker& breaker_;
    upstream::external_service& upstream_;
    std::chrono::milliseconds upstream_timeout_;
    summary_outages outages_;
    const common::clock& clock_;
    cache::local_copy local_;
    common::single_flight<summary_answer> flights_;
    std::uint64_t computed_ = 0;
};

}  // namespace analytics::metrics
