// The fold of a batch of metrics into per-key shares (plan_ingest), against what storing the
// points one by one would write: the arithmetic the ingest script then applies once per key.

#include "metrics/ingest_batch.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace analytics::metrics {
namespace {

using namespace std::chrono_literals;

// 2026-02-19T12:00:00Z, the fake clock's start.
constexpr std::int64_t now_ms = 1'771'502'400'000;
constexpr std::int64_t now_us = now_ms * 1000;
constexpr std::int64_t minute_us = 60'000'000;
constexpr std::int64_t hour_us = 60 * minute_us;

queued_metric point(std::string type, std::int64_t micros, double value,
                    std::int64_t added_ms = now_ms)
{
    queued_metric q;
    q.m.type = std::move(type);
    q.m.timestamp.micros = micros;
    q.m.value = value;
    q.added_ms = added_ms;
    return q;
}

config::metrics_options options(std::chrono::seconds retention = 7 * 24h)
{
    config::metrics_options o;
    o.retention = retention;
    return o;
}

const rollup_share* find(const ingest_plan& plan, std::string_view type, rollup_kind kind,
                         std::int64_t bucket = 0)
{
    for (const rollup_share& r : plan.rollups) {
        if (plan.types[r.type].name == type && r.kind == kind && r.bucket == bucket) {
            return &r;
        }
    }
    return nullptr;
}

TEST(ingest_batch, folds_each_rollup_key_once_with_count_sum_min_max_and_latest)
{
    const std::int64_t t0 = now_us - 10 * minute_us;  // 11:50, a minute and hour of its own
    const std::vector<queued_metric> batch{
        point("cpu", t0, 10.5),
        point("mem", t0, 1),
        point("cpu", t0 + 1'000'000, 2.25),
        point("cpu", t0 + 2'000'000, 30),
    };
    const ingest_plan plan = plan_ingest(batch, options());

    ASSERT_EQ(plan.types.size(), 2U);
    EXPECT_EQ(plan.types[0].name, "cpu");
    EXPECT_EQ(plan.types[1].name, "mem");
    EXPECT_EQ(plan.types[0].kept, (std::vector<std::size_t>{0, 2, 3}));
    EXPECT_EQ(plan.types[1].kept, (std::vector<std::size_t>{1}));
    // Per type: the total, one minute bucket and one hour bucket.
    EXPECT_EQ(plan.rollups.size(), 6U);

    const std::int64_t minute = minute_of(t0);
    for (const rollup_share* r :
         {find(plan, "cpu", rollup_kind::total), find(plan, "cpu", rollup_kind::minute, minute),
          find(plan, "cpu", rollup_kind::hour, minute / 60)}) {
        ASSERT_NE(r, nullptr);
        EXPECT_EQ(r->count, 3U);
        EXPECT_EQ(r->sum, 42.75);
        EXPECT_EQ(r->min, 2.25);
        EXPECT_EQ(r->max, 30);
        EXPECT_EQ(r->latest_micros, t0 + 2'000'000);
        EXPECT_EQ(r->latest, 30);
    }
    const rollup_share* mem = find(plan, "mem", rollup_kind::total);
    ASSERT_NE(mem, nullptr);
    EXPECT_EQ(mem->count, 1U);
    EXPECT_EQ(mem->sum, 1);
    EXPECT_EQ(mem->expires_at_ms, 0);
}

TEST(ingest_batch, takes_the_newest_timestamp_as_latest_whatever_the_arrival_order)
{
    const std::int64_t t = now_us - 5 * minute_us;
    const std::vector<queued_metric> batch{
        point("cpu", t, 1),
        point("cpu", t - 1'000'000, 2),  // older, arrives later: not the latest
        point("cpu", t, 3),              // same timestamp as the first, later arrival: latest
        point("cpu", t - 2'000'000, 4),
    };
    const ingest_plan plan = plan_ingest(batch, options());
    const rollup_share* total = find(plan, "cpu", rollup_kind::total);
    ASSERT_NE(total, nullptr);
    EXPECT_EQ(total->latest_micros, t);
    EXPECT_EQ(total->latest, 3);
    EXPECT_EQ(total->count, 4U);
}

TEST(ingest_batch, keeps_the_first_of_equal_extremes_as_the_script_does)
{
    // 0 and -0 compare equal: one by one, the script keeps whichever came first.
    const std::int64_t t = now_us - minute_us;
    const std::vector<queued_metric> batch{point("z", t, -0.0), point("z", t + 1, 0.0)};
    const ingest_plan plan = plan_ingest(batch, options());
    const rollup_share* total = find(plan, "z", rollup_kind::total);
    ASSERT_NE(total, nullptr);
    EXPECT_TRUE(std::signbit(total->min));
    EXPECT_TRUE(std::signbit(total->max));
}

TEST(ingest_batch, sums_in_arrival_order_like_the_script_one_point_at_a_time)
{
    const std::int64_t t = now_us - minute_us;
    const std::vector<queued_metric> batch{point("s", t, 0.1), point("s", t, 0.2),
                                           point("s", t, 0.3)};
    const ingest_plan plan = plan_ingest(batch, options());
    const rollup_share* total = find(plan, "s", rollup_kind::total);
    ASSERT_NE(total, nullptr);
    EXPECT_EQ(total->sum, (0.1 + 0.2) + 0.3);
}

TEST(ingest_batch, gives_each_bucket_of_a_type_its_own_share_with_its_expiry)
{
    const std::int64_t a = now_us - 2 * hour_us;  // 10:00
    const std::int64_t b = a + minute_us;         // 10:01, same hour
    const std::int64_t c = now_us - minute_us;    // 11:59, another hour
    const std::vector<queued_metric> batch{point("t", a, 1), point("t", b, 2), point("t", c, 4),
                                           point("t", a + 1, 8)};
    const ingest_plan plan = plan_ingest(batch, options());
    // The total, minutes a, b and c, hours 10 and 11.
    EXPECT_EQ(plan.rollups.size(), 6U);
    const rollup_share* minute_a = find(plan, "t", rollup_kind::minute, minute_of(a));
    ASSERT_NE(minute_a, nullptr);
    EXPECT_EQ(minute_a->count, 2U);
    EXPECT_EQ(minute_a->sum, 9);
    EXPECT_EQ(minute_a->expires_at_ms, (minute_of(a) + 1441) * 60'000);
    const rollup_share* hour_10 = find(plan, "t", rollup_kind::hour, hour_of(a));
    ASSERT_NE(hour_10, nullptr);
    EXPECT_EQ(hour_10->count, 3U);
    EXPECT_EQ(hour_10->sum, 11);
    EXPECT_EQ(hour_10->expires_at_ms, (hour_of(a) * 60 + 1500) * 60'000);
    const rollup_share* hour_11 = find(plan, "t", rollup_kind::hour, hour_of(c));
    ASSERT_NE(hour_11, nullptr);
    EXPECT_EQ(hour_11->count, 1U);
}

TEST(ingest_batch, counts_points_past_the_retention_only_in_the_rollups)
{
    const std::int64_t old = now_us - 2 * hour_us;
    const std::int64_t fresh = now_us - 10 * minute_us;
    const std::vector<queued_metric> batch{point("r", old, 1), point("r", fresh, 2)};
    const ingest_plan plan = plan_ingest(batch, options(1h));
    ASSERT_EQ(plan.types.size(), 1U);
    EXPECT_EQ(plan.types[0].kept, (std::vector<std::size_t>{1}));
    const rollup_share* total = find(plan, "r", rollup_kind::total);
    ASSERT_NE(total, nullptr);
    EXPECT_EQ(total->count, 2U);
    EXPECT_EQ(plan.trim_cutoff_micros, now_us - 3'600'000'000);
}

TEST(ingest_batch, trims_by_the_newest_add_of_the_batch)
{
    const std::vector<queued_metric> batch{point("r", now_us, 1, now_ms + 5),
                                           point("r", now_us, 1, now_ms)};
    const ingest_plan plan = plan_ingest(batch, options(1h));
    EXPECT_EQ(plan.trim_cutoff_micros, (now_ms + 5) * 1000 - 3'600'000'000);
}

TEST(ingest_batch, leaves_buckets_out_beyond_the_future_horizon_and_once_expired)
{
    // Added at 12:30: a point of 12:29 the day before is just past its minute bucket's life,
    // while its hour bucket (12:00 + 25 h) lives on.
    const std::int64_t added_ms = now_ms + 30 * 60'000;
    const std::int64_t far_future = added_ms * 1000 + 1441 * minute_us;
    const std::int64_t day_old = added_ms * 1000 - 1441 * minute_us;
    const std::vector<queued_metric> batch{point("f", far_future, 1, added_ms),
                                           point("f", day_old, 2, added_ms)};
    const ingest_plan plan = plan_ingest(batch, options());
    EXPECT_EQ(find(plan, "f", rollup_kind::minute, minute_of(far_future)), nullptr);
    EXPECT_EQ(find(plan, "f", rollup_kind::hour, hour_of(far_future)), nullptr);
    EXPECT_EQ(find(plan, "f", rollup_kind::minute, minute_of(day_old)), nullptr);
    EXPECT_NE(find(plan, "f", rollup_kind::hour, hour_of(day_old)), nullptr);
    const rollup_share* total = find(plan, "f", rollup_kind::total);
    ASSERT_NE(total, nullptr);
    EXPECT_EQ(total->count, 2U);
}

TEST(ingest_batch, places_times_before_1970_in_floored_buckets)
{
    EXPECT_EQ(minute_of(-1), -1);
    EXPECT_EQ(hour_of(-1), -1);
    EXPECT_EQ(minute_of(minute_us), 1);
    EXPECT_EQ(minute_bucket_expiry(now_us + 1440 * minute_us, now_ms),
              (minute_of(now_us) + 1440 + 1441) * 60'000);
    EXPECT_EQ(minute_bucket_expiry(now_us + 1441 * minute_us, now_ms), 0);
}

}  // namespace
}  // namespace analytics::metrics
