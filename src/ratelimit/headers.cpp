#include "ratelimit/headers.hpp"

#include "common/string_writer.hpp"
#include "http/response.hpp"

#include <fmt/format.h>

#include <string>
#include <string_view>
#include <utility>

namespace analytics::ratelimit {

void add_rate_limit_headers(http::response& r, const decision& d)
{
    if (!d.has_quota()) {
        return;
    }
    // Every admitted ingest answers these. The short values stay in their strings' inline
    // buffers; the one long value is written through a pointer into room made once.
    using common::string_writer;
    using namespace std::string_view_literals;
    std::string limit = std::to_string(d.limit);
    std::string remaining = std::to_string(d.remaining);
    std::string reset = std::to_string(d.reset_seconds());
    std::string policy = limit;
    policy.append(";w="sv).append(std::to_string(d.window.count()));
    std::string quota;
    {
        string_writer w(quota, 26 + limit.size() + remaining.size() + reset.size());
        w.put("limit="sv);
        w.put(limit);
        w.put(", remaining="sv);
        w.put(remaining);
        w.put(", reset="sv);
        w.put(reset);
    }
    r.set("X-RateLimit-Limit", std::move(limit));
    r.set("X-RateLimit-Remaining", std::move(remaining));
    r.set("X-RateLimit-Reset", std::move(reset));
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
