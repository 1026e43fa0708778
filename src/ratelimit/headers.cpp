#include "ratelimit/headers.hpp"

#include "http/response.hpp"

#include <fmt/format.h>

namespace analytics::ratelimit {

void add_rate_limit_headers(http::response& r, const decision& d)
{
    if (!d.has_quota()) {
        return;
    }
    const std::int64_t reset = d.reset_seconds();
    r.set("X-RateLimit-Limit", std::to_string(d.limit));
    r.set("X-RateLimit-Remaining", std::to_string(d.remaining));
    r.set("X-RateLimit-Reset", std::to_string(reset));
    r.set("RateLimit-Policy", fmt::format("{};w={}", d.limit, d.window.count()));
    r.set("RateLimit",
          fmt::format("limit={}, remaining={}, reset={}", d.limit, d.remaining, reset));
}

http::response too_many_requests(const decision& d)
{
    const std::int64_t retry_after = d.retry_after_seconds();
    http::response r = http::error_response(
        429, "RATE_LIMIT_EXCEEDED",
        fmt::format("Rate limit exceeded: {} requests per {} seconds; retry in {} seconds", d.limit,
                    d.window.count(), retry_after));
    r.set("Retry-After", std::to_string(retry_after));
    add_rate_limit_headers(r, d);
    return r;
}

}  // namespace analytics::ratelimit
