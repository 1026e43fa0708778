#pragma once
// A rollup: the aggregate of the metrics of one key (a type's all-time total, or one of its
// minute or hour buckets) as the ingest script keeps it in Redis.
//
// Layout, 59 bytes:
//   byte 0        1, the format
//   bytes 1-40    count, sum, min, max and the newest point's value: IEEE 754 doubles,
//                 little-endian (the count is a whole number, exact up to 2^53)
//   bytes 41-58   the newest point's timestamp as its 18-digit order key (metric_store)
// The script merges two of these with Lua's `struct` library: numbers stay binary, where a
// text form cost the script a strtod or a printf per field (about 5 µs per rollup).
//
// Thread safety: pure functions over values.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace analytics::metrics {

struct rollup {
    std::uint64_t count = 0;
    double sum = 0;
    double min = 0;
    double max = 0;
    double latest = 0;        // the value of the newest point
    std::string_view newest;  // its timestamp's order key (18 digits)
};

inline constexpr std::size_t rollup_size = 59;
inline constexpr std::size_t order_key_size = 18;

/// Appends `r` in the layout above. `r.newest` must be an order key (18 digits).
void append_rollup(std::string& out, const rollup& r);

/// Reads a rollup; its `newest` views `bytes`. Also reads the text form that earlier builds
/// wrote ("<count> <sum> <min> <max> <order key> <value>"). Anything else: nullopt.
std::optional<rollup> parse_rollup(std::string_view bytes);

}  // namespace analytics::metrics
