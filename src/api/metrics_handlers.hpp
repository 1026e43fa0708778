#pragma once
// POST /api/metrics, POST /api/metrics/batch, GET /api/metrics/list, GET /api/metrics/summary:
// parse and validate the HTTP input, call one domain service, shape the answer
// (docs/contract.md, Endpoints).
//
// Thread safety: one instance per worker, on that worker's thread.

#include "common/asio.hpp"
#include "common/clock.hpp"
#include "common/degraded_mode.hpp"
#include "http/message.hpp"
#include "http/router.hpp"
#include "metrics/metric_store.hpp"
#include "metrics/summary_service.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>

namespace analytics::telemetry {
class shard;
}

namespace analytics::api {

class metrics_handlers {
public:
    /// `storage_down` is the process-wide record of Redis being unreachable for metric data;
    /// `max_future`: how far ahead of `clock` a timestamp may lie; `batch_body_limit`: the
    /// largest batch body; `stats`: the worker's shard, counting the metrics stored.
    metrics_handlers(metrics::metric_store& store, metrics::summary_service& summaries,
                     common::degraded_mode& storage_down, const common::clock& clock,
                     std::chrono::seconds max_future, std::size_t batch_body_limit,
                     telemetry::shard& stats);

    net::awaitable<http::response> ingest(http::request& req);
    net::awaitable<http::response> ingest_batch(http::request& req);
    net::awaitable<http::response> list(http::request& req);
    net::awaitable<http::response> summary(http::request& req);

    /// Registers the four routes; `wrap_ingest` wraps the two ingest handlers (the rate
    /// limiter's ratelimit::limit: a batch counts as one request).
    void register_routes(http::router& r,
                         const std::function<http::handler(http::handler)>& wrap_ingest);

private:
    // The latest timestamp accepted now (µs since the Unix epoch).
    std::int64_t latest_accepted_micros() const;

    metrics::metric_store& store_;
    metrics::summary_service& summaries_;
    common::degraded_mode& storage_down_;
    const common::clock& clock_;
    std::chrono::seconds max_future_;
    std::size_t batch_body_limit_;
    telemetry::shard& stats_;
};

}  // namespace analytics::api
