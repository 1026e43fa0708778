#pragma once
// GET /metrics: the Prometheus text exposition of the application's telemetry::registry. Not
// rate limited; with METRICS_PORT set it is served on that port only.
//
// Thread safety: holds only a reference to the registry, which scrapes from any thread; any
// worker may serve it.

#include "common/asio.hpp"
#include "http/message.hpp"
#include "http/router.hpp"

namespace analytics::telemetry {
class registry;
}

namespace analytics::api {

class prometheus_handler {
public:
    /// Serves the scrapes of `registry`, which must outlive the handler.
    explicit prometheus_handler(const telemetry::registry& registry) : registry_(registry) {}

    net::awaitable<http::response> scrape(http::request& req);

    /// Registers GET /metrics on `r`.
    void register_routes(http::router& r);

private:
    const telemetry::registry& registry_;
};

}  // namespace analytics::api
