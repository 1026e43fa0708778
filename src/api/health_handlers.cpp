#include "api/health_handlers.hpp"

#include "http/response.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/string_view.hpp>

namespace analytics::api {

health_handlers::health_handlers(std::function<redis_health()> redis,
                                 const std::atomic<bool>& shutting_down,
                                 const redis::write_refusals& refusals)
    : redis_(std::move(redis)), shutting_down_(shutting_down), refusals_(refusals)
{
}

std::string health_handlers::body(const redis_health& state, bool open) const
{
    std::string out;
    out.reserve(200 + state.nodes.size() * 96);
    const auto refusing = state.connected ? refusals_.refusing() : std::nullopt;
    if (state.connected && !refusing) {
        out.append(R"({"status":"healthy","redis_connected":true,"timestamp":")");
    } else if (!state.connected) {
        out.append(R"({"status":"degraded","redis_connected":false,)"
                   R"("reason":"redis_unreachable","timestamp":")");
    } else {
        out.append(R"({"status":"degraded","redis_connected":true,)"
                   R"("reason":"redis_refusing_writes","refusal":")");
        out.append(redis::write_refusals::name(*refusing));
        out.append(R"(","timestamp":")");
    }
    out.append(http::now_rfc3339());
    out.append(R"(","redis_nodes":[)");
    bool first = true;
    for (const auto& n : state.nodes) {
        out.append(first ? R"({"address":)" : R"(,{"address":)");
        first = false;
        // The address comes from the cluster's own description of itself: escaped, not trusted.
        out.append(boost::json::serialize(boost::json::string_view(n.address)));
        const bool master = n.role == redis::node_role::master;
        out.append(master ? R"(,"role":"master")" : R"(,"role":"replica")");
        // This instance connects to masters only; a replica's link is not its concern.
        if (master) {
            out.append(n.connected ? R"(,"connected":true)" : R"(,"connected":false)");
        }
        if (state.cluster && master) {
            out.append(R"(,"slots":)").append(std::to_string(n.slots));
        }
        if (state.cluster && !n.health.empty()) {
            out.append(R"(,"health":)");
            out.append(boost::json::serialize(boost::json::string_view(n.health)));
        }
        out.push_back('}');
    }
    out.push_back(']');
    if (!open) {
        out.push_back('}');
    }
    return out;
}

net::awaitable<http::response> health_handlers::health(http::request&)
{
    co_return http::json_response(200, body(redis_()));
}

net::awaitable<http::response> health_handlers::ready(http::request&)
{
    const redis_health state = redis_();
    const bool stopping = shutting_down_.load(std::memory_order_relaxed);
    if (state.serving && !stopping) {
        co_return http::json_response(200, body(state));
    }
    // docs/contract.md, Health: a 503 carries the /health body; every error also has code and
    // message, so the body holds both shapes.
    std::string out = body(state, true);
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
