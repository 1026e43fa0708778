#include "ratelimit/middleware.hpp"

#include "ratelimit/headers.hpp"

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "telemetry/registry.hpp"

namespace analytics::ratelimit {

namespace {

// ratelimit_decisions_total{result}: degraded decisions by their source, the rest by outcome.
telemetry::counter outcome_counter(const decision& d) noexcept
{
    switch (d.source) {
    case decision_source::fail_open:
        return telemetry::counter::ratelimit_fail_open;
    case decision_source::local_backstop:
        return telemetry::counter::ratelimit_local_backstop;
    case decision_source::redis:
    case decision_source::remembered_refusal:
        break;
    }
    return d.allowed ? telemetry::counter::ratelimit_allowed
                     : telemetry::counter::ratelimit_limited;
}

// Counts the decision; a refusal is the answer, else nullopt.
std::optional<http::response> refusal(const decision& d, telemetry::shard& stats)
{
    stats.add(outcome_counter(d));
    if (!d.allowed) {
        return too_many_requests(d);
    }
    return std::nullopt;
}

// A coroutine of its own rather than a coroutine lambda: its frame holds the handler by shared
// ownership, so nothing it uses lives in a closure that the router could move.
net::awaitable<http::response> limited(sliding_window_limiter& limiter, telemetry::shard& stats,
                                       std::shared_ptr<const http::handler> next,
                                       http::request& req)
{
    const std::string_view client = req.context().client_key();
    const decision d = co_await limiter.check(client);
    if (auto refused = refusal(d, stats)) {
        co_return std::move(*refused);
    }
    http::response r = co_await (*next)(req);
    add_rate_limit_headers(r, d);
    co_return r;
}

}  // namespace

http::handler limit(sliding_window_limiter& limiter, telemetry::shard& stats, http::handler next)
{
    if (!limiter.enabled()) {
        return next;
    }
    auto shared = std::make_shared<const http::handler>(std::move(next));
    return [&limiter, &stats, shared = std::move(shared)](http::request& req) {
        return limited(limiter, stats, shared, req);
    };
}

}  // namespace analytics::ratelimit
