#pragma once
// POST /api/metrics, GET /api/metrics/list, GET /api/metrics/summary: parse and validate the
// HTTP input, call one domain service, shape the answer (API.md § Endpoints).
//
// Thread safety: one instance per worker, on that worker's thread.

#include "common/asio.hpp"
#include "common/degraded_mode.hpp"
#include "http/message.hpp"
#include "http/router.hpp"
#include "metrics/metric_store.hpp"
#include "metrics/summary_service.hpp"
#include "ratelimit/middleware.hpp"

#include <functional>

namespace analytics::api {

class metrics_handlers {
public:
    /// `storage_down` is the process-wide record of Redis being unreachable for metric data.
    metrics_handlers(metrics::metric_store& store, metrics::summary_service& summaries,
                     common::degraded_mode& storage_down);

    /// `check`: the request's rate-limit check, decided by the same Redis call that stores the
    /// metric (nullptr: no limit). A refused or invalid request stores nothing.
    net::awaitable<http::response> ingest(http::request& req, ratelimit::admission* check);
    net::awaitable<http::response> list(http::request& req);
    net::awaitable<http::response> summary(http::request& req);

    /// Registers the three routes; `wrap_ingest` wraps the ingest handler (the rate limiter's
    /// ratelimit::limit).
    void register_routes(
        http::router& r,
        const std::function<http::handler(ratelimit::admitted_handler)>& wrap_ingest);

private:
    metrics::metric_store& store_;
    metrics::summary_service& summaries_;
    common::degraded_mode& storage_down_;
};

}  // namespace analytics::api
