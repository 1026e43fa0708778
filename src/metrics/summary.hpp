#pragma once
// Summary periods, the time buckets that answer them, and the summary's JSON shape.
//
// docs/contract.md, Summary: `hourly` is the last hour before now, `daily` the last 24 hours, `all`
// every stored metric; minute granularity at the window's edge is acceptable. Precisely: with m =
// the current minute (floor(now / 60 s)), `hourly` covers minutes m-59 .. m and `daily` minutes
// m-1439 .. m, i.e. metrics whose timestamp lies in [(m-59)*60 s, (m+1)*60 s) and [(m-1439)*60 s,
// (m+1)*60 s). A window is read from at most 60 minute buckets (hourly) or 59 + 24 + 59 minute and
// hour buckets (daily), whatever the number of stored metrics.
//
// Thread safety: pure functions and value types.

#include "metrics/rollup.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace analytics::metrics {

enum class period { all, daily, hourly };

/// "all", "daily", "hourly".
std::string_view to_string(period p) noexcept;

/// Parses the `period` query value (exact, lower case); nullopt for anything else.
std::optional<period> parse_period(std::string_view text) noexcept;

/// A range of buckets of one granularity: minutes or hours since the Unix epoch, [first, last].
struct bucket_range {
    bool hours = false;
    std::int64_t first = 0;
    std::int64_t last = 0;
};

/// The bucket ranges that together cover `p`'s window at `now_ms` (empty for period::all).
std::vector<bucket_range> window_buckets(period p, std::int64_t now_ms);

/// The first and one-past-last millisecond of `p`'s window at `now_ms` (for period::all the
/// whole time line), matching window_buckets exactly.
struct window_bounds {
    std::int64_t from_ms;
    std::int64_t until_ms;
};
window_bounds window(period p, std::int64_t now_ms);

/// The aggregate of a window's metrics: the merge of its buckets' rollups.
using summary = rollup;

/// {"type","period","count","average_value","min_value","max_value","latest_value"}; the four
/// values are null when count is 0.
std::string to_json(std::string_view type, period p, const summary& s);

}  // namespace analytics::metrics
