#include "ratelimit/middleware.hpp"

#include "ratelimit/headers.hpp"

#include <memory>
#include <string>
#include <utility>

namespace analytics::ratelimit {

namespace {

// A coroutine of its own rather than a coroutine lambda: its frame holds the handler by shared
// ownership, so nothing it uses lives in a closure that the router could move.
net::awaitable<http::response> limited(sliding_window_limiter& limiter,
                                       std::shared_ptr<const http::handler> next,
                                       http::request& req)
{
    const std::string client = req.context().client.to_string();
    const decision d = co_await limiter.check(client);
    if (!d.allowed) {
        co_return too_many_requests(d);
    }
    http::response r = co_await (*next)(req);
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

}  // namespace analytics::ratelimit
