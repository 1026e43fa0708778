// The service's half of storing a batch (plan_ingest): points grouped by hash tag and type,
// blocks per minute of their timestamps holding every point in arrival order, and each rollup
// the batch touches folded exactly as storing the points one by one folds it.
#include "metrics/ingest_batch.hpp"

#include "redis/key_tags.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace analytics::metrics {
namespace {

// 2026-02-19T12:00:00Z.
constexpr std::int64_t now_ms = 1'771'502'400'000;
constexpr std::int64_t now_us = now_ms * 1000;
constexpr std::int64_t minute_us = 60'000'000;
constexpr std::int64_t hour_us = 60 * minute_us;

queued_metric point(std::string type, std::int64_t micros, double value, std::uint32_t place)
{
    queued_metric q;
    q.m.type = std::move(type);
    q.m.timestamp.micros = micros;
    q.m.value = value;
    q.added_ms = now_ms;
    q.place = place;
    return q;
}

const type_plan* find_type(const std::vector<tag_plan>& plans, std::string_view type)
{
    for (const tag_plan& t : plans) {
        for (const type_plan& p : t.types) {
            if (p.name == type) {
                EXPECT_EQ(t.tag, redis::tag_index(type));
                return &p;
            }
        }
    }
    return nullptr;
}

const rollup* find_field(const type_plan& t, std::string_view name)
{
    for (const field_plan& f : t.fields) {
        if (f.name == name) {
            return &f.share;
        }
    }
    return nullptr;
}

std::vector<block_point> points_of(const block_plan& b)
{
    const std::string member = std::string(b.prefix.data(), b.prefix.size()) +
                               std::string(16, '\0') + b.rest;
    const auto view = block_view::parse(member);
    EXPECT_TRUE(view);
    return view ? view->points() : std::vector<block_point>{};
}

TEST(plan_ingest, groups_types_by_their_tag_and_keeps_arrival_order)
{
    std::vector<queued_metric> batch;
    std::vector<std::string> types;
    for (int i = 0; i < 40; ++i) {
        types.push_back("type" + std::to_string(i % 20));
        batch.push_back(point(types.back(), now_us + i, i, static_cast<std::uint32_t>(i)));
    }
    const auto plans = plan_ingest(batch);
    std::size_t points = 0;
    for (const tag_plan& t : plans) {
        for (const type_plan& p : t.types) {
            EXPECT_EQ(redis::tag_index(p.name), t.tag);
            points += p.points;
        }
    }
    EXPECT_EQ(points, batch.size());
    for (int i = 0; i < 20; ++i) {
        const type_plan* t = find_type(plans, "type" + std::to_string(i));
        ASSERT_NE(t, nullptr);
        ASSERT_EQ(t->blocks.size(), 1U);
        const auto ps = points_of(t->blocks[0]);
        ASSERT_EQ(ps.size(), 2U);
        EXPECT_EQ(ps[0].place, static_cast<std::uint32_t>(i));
        EXPECT_EQ(ps[1].place, static_cast<std::uint32_t>(i + 20));
    }
}

TEST(plan_ingest, makes_one_block_per_minute_with_its_newest_timestamp_as_prefix)
{
    const std::vector<queued_metric> batch{
        point("t", now_us + 5, 1, 0),
        point("t", now_us - 2 * minute_us, 2, 1),  // back-dated into another minute
        point("t", now_us + 59 * 1'000'000, 3, 2),
        point("t", now_us - 2 * minute_us + 7, 4, 3),
    };
    const auto plans = plan_ingest(batch);
    const type_plan* t = find_type(plans, "t");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->points, 4U);
    ASSERT_EQ(t->blocks.size(), 2U);
    EXPECT_EQ(t->blocks[0].prefix, order_prefix(now_us + 59 * 1'000'000));
    EXPECT_EQ(t->blocks[1].prefix, order_prefix(now_us - 2 * minute_us + 7));
    const auto first = points_of(t->blocks[0]);
    ASSERT_EQ(first.size(), 2U);
    EXPECT_EQ(first[0].value, 1);
    EXPECT_EQ(first[1].value, 3);
    const auto second = points_of(t->blocks[1]);
    ASSERT_EQ(second.size(), 2U);
    EXPECT_EQ(second[0].value, 2);
    EXPECT_EQ(second[1].value, 4);
}

TEST(plan_ingest, folds_the_total_and_each_minute_and_hour_bucket)
{
    const std::int64_t a = now_us - 90 * minute_us;  // 10:30
    const std::int64_t b = a + 10'000'000;           // same minute
    const std::int64_t c = now_us - 10 * minute_us;  // 11:50
    const std::vector<queued_metric> batch{point("t", a, 4, 0), point("t", c, 1, 1),
                                           point("t", b, 10, 2)};
    const auto plans = plan_ingest(batch);
    const type_plan* t = find_type(plans, "t");
    ASSERT_NE(t, nullptr);
    ASSERT_EQ(t->fields.front().name, "t");
    const rollup& total = t->fields.front().share;
    EXPECT_EQ(total.count, 3U);
    EXPECT_EQ(total.min, 1);
    EXPECT_EQ(total.max, 10);
    EXPECT_EQ(total.latest, 1);  // c is the newest timestamp
    const rollup* minute_a = find_field(*t, "m" + std::to_string(minute_of(a)));
    ASSERT_NE(minute_a, nullptr);
    EXPECT_EQ(minute_a->count, 2U);
    EXPECT_DOUBLE_EQ(minute_a->average(), 7);
    EXPECT_EQ(minute_a->latest, 10);
    const rollup* hour_10 = find_field(*t, "h" + std::to_string(hour_of(a)));
    ASSERT_NE(hour_10, nullptr);
    EXPECT_EQ(hour_10->count, 2U);
    const rollup* hour_11 = find_field(*t, "h" + std::to_string(hour_of(c)));
    ASSERT_NE(hour_11, nullptr);
    EXPECT_EQ(hour_11->count, 1U);
    EXPECT_EQ(t->fields.size(), 1U + 2 + 2);
}

TEST(plan_ingest, buckets_only_points_whose_bucket_still_lives_and_lies_within_a_day_ahead)
{
    // Added at 12:00: yesterday's 11:59 minute bucket (1441 minutes) and 11:00 hour bucket
    // (1500 minutes) have just expired. Added at 12:30: yesterday's 12:10 is past its minute's
    // life but not its hour's. 23:59 ahead is more than a day ahead.
    const std::int64_t expired = now_us - 1441 * minute_us;
    const std::int64_t hour_only = now_us - 1430 * minute_us;
    const std::int64_t far_ahead = now_us + 1441 * minute_us;
    std::vector<queued_metric> batch{point("t", expired, 1, 0), point("t", hour_only, 2, 1),
                                     point("t", far_ahead, 3, 2)};
    batch[1].added_ms = now_ms + 30 * 60'000;
    const auto plans = plan_ingest(batch);
    const type_plan* t = find_type(plans, "t");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->fields.front().share.count, 3U) << "every point counts in the total";
    EXPECT_EQ(find_field(*t, "m" + std::to_string(minute_of(expired))), nullptr);
    EXPECT_EQ(find_field(*t, "h" + std::to_string(hour_of(expired))), nullptr);
    EXPECT_EQ(find_field(*t, "m" + std::to_string(minute_of(hour_only))), nullptr);
    const rollup* hour = find_field(*t, "h" + std::to_string(hour_of(hour_only)));
    ASSERT_NE(hour, nullptr);
    EXPECT_EQ(hour->count, 1U);
    EXPECT_EQ(find_field(*t, "m" + std::to_string(minute_of(far_ahead))), nullptr);
    EXPECT_EQ(find_field(*t, "h" + std::to_string(hour_of(far_ahead))), nullptr);
    EXPECT_EQ(t->fields.size(), 2U);  // the total and that one hour
}

TEST(plan_ingest, floors_minutes_and_hours_before_1970)
{
    EXPECT_EQ(minute_of(-1), -1);
    EXPECT_EQ(minute_of(-minute_us), -1);
    EXPECT_EQ(minute_of(-minute_us - 1), -2);
    EXPECT_EQ(hour_of(-1), -1);
    EXPECT_EQ(hour_of(0), 0);
}

}  // namespace
}  // namespace analytics::metrics
