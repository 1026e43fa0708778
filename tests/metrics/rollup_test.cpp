// Rollups: the fold the service does per batch, the merge the store script repeats in Lua
// (store_script_redistest holds the two to the same results), the byte layout both read, and
// sums that stay finite and accurate.
#include "metrics/rollup.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace analytics::metrics {
namespace {

std::string encoded(const rollup& r)
{
    std::string out;
    append_rollup(out, r);
    return out;
}

rollup of(std::initializer_list<std::pair<double, std::int64_t>> points)
{
    rollup r;
    for (const auto& [value, micros] : points) {
        fold(r, value, micros);
    }
    return r;
}

TEST(rollup, is_a_format_byte_and_nine_little_endian_doubles)
{
    const rollup r = of({{2.5, 1'771'502'400'123'456}});
    const std::string bytes = encoded(r);
    ASSERT_EQ(bytes.size(), rollup_size);
    EXPECT_EQ(bytes[0], '\x02');
    // The count 1.0 is 0x3ff0000000000000: its low bytes first.
    EXPECT_EQ(bytes.substr(1, 8), std::string("\0\0\0\0\0\0\xf0\x3f", 8));
    // The sum 2.5 is 0x4004000000000000.
    EXPECT_EQ(bytes.substr(9, 8), std::string("\0\0\0\0\0\0\x04\x40", 8));
}

TEST(rollup, reads_back_exactly_also_for_timestamps_far_from_1970)
{
    for (const std::int64_t micros :
         {std::int64_t{1'771'502'400'123'456}, std::int64_t{-62'135'596'799'999'999},
          std::int64_t{253'402'300'799'999'999}, std::int64_t{-1}, std::int64_t{0}}) {
        rollup in = of({{0.1, micros - 5}, {-1e-300, micros}});
        in.max = std::numeric_limits<double>::max();
        const auto out = parse_rollup(encoded(in));
        ASSERT_TRUE(out) << micros;
        EXPECT_EQ(*out, in) << micros;
    }
}

TEST(rollup, refuses_what_is_not_one)
{
    const std::string good = encoded(of({{1, 1}}));
    EXPECT_FALSE(parse_rollup(""));
    EXPECT_FALSE(parse_rollup(good.substr(1)));
    std::string wrong_format = good;
    wrong_format[0] = '\x01';
    EXPECT_FALSE(parse_rollup(wrong_format));
    rollup zero;
    EXPECT_FALSE(parse_rollup(encoded(zero))) << "a count of 0";
    rollup odd_scale = of({{1, 1}});
    odd_scale.scale = 3;
    EXPECT_FALSE(parse_rollup(encoded(odd_scale)));
}

TEST(rollup, keeps_count_min_max_and_the_value_of_the_newest_timestamp)
{
    const rollup r = of({{5, 300}, {1, 100}, {9, 200}, {4, 300}});
    EXPECT_EQ(r.count, 4U);
    EXPECT_EQ(r.min, 1);
    EXPECT_EQ(r.max, 9);
    EXPECT_DOUBLE_EQ(r.average(), 19.0 / 4);
    // Two points share the newest timestamp: the later arrival wins.
    EXPECT_EQ(r.latest_micros, 300);
    EXPECT_EQ(r.latest, 4);
}

TEST(rollup, a_back_dated_point_never_becomes_the_latest)
{
    const rollup r = of({{7, 1'000'000}, {3, 10}});
    EXPECT_EQ(r.latest, 7);
}

TEST(rollup, merging_equals_folding_one_by_one)
{
    const rollup earlier = of({{1.5, 10}, {-2, 40}});
    const rollup later = of({{8, 40}, {0.25, 20}});
    rollup merged = earlier;
    merge(merged, later);
    const rollup folded = of({{1.5, 10}, {-2, 40}, {8, 40}, {0.25, 20}});
    EXPECT_EQ(merged.count, folded.count);
    EXPECT_EQ(merged.min, folded.min);
    EXPECT_EQ(merged.max, folded.max);
    EXPECT_EQ(merged.latest, folded.latest);
    EXPECT_EQ(merged.latest_micros, folded.latest_micros);
    EXPECT_DOUBLE_EQ(static_cast<double>(merged.sum()), static_cast<double>(folded.sum()));
}

TEST(rollup, merging_an_empty_rollup_changes_nothing)
{
    const rollup r = of({{3, 5}});
    rollup a = r;
    merge(a, rollup{});
    EXPECT_EQ(a, r);
    rollup b;
    merge(b, r);
    EXPECT_EQ(b, r);
}

TEST(rollup, the_sum_of_huge_finite_values_stays_finite)
{
    const rollup r = of({{1e308, 1}, {1e308, 2}});
    EXPECT_EQ(r.scale, 64);
    EXPECT_TRUE(std::isfinite(r.high));
    EXPECT_EQ(r.average(), 1e308);
    EXPECT_NEAR(static_cast<double>(r.sum() / 2e308L), 1.0, 1e-15);

    const rollup mixed = of({{1e308, 1}, {1e308, 2}, {-1e308, 3}, {4, 4}});
    EXPECT_NEAR(mixed.average(), 1e308 / 4, 1e292);
    EXPECT_EQ(of({{-1.7e308, 1}, {-1.7e308, 2}}).average(), -1.7e308);
}

TEST(rollup, merges_a_scaled_sum_with_an_unscaled_one)
{
    rollup big = of({{1e308, 1}, {1e308, 2}});
    const rollup small = of({{6, 3}});
    merge(big, small);
    EXPECT_EQ(big.count, 3U);
    EXPECT_NEAR(big.average(), 1e308 / 3 * 2, 1e293);
    rollup small_first = of({{6, 3}});
    merge(small_first, of({{1e308, 1}, {1e308, 2}}));
    EXPECT_EQ(small_first.scale, 64);
    EXPECT_NEAR(small_first.average(), 1e308 / 3 * 2, 1e293);
}

TEST(rollup, the_compensated_sum_keeps_what_plain_addition_loses)
{
    // 1 + 1e-16 * 10^6, added one at a time: plain double addition keeps 1.0 exactly.
    rollup r;
    fold(r, 1.0, 0);
    double plain = 1.0;
    for (int i = 0; i < 1'000'000; ++i) {
        fold(r, 1e-16, i);
        plain += 1e-16;
    }
    EXPECT_EQ(plain, 1.0);
    EXPECT_NEAR(static_cast<double>(r.sum()), 1.0 + 1e-10, 1e-22);
}

TEST(rollup, tiny_values_average_exactly)
{
    const rollup r = of({{5e-324, 1}, {5e-324, 2}});
    EXPECT_EQ(r.average(), 5e-324);
}

}  // namespace
}  // namespace analytics::metrics
