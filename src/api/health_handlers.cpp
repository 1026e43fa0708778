#include "api/health_handlers.hpp"

#include "http/response.hpp"

namespace analytics::api {

health_handlers::health_handlers(std::function<bool()> redis_connected,
                                 const std::atomic<bool>& shutting_down)
    : redis_connected_(std::move(redis_connected)), shutting_down_(shutting_down)
{
}

std::string health_handlers::body(bool connected) const
{
    std::string out;
    out.reserve(96);
    out.append(connected ? R"({"status":"healthy","redis_connected":true,"timestamp":")"
                         : R"({"status":"degraded","redis_connected":false,"timestamp":")");
    out.append(http::now_rfc3339());
    out.append("\"}");
    return out;
}

net::awaitable<http::response> health_handlers::health(http::request&)
{
    co_return http::json_response(200, body(redis_connected_()));
}

net::awaitable<http::response> health_handlers::ready(http::request&)
{
    const bool connected = redis_connected_();
    const bool stopping = shutting_down_.load(std::memory_order_relaxed);
    if (connected && !stopping) {
        co_return http::json_response(200, body(true));
    }
    // docs/contract.md, Endpoints: a 503 carries the /health body; every error also has code and
    // message, so the body holds both shapes.
    std::string out = body(connected);
    out.pop_back();
    out.append(stopping ? R"(,"code":"SHUTTING_DOWN","message":"The service is shutting down"})"
                        : R"(,"code":"REDIS_UNAVAILABLE","message":"Redis is unreachable"})");
    co_return http::json_response(503, std::move(out));
}

void health_handlers::register_routes(http::router& r)
{
    r.add(http::method::get, "/health", [this](http::request& req) { return health(req); });
    r.add(http::method::get, "/ready", [this](http::request& req) { return ready(req); });
}

}  // namespace analytics::api
