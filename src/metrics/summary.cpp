#include "metrics/summary.hpp"

#include "metrics/metric.hpp"

#include <limits>

namespace analytics::metrics {

namespace {

constexpr std::int64_t minute_ms = 60'000;

std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept
{
    const std::int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

std::int64_t window_minutes(period p) noexcept
{
    return p == period::hourly ? 60 : 1440;
}

}  // namespace

std::string_view to_string(period p) noexcept
{
    switch (p) {
    case period::all:
        return "all";
    case period::daily:
        return "daily";
    case period::hourly:
        return "hourly";
    }
    return "all";
}

std::optional<period> parse_period(std::string_view text) noexcept
{
    if (text == "all") {
        return period::all;
    }
    if (text == "daily") {
        return period::daily;
    }
    if (text == "hourly") {
        return period::hourly;
    }
    return std::nullopt;
}

window_bounds window(period p, std::int64_t now_ms)
{
    if (p == period::all) {
        return {std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()};
    }
    const std::int64_t m = floor_div(now_ms, minute_ms);
    return {(m - window_minutes(p) + 1) * minute_ms, (m + 1) * minute_ms};
}

std::vector<bucket_range> window_buckets(period p, std::int64_t now_ms)
{
    std::vector<bucket_range> out;
    if (p == period::all) {
        return out;
    }
    const std::int64_t m = floor_div(now_ms, minute_ms);
    const std::int64_t start = m - window_minutes(p) + 1;  // first minute
    const std::int64_t end = m + 1;                        // one past the last minute
    if (p == period::hourly) {
        out.push_back({false, start, m});
        return out;
    }
    // Whole hours inside the window come from hour buckets; the partial hours at both edges
    // from minute buckets.
    const std::int64_t first_hour = floor_div(start + 59, 60);
    const std::int64_t end_hour = floor_div(end, 60);
    if (first_hour >= end_hour) {
        out.push_back({false, start, m});
        return out;
    }
    if (start < first_hour * 60) {
        out.push_back({false, start, first_hour * 60 - 1});
    }
    out.push_back({true, first_hour, end_hour - 1});
    if (end_hour * 60 < end) {
        out.push_back({false, end_hour * 60, m});
    }
    return out;
}

std::string to_json(std::string_view type, period p, const summary& s)
{
    std::string out;
    out.reserve(160);
    out.append(R"({"type":")");
    out.append(type);  // validated: [A-Za-z0-9_.:-] needs no escaping
    out.append(R"(","period":")");
    out.append(to_string(p));
    out.append(R"(","count":)");
    out.append(std::to_string(s.count));
    if (s.count == 0) {
        out.append(
            R"(,"average_value":null,"min_value":null,"max_value":null,"latest_value":null})");
        return out;
    }
    out.append(R"(,"average_value":)");
    append_value(out, s.average());
    out.append(R"(,"min_value":)");
    append_value(out, s.min);
    out.append(R"(,"max_value":)");
    append_value(out, s.max);
    out.append(R"(,"latest_value":)");
    append_value(out, s.latest);
    out.push_back('}');
    return out;
}

}  // namespace analytics::metrics
