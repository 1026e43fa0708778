#include "metrics/summary.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

namespace analytics::metrics {
namespace {

constexpr std::int64_t minute = 60'000;

// Every minute a set of bucket ranges covers, in order, with hours expanded to minutes.
std::vector<std::int64_t> covered_minutes(const std::vector<bucket_range>& ranges)
{
    std::vector<std::int64_t> out;
    for (const auto& r : ranges) {
        for (std::int64_t i = r.first; i <= r.last; ++i) {
            if (r.hours) {
                for (std::int64_t m = i * 60; m < i * 60 + 60; ++m) {
                    out.push_back(m);
                }
            } else {
                out.push_back(i);
            }
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

TEST(window_buckets, hourly_is_the_current_minute_and_the_59_before)
{
    const std::int64_t now = 29'524'000 * minute + 30'000;  // mid-minute
    auto ranges = window_buckets(period::hourly, now);
    ASSERT_EQ(ranges.size(), 1U);
    EXPECT_FALSE(ranges[0].hours);
    EXPECT_EQ(ranges[0].first, 29'524'000 - 59);
    EXPECT_EQ(ranges[0].last, 29'524'000);
}

TEST(window_buckets, daily_covers_exactly_1440_minutes_with_few_buckets_at_any_time)
{
    // Walk across a few hours minute by minute, including exact hour boundaries.
    const std::int64_t base = 29'524'000LL * minute;
    for (std::int64_t m = 0; m < 180; ++m) {
        const std::int64_t now = base + m * minute + 1;
        auto ranges = window_buckets(period::daily, now);
        auto minutes = covered_minutes(ranges);
        ASSERT_EQ(minutes.size(), 1440U) << m;
        const std::int64_t current = now / minute;
        EXPECT_EQ(minutes.front(), current - 1439);
        EXPECT_EQ(minutes.back(), current);
        for (std::size_t i = 1; i < minutes.size(); ++i) {
            ASSERT_EQ(minutes[i], minutes[i - 1] + 1) << "gap or overlap at " << m;
        }
        std::size_t buckets = 0;
        for (const auto& r : ranges) {
            buckets += static_cast<std::size_t>(r.last - r.first + 1);
        }
        EXPECT_LE(buckets, 142U);
    }
}

TEST(window_buckets, matches_the_window_bounds)
{
    const std::int64_t now = 29'524'017LL * minute + 59'999;
    for (auto p : {period::hourly, period::daily}) {
        auto minutes = covered_minutes(window_buckets(p, now));
        auto bounds = window(p, now);
        EXPECT_EQ(minutes.front() * minute, bounds.from_ms);
        EXPECT_EQ((minutes.back() + 1) * minute, bounds.until_ms);
    }
    EXPECT_TRUE(window_buckets(period::all, now).empty());
}

TEST(window_buckets, handles_times_before_the_epoch)
{
    auto minutes = covered_minutes(window_buckets(period::daily, -90 * minute - 1));
    EXPECT_EQ(minutes.size(), 1440U);
    EXPECT_EQ(minutes.back(), -91);
}

TEST(parse_period, accepts_the_three_names_only)
{
    EXPECT_EQ(parse_period("all"), period::all);
    EXPECT_EQ(parse_period("daily"), period::daily);
    EXPECT_EQ(parse_period("hourly"), period::hourly);
    EXPECT_FALSE(parse_period("Daily").has_value());
    EXPECT_FALSE(parse_period("").has_value());
    EXPECT_FALSE(parse_period("weekly").has_value());
}

TEST(summary_json, has_the_seed_fields)
{
    summary s;
    s.count = 4;
    s.high = 10.0;
    s.min = 1.0;
    s.max = 4.0;
    s.latest = 2.0;
    auto v = boost::json::parse(to_json("cpu_usage", period::daily, s)).as_object();
    EXPECT_EQ(v.at("type").as_string(), "cpu_usage");
    EXPECT_EQ(v.at("period").as_string(), "daily");
    EXPECT_EQ(v.at("count").to_number<int>(), 4);
    EXPECT_EQ(v.at("average_value").as_double(), 2.5);
    EXPECT_EQ(v.at("min_value").to_number<double>(), 1.0);
    EXPECT_EQ(v.at("max_value").to_number<double>(), 4.0);
    EXPECT_EQ(v.at("latest_value").to_number<double>(), 2.0);
}

TEST(summary_json, averages_huge_values_without_overflowing)
{
    summary s;
    fold(s, 1e308, 1);
    fold(s, 1e308, 2);
    auto v = boost::json::parse(to_json("x", period::all, s)).as_object();
    EXPECT_EQ(v.at("count").to_number<int>(), 2);
    EXPECT_EQ(v.at("average_value").as_double(), 1e308);
}

TEST(summary_json, is_count_zero_with_nulls_when_empty)
{
    auto v = boost::json::parse(to_json("x", period::hourly, summary{})).as_object();
    EXPECT_EQ(v.at("count").to_number<int>(), 0);
    for (const char* f : {"average_value", "min_value", "max_value", "latest_value"}) {
        EXPECT_TRUE(v.at(f).is_null()) << f;
    }
}

}  // namespace
}  // namespace analytics::metrics
