#pragma once
// Reading a rollup back from Redis in tests: the ingest script stores it binary
// (metrics/rollup.hpp), and tests compare its fields as text.

#include "metrics/metric.hpp"
#include "metrics/rollup.hpp"
#include "support/redis_admin.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace analytics::test {

/// Field `i` of the rollup at `key` as text (0 count, 1 sum, 2 min, 3 max, 4 the newest
/// point's order key, 5 its value), or what GET answered when it is not a rollup.
inline std::string rollup_field(admin_connection& admin, const std::string& key, std::size_t i)
{
    const std::string reply = admin.command({"GET", key});
    const auto r = reply.starts_with('$') ? metrics::parse_rollup(std::string_view(reply).substr(1))
                                          : std::nullopt;
    if (!r) {
        return reply;
    }
    switch (i) {
    case 0:
        return std::to_string(r->count);
    case 1:
        return metrics::format_value(r->sum);
    case 2:
        return metrics::format_value(r->min);
    case 3:
        return metrics::format_value(r->max);
    case 4:
        return std::string(r->newest);
    default:
        return metrics::format_value(r->latest);
    }
}

}  // namespace analytics::test
