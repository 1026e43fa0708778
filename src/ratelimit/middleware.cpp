#include "ratelimit/middleware.hpp"

#include "ratelimit/headers.hpp"

#include <exception>
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
std::optional<http::response> refusal(const decision& d)
{
    telemetry::local().add(outcome_counter(d));
    if (!d.allowed) {
        return too_many_requests(d);
    }
    return std::nullopt;
}

// A coroutine of its own rather than a coroutine lambda: its frame holds the handler by shared
// ownership, so nothing it uses lives in a closure that the router could move.
net::awaitable<http::response> limited(sliding_window_limiter& limiter,
                                       std::shared_ptr<const http::handler> next,
                                       http::request& req)
{
    const std::string_view client = req.context().client_key();
    const decision d = co_await limiter.check(client);
    if (auto refused = refusal(d)) {
        co_return std::move(*refused);
    }
    http::response r = co_await (*next)(req);
    add_rate_limit_headers(r, d);
    co_return r;
}

// The admitted_handler flavour: the check is the handler's to settle, else made afterwards.
net::awaitable<http::response> admitted(sliding_window_limiter& limiter,
                                        std::shared_ptr<const admitted_handler> next,
                                        http::request& req)
{
    const std::string_view client = req.context().client_key();
    const auto now = limiter.clock().steady_now();
    if (auto d = limiter.remembered(client, now)) {
        co_return *refusal(*d);
    }
    admission ticket(limiter, client, now);
    // A handler that throws (a bug: the router answers 500) has still been a request to count.
    std::exception_ptr failure;
    http::response r;
    try {
        r = co_await (*next)(req, &ticket);
    } catch (...) {
        failure = std::current_exception();
    }
    const decision d = ticket.settled() ? ticket.result() : co_await limiter.check(client);
    auto refused = refusal(d);
    if (failure) {
        std::rethrow_exception(failure);
    }
    if (refused) {
        co_return std::move(*refused);
    }
    add_rate_limit_headers(r, d);
    co_return r;
}

}  // namespace

http::handler limit(sliding_window_limiter& limiter, http::handler next)
{
    if (!limiter.enabled()) {
        return next;
    }
    auto shared = std::make_shared<const http::handler>(std::move(next));
    return [&limiter, shared = std::move(shared)](http::request& req) {
        return limited(limiter, shared, req);
    };
}

http::handler limit(sliding_window_limiter& limiter, admitted_handler next)
{
    auto shared = std::make_shared<const admitted_handler>(std::move(next));
    if (!limiter.enabled()) {
        return [shared = std::move(shared)](http::request& req) { return (*shared)(req, nullptr); };
    }
    return [&limiter, shared = std::move(shared)](http::request& req) {
        return admitted(limiter, shared, req);
    };
}

}  // namespace analytics::ratelimit
