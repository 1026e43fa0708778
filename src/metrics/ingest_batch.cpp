#include "metrics/ingest_batch.hpp"

#include <algorithm>
#include <chrono>

namespace analytics::metrics {

namespace {

constexpr std::int64_t minute_ms = 60'000;
constexpr std::int64_t micros_per_minute = 60'000'000;
// A minute bucket is read by daily windows for 1440 minutes; one more minute of slack.
constexpr std::int64_t minute_bucket_life = 1441;
constexpr std::int64_t hour_bucket_life_minutes = 1500;
// Buckets are only kept for metrics up to a day ahead, so future timestamps cannot make an
// unbounded number of them.
constexpr std::int64_t future_horizon_minutes = 1440;

std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept
{
    const std::int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

bool within_horizon(std::int64_t minute, std::int64_t added_ms) noexcept
{
    return minute <= floor_div(added_ms, minute_ms) + future_horizon_minutes;
}

// The script's fold, one point at a time.
void fold(rollup_share& r, const queued_metric& q) noexcept
{
    const double v = q.m.value;
    const std::int64_t t = q.m.timestamp.micros;
    if (r.count == 0) {
        r.sum = v;
        r.min = v;
        r.max = v;
        r.latest_micros = t;
        r.latest = v;
    } else {
        r.sum += v;
        if (v < r.min) {
            r.min = v;
        }
        if (v > r.max) {
            r.max = v;
        }
        // Newest timestamp wins; on a tie the later arrival (this one) does.
        if (t >= r.latest_micros) {
            r.latest_micros = t;
            r.latest = v;
        }
    }
    ++r.count;
}

// The rollup of `type` of this kind and bucket, created on first use. A type's rollups are few
// (its total and a bucket or two per batch), so a linear search over them is the fast one.
rollup_share& rollup_for(ingest_plan& plan, std::vector<std::size_t>& of_type, std::size_t type,
                         rollup_kind kind, std::int64_t bucket, std::int64_t expires_at_ms)
{
    for (std::size_t i : of_type) {
        rollup_share& r = plan.rollups[i];
        if (r.kind == kind && r.bucket == bucket) {
            return r;
        }
    }
    of_type.push_back(plan.rollups.size());
    rollup_share& r = plan.rollups.emplace_back();
    r.type = type;
    r.kind = kind;
    r.bucket = bucket;
    r.expires_at_ms = expires_at_ms;
    return r;
}

}  // namespace

std::int64_t minute_of(std::int64_t unix_micros) noexcept
{
    return floor_div(unix_micros, micros_per_minute);
}

std::int64_t hour_of(std::int64_t unix_micros) noexcept
{
    return floor_div(minute_of(unix_micros), 60);
}

std::int64_t minute_bucket_expiry(std::int64_t unix_micros, std::int64_t added_ms) noexcept
{
    const std::int64_t minute = minute_of(unix_micros);
    if (!within_horizon(minute, added_ms)) {
        return 0;
    }
    const std::int64_t until = (minute + minute_bucket_life) * minute_ms;
    return until > added_ms ? until : 0;
}

std::int64_t hour_bucket_expiry(std::int64_t unix_micros, std::int64_t added_ms) noexcept
{
    if (!within_horizon(minute_of(unix_micros), added_ms)) {
        return 0;
    }
    const std::int64_t until = (hour_of(unix_micros) * 60 + hour_bucket_life_minutes) * minute_ms;
    return until > added_ms ? until : 0;
}

std::int64_t retention_cutoff_micros(std::int64_t now_ms,
                                     const config::metrics_options& options) noexcept
{
    return now_ms * 1000 -
           std::chrono::duration_cast<std::chrono::microseconds>(options.retention).count();
}

ingest_plan plan_ingest(std::span<const queued_metric> batch,
                        const config::metrics_options& options)
{
    ingest_plan plan;
    // rollups_of[t]: positions in plan.rollups of type t's rollups.
    std::vector<std::vector<std::size_t>> rollups_of;
    std::int64_t newest_added_ms = 0;
    for (std::size_t i = 0; i < batch.size(); ++i) {
        const queued_metric& q = batch[i];
        const std::int64_t t = q.m.timestamp.micros;

        // A batch holds a handful of types; a linear search beats hashing them.
        std::size_t type = 0;
        while (type < plan.types.size() && plan.types[type].name != q.m.type) {
            ++type;
        }
        if (type == plan.types.size()) {
            plan.types.push_back({q.m.type, {}});
            rollups_of.emplace_back();
            rollup_for(plan, rollups_of[type], type, rollup_kind::total, 0, 0);
        }

        // A point already older than the retention only counts in the rollups.
        if (t >= retention_cutoff_micros(q.added_ms, options)) {
            plan.types[type].kept.push_back(i);
        }
        fold(rollup_for(plan, rollups_of[type], type, rollup_kind::total, 0, 0), q);
        if (const std::int64_t expiry = minute_bucket_expiry(t, q.added_ms); expiry != 0) {
            fold(
                rollup_for(plan, rollups_of[type], type, rollup_kind::minute, minute_of(t), expiry),
                q);
        }
        if (const std::int64_t expiry = hour_bucket_expiry(t, q.added_ms); expiry != 0) {
            fold(rollup_for(plan, rollups_of[type], type, rollup_kind::hour, hour_of(t), expiry),
                 q);
        }
        newest_added_ms = i == 0 ? q.added_ms : std::max(newest_added_ms, q.added_ms);
    }
    plan.trim_cutoff_micros = retention_cutoff_micros(newest_added_ms, options);
    return plan;
}

}  // namespace analytics::metrics
