#include "api/prometheus_handler.hpp"

#include "telemetry/registry.hpp"

namespace analytics::api {

net::awaitable<http::response> prometheus_handler::scrape(http::request&)
{
    http::response r;
    r.status = 200;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = registry_.scrape();
    r.set("Cache-Control", "no-store");
    co_return r;
}

void prometheus_handler::register_routes(http::router& r)
{
    r.add(http::method::get, "/metrics", [this](http::request& req) { return scrape(req); });
}

}  // namespace analytics::api
