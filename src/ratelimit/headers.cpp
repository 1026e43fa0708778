#include "ratelimit/headers.hpp"

#include "http/response.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace analytics::ratelimit {

namespace {

// Writes header values side by side into one inline buffer, each taken as a view.
class value_writer {
public:
    std::string_view integer(std::int64_t n) noexcept
    {
        char* const begin = end_;
        end_ = std::to_chars(end_, buf_.data() + buf_.size(), n).ptr;
        return {begin, static_cast<std::size_t>(end_ - begin)};
    }
    template <class... Parts>
    std::string_view join(const Parts&... parts) noexcept
    {
        char* const begin = end_;
        ((end_ = std::copy(parts.begin(), parts.end(), end_)), ...);
        return {begin, static_cast<std::size_t>(end_ - begin)};
    }

private:
    // Room for what add_rate_limit_headers writes: four integers of at most 20 characters, then
    // "<limit>;w=<window>" and "limit=<limit>, remaining=<remaining>, reset=<reset>".
    std::array<char, 4 * 20 + (2 * 20 + 3) + (3 * 20 + 26)> buf_;
    char* end_ = buf_.data();
};

}  // namespace

void add_rate_limit_headers(http::response& r, const decision& d)
{
    if (!d.has_quota()) {
        return;
    }
    // Every admitted ingest answers these: each value is written once into an inline buffer and
    // copied once into the string its header keeps.
    using namespace std::string_view_literals;
    value_writer w;
    const auto limit = w.integer(d.limit);
    const auto remaining = w.integer(d.remaining);
    const auto reset = w.integer(d.reset_seconds());
    const auto window = w.integer(d.window.count());
    r.set("X-RateLimit-Limit", std::string(limit));
    r.set("X-RateLimit-Remaining", std::string(remaining));
    r.set("X-RateLimit-Reset", std::string(reset));
    r.set("RateLimit-Policy", std::string(w.join(limit, ";w="sv, window)));
    r.set("RateLimit",
          std::string(w.join("limit="sv, limit, ", remaining="sv, remaining, ", reset="sv, reset)));
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
