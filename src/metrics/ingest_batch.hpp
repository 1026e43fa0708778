#pragma once
// The C++ half of batched ingest: folds the metrics that metric_store::add queued in one batch
// into what the ingest script has to write, so that Redis does per distinct key, not per point,
// what one-by-one ingest did per point.
//
// For each rollup a batch touches (a type's all-time total, minute bucket and hour bucket)
// the points that go into it are folded in arrival order exactly as the script folds them one by
// one: count, sum, min, max (the first of equal values is kept), and the value of the newest
// timestamp (on a tie, the later arrival). A point counts in a bucket only when the bucket gets
// an expiry (not yet expired, and not beyond the future horizon); a point is stored raw only
// when it is within the retention; both are decided by the time of its own add().
//
// The only difference from one-by-one ingest: a rollup's sum adds the batch's partial sum to the
// stored one, (stored + (a + b)) rather than ((stored + a) + b), which can differ in the last
// bit of a double.
//
// Thread safety: pure functions over values.

#include "config/settings.hpp"
#include "metrics/metric.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace analytics::ratelimit {
class sliding_window_limiter;
}

namespace analytics::metrics {

/// A metric as metric_store::add queues it.
struct queued_metric {
    metric m;
    std::int64_t added_ms = 0;  // Unix time of add(), in ms
    // The rate-limit check that decides whether it is stored (metric_store::admit_and_add):
    // the limiter that makes it and the client's address; none for metric_store::add.
    ratelimit::sliding_window_limiter* checked_by = nullptr;
    std::string_view client;
};

enum class rollup_kind { total, minute, hour };

/// One rollup's share of a batch: the fold of the batch's points that go into it.
struct rollup_share {
    std::size_t type = 0;  // index into ingest_plan::types
    rollup_kind kind = rollup_kind::total;
    std::int64_t bucket = 0;         // minute or hour since the epoch; 0 for the total
    std::int64_t expires_at_ms = 0;  // PXAT when the rollup is created; 0 for the total
    std::uint64_t count = 0;
    double sum = 0;
    double min = 0;
    double max = 0;
    std::int64_t latest_micros = 0;  // newest timestamp (µs since the Unix epoch)
    double latest = 0;               // its value
};

/// The points of one type that are stored raw, by position in the batch (arrival order).
struct type_share {
    std::string_view name;  // views the batch's metric
    std::vector<std::size_t> kept;
};

struct ingest_plan {
    std::vector<type_share> types;        // in order of first arrival
    std::vector<rollup_share> rollups;    // in order of first use; a type's total first
    std::int64_t trim_cutoff_micros = 0;  // points before this are past the retention
};

/// The retention's cutoff at `now_ms` (Unix ms): raw points stamped before it are past the
/// retention. The batch's trim and the list both start from it.
std::int64_t retention_cutoff_micros(std::int64_t now_ms,
                                     const config::metrics_options& options) noexcept;

/// Folds `batch` (in arrival order). The views in the plan refer to `batch`.
ingest_plan plan_ingest(std::span<const queued_metric> batch,
                        const config::metrics_options& options);

/// Where a timestamp falls: minute and hour since the Unix epoch (floored, also before 1970).
std::int64_t minute_of(std::int64_t unix_micros) noexcept;
std::int64_t hour_of(std::int64_t unix_micros) noexcept;

/// When the minute / hour bucket of a point stamped `unix_micros` and added at `added_ms`
/// expires (Unix ms), or 0 when the point does not count in it: the bucket has already expired,
/// or the point lies more than a day in the future.
std::int64_t minute_bucket_expiry(std::int64_t unix_micros, std::int64_t added_ms) noexcept;
std::int64_t hour_bucket_expiry(std::int64_t unix_micros, std::int64_t added_ms) noexcept;

}  // namespace analytics::metrics
