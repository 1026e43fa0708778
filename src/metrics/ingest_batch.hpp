#pragma once
// The service's half of storing a batch of points: it groups them by hash tag (one store call
// each, scripts/store.lua) and within a tag by type, builds each type's blocks (block.hpp: one
// per minute of the points' timestamps) and folds each rollup the batch touches (a type's
// all-time total, minute bucket and hour bucket) in arrival order, so that the script does per
// block and per rollup, not per point, what storing them one by one would do.
//
// A point counts in a minute or hour bucket only while the bucket lives: it expires 1441
// minutes (minute buckets) or 1500 minutes (hour buckets) after it starts, which is when the
// store deletes it, and buckets are only made for points up to a day ahead.
//
// Thread safety: pure functions over values.

#include "metrics/block.hpp"
#include "metrics/metric.hpp"
#include "metrics/rollup.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace analytics::metrics {

/// A point to store: the metric, when it was added (service clock, Unix ms) and its place
/// among the points of the request or batch of requests that store it (block.hpp).
struct queued_metric {
    metric m;
    std::int64_t added_ms = 0;
    std::uint32_t place = 0;
};

struct block_plan {
    std::array<char, block_order_prefix_size> prefix{};
    std::string rest;  // minute, count, type, points (block.hpp)
    // The block's own arrival (µs), for points that arrived apart although stored by one call
    // (moved from an earlier layout); nullopt: the call's.
    std::optional<std::int64_t> arrival_us;
};

/// One rollup field of a type's rollups hash: "t" (all time), "m<minute>", "h<hour>".
struct field_plan {
    std::string name;
    rollup share;
};

struct type_plan {
    std::string_view name;  // views the batch's metric
    std::size_t points = 0;
    std::vector<block_plan> blocks;  // by minute, in order of first arrival
    std::vector<field_plan> fields;  // "t" first, then in order of first use
};

/// The points of one hash tag: one store call.
struct tag_plan {
    std::size_t tag = 0;          // index into redis::key_tags()
    std::vector<type_plan> types;  // in order of first arrival
};

/// Groups and folds `batch` (in arrival order). The views in the plans refer to `batch`.
std::vector<tag_plan> plan_ingest(std::span<const queued_metric> batch);

/// Where a timestamp falls: minute and hour since the Unix epoch (floored, also before 1970).
std::int64_t minute_of(std::int64_t unix_micros) noexcept;
std::int64_t hour_of(std::int64_t unix_micros) noexcept;

/// Whether a point stamped `unix_micros` and added at `added_ms` counts in its minute / hour
/// bucket: the bucket has not expired yet and lies at most a day ahead.
bool counts_in_minute(std::int64_t unix_micros, std::int64_t added_ms) noexcept;
bool counts_in_hour(std::int64_t unix_micros, std::int64_t added_ms) noexcept;

/// The first minute whose bucket is still alive at `now_ms` (older ones have expired).
std::int64_t oldest_live_minute(std::int64_t now_ms) noexcept;

}  // namespace analytics::metrics
