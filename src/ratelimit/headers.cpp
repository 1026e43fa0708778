#include "ratelimit/headers.hpp"

#include "http/response.hpp"

#include <fmt/format.h>

#include <string>
#include <utility>

namespace analytics::ratelimit {

void add_rate_limit_headers(http::response& r, const decision& d)
{
    if (!d.has_quota()) {
        return;
    }
    // Every admitted ingest answers these, so they are put together without a format parser.
    const std::string limit = std::to_string(d.limit);
    const std::string remaining = std::to_string(d.remaining);
    const std::string reset = std::to_string(d.reset_seconds());
    // Typically short enough for the string's inline buffer ("100;w=60"), so not reserved.
    std::string policy = limit;
    policy.append(";w=").append(std::to_string(d.window.count()));
    std::string quota;
    quota.reserve(48 + limit.size() + remaining.size() + reset.size());
    quota.append("limit=").append(limit).append(", remaining=").append(remaining);
    quota.append(", reset=").append(reset);
    r.set("X-RateLimit-Limit", limit);
    r.set("X-RateLimit-Remaining", remaining);
    r.set("X-RateLimit-Reset", reset);
    r.set("RateLimit-Policy", std::move(policy));
    r.set("RateLimit", std::move(quota));
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
