#pragma once
// A rollup: the aggregate of a set of metric points (a type's all-time total, or one of its
// minute or hour buckets) as it is kept in Redis, folded by the service and merged by the store
// script (scripts/store.lua, which must do exactly what merge() does).
//
// The sum stays finite and accurate for any finite values: it is kept as (high + low) * 2^scale,
// where high and low are Neumaier's compensated sum (low carries what rounding dropped from
// high, so the error does not grow with the number of points) and scale turns from 0 to 64 the
// first time the sum of finite values would overflow a double (two points of 1e308). A sum at
// scale 64 holds its points' values divided by 2^64, exactly unless they are below 2^-958; the
// average is computed from it without overflow.
//
// Layout in Redis, 73 bytes: byte 0 the format (2), then nine IEEE 754 doubles, little-endian:
// count, high, low, scale, min, max, the newest point's value, its timestamp's whole
// milliseconds since the Unix epoch and the microseconds within that millisecond (two doubles,
// so that both are exact for every year).
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
    double high = 0;
    double low = 0;
    int scale = 0;  // 0 or 64
    double min = 0;
    double max = 0;
    double latest = 0;               // the value of the newest point
    std::int64_t latest_micros = 0;  // its timestamp, µs since the Unix epoch

    bool operator==(const rollup&) const = default;

    /// The sum of the points' values as a long double (finite for every finite sum).
    long double sum() const noexcept;
    /// sum() / count, as a double; 0 when count is 0.
    double average() const noexcept;
};

inline constexpr std::size_t rollup_size = 73;

/// Adds one point, `value` stamped `micros`, arriving after every point already in `r`.
void fold(rollup& r, double value, std::int64_t micros) noexcept;

/// Adds `later`'s points to `into`, as if each had been folded in after `into`'s: of equal
/// minimums and maximums the first is kept, of equal newest timestamps the later one wins.
void merge(rollup& into, const rollup& later) noexcept;

/// Appends `r` in the layout above.
void append_rollup(std::string& out, const rollup& r);

/// Reads the layout above; nullopt for anything else (another length or format, a count that
/// is not a whole number >= 1, a scale other than 0 or 64).
std::optional<rollup> parse_rollup(std::string_view bytes) noexcept;

}  // namespace analytics::metrics
