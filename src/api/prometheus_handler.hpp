#pragma once
// GET /metrics: the Prometheus text exposition of telemetry::registry. Not rate limited; with
// METRICS_PORT set it is served on that port only.
//
// Thread safety: stateless; any worker may serve it.

#include "common/asio.hpp"
#include "http/message.hpp"
#include "http/router.hpp"

namespace analytics::api {

class prometheus_handler {
public:
    net::awaitable<http::response> scrape(http::request& req);

    /// Registers GET /metrics on `r`.
    void register_routes(http::router& r);
};

}  // namespace analytics::api
