#include "api/breaker_handlers.hpp"

#include "common/rfc3339.hpp"
#include "http/response.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <chrono>

namespace analytics::api {

breaker_handlers::breaker_handlers(breaker::scoped_breaker& breaker, const std::string& instance_id)
    : breaker_(breaker), instance_id_(instance_id)
{
}

std::string breaker_handlers::status_body(const breaker::scoped_status& status,
                                          std::string_view instance_id)
{
    const breaker::snapshot& s = status.state;
    json::object body;
    body["state"] = breaker::to_string(s.current);
    body["failure_count"] = s.failure_count;
    body["success_count"] = s.success_count;
    if (s.opened_at) {
        // docs/contract.md, Conventions: response timestamps are RFC 3339 in UTC; with no client
        // input to follow, whole seconds like every other `timestamp` we produce.
        const auto secs = std::chrono::floor<std::chrono::seconds>(s.opened_at->time_since_epoch());
        body["opened_at"] = common::format_rfc3339_seconds(secs.count());
    }
    if (s.retry_after) {
        body["retry_after_seconds"] = s.retry_after->count();
    }
    body["scope"] = status.scope == config::breaker_scope::cluster ? "cluster" : "instance";
    body["instance"] = instance_id;
    if (status.scope == config::breaker_scope::cluster) {
        body["fallback"] = status.fallback;
    }
    return json::serialize(body);
}

net::awaitable<http::response> breaker_handlers::status(http::request&)
{
    const auto state = co_await breaker_.status();
    auto res = http::json_response(200, status_body(state, instance_id_));
    // The state changes with time alone, so no cache may keep an answer.
    res.set("Cache-Control", "no-store");
    co_return res;
}

void breaker_handlers::register_routes(http::router& r)
{
    r.add(http::method::get, "/api/circuit-breaker/status",
          [this](http::request& req) { return status(req); });
}

}  // namespace analytics::api
