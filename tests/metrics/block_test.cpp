// Blocks (metrics/block.hpp): the member layout the service writes, the store script reads at
// fixed offsets and the lists read back, blocks of the binary layout earlier builds wrote, and
// order prefixes that sort like the time they stand for.
#include "metrics/block.hpp"

#include "metrics/metric.hpp"
#include "support/binary_block.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace analytics::metrics {
namespace {

std::string prefix_text(std::int64_t micros)
{
    const auto p = order_prefix(micros);
    return std::string(p.data(), p.size());
}

// A whole member: the order prefix, the call's arrival and nonce (big-endian), the rest.
std::string member(std::int64_t newest, std::int64_t arrival, std::int64_t nonce,
                   const std::string& rest)
{
    std::string out = prefix_text(newest);
    for (const std::int64_t v : {arrival, nonce}) {
        for (int i = 7; i >= 0; --i) {
            out.push_back(static_cast<char>((static_cast<std::uint64_t>(v) >> (8 * i)) & 0xff));
        }
    }
    return out + rest;
}

TEST(block, order_prefixes_sort_as_their_times_do)
{
    const std::vector<std::int64_t> times{-62'135'596'800'000'000, -1, 0, 1, 1'771'502'400'000'000,
                                          253'402'300'799'999'999};
    std::vector<std::string> prefixes;
    for (const auto t : times) {
        prefixes.push_back(prefix_text(t));
    }
    EXPECT_TRUE(std::is_sorted(prefixes.begin(), prefixes.end()));
    EXPECT_EQ(prefixes.size(), times.size());
}

// The points of a block, read without converting their values.
std::vector<stored_point> stored_points_of(const block_view& b)
{
    std::vector<stored_point> out;
    std::size_t at = b.first_point();
    for (std::size_t i = 0; i < b.size(); ++i) {
        out.push_back(b.point_at(at));
        at = out.back().next;
    }
    return out;
}

TEST(block, reads_back_what_the_service_and_the_script_wrote)
{
    std::string rest;
    append_block_rest(rest, 29'525'040, 2, "cpu_usage");
    append_point(rest, {{1'771'502'400'500'000, 3}, 75.5, 7});
    append_point(rest, {{1'771'502'401'000'000, 0}, -0.25, 0});
    const std::string m = member(1'771'502'401'000'000, 1'771'502'402'000'001, 42, rest);

    const auto b = block_view::parse(m);
    ASSERT_TRUE(b);
    EXPECT_EQ(b->order_prefix(), prefix_text(1'771'502'401'000'000));
    EXPECT_EQ(b->arrival_micros(), 1'771'502'402'000'001);
    EXPECT_EQ(b->nonce(), 42U);
    EXPECT_EQ(b->minute(), 29'525'040);
    EXPECT_EQ(b->type(), "cpu_usage");
    EXPECT_TRUE(b->text_values());
    ASSERT_EQ(b->size(), 2U);
    const auto points = b->points();
    ASSERT_EQ(points.size(), 2U);
    EXPECT_EQ(points[0].timestamp.micros, 1'771'502'400'500'000);
    EXPECT_EQ(points[0].timestamp.fraction_digits, 3);
    EXPECT_EQ(points[0].value, 75.5);
    EXPECT_EQ(points[0].place, 7U);
    EXPECT_EQ(points[1].value, -0.25);
    EXPECT_EQ(points[1].timestamp.fraction_digits, 0);
    const auto stored = stored_points_of(*b);
    EXPECT_EQ(stored[0].value_text, "75.5");
    EXPECT_EQ(stored[1].value_text, "-0.25");
    EXPECT_EQ(stored[1].next, m.size());
    const auto head = read_block_head(m);
    ASSERT_TRUE(head);
    EXPECT_EQ(head->newest_micros, 1'771'502'401'000'000);
    EXPECT_EQ(head->arrival_micros, 1'771'502'402'000'001);
    // The offsets store.lua reads (1-based there); the type's length is the low 7 bits.
    EXPECT_EQ(block_header_size, 35U);
    EXPECT_EQ(static_cast<unsigned char>(m[34]), 9U | 0x80U);
}

TEST(block, keeps_each_value_as_the_text_a_list_prints)
{
    const std::vector<double> values{0.0,
                                     -0.0,
                                     -1.5,
                                     70,
                                     -123456789,
                                     9007199254740993.0,
                                     0.1,
                                     0.1 + 0.2,
                                     1.0 / 3.0,
                                     1e21,
                                     1e-7,
                                     1e308,
                                     -1.7976931348623157e308,
                                     5e-324,
                                     -2.2250738585072014e-308,
                                     123456.789e-300};
    std::string rest;
    append_block_rest(rest, 1, values.size(), "t");
    for (std::size_t i = 0; i < values.size(); ++i) {
        append_point(rest,
                     {{static_cast<std::int64_t>(i), 0}, values[i], static_cast<std::uint32_t>(i)});
    }
    const std::string m = member(1, 2, 3, rest);  // the view refers to it
    const auto b = block_view::parse(m);
    ASSERT_TRUE(b);
    const auto stored = stored_points_of(*b);
    const auto points = b->points();
    ASSERT_EQ(stored.size(), values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
        EXPECT_EQ(stored[i].value_text, format_value(values[i])) << i;
        EXPECT_LE(stored[i].value_text.size(), value_text_max_size) << i;
        // Bit for bit: -0 stays -0.
        EXPECT_EQ(std::bit_cast<std::uint64_t>(points[i].value),
                  std::bit_cast<std::uint64_t>(values[i]))
            << stored[i].value_text;
        EXPECT_EQ(points[i].place, i);
    }
}

TEST(block, reads_blocks_of_the_binary_layout_of_earlier_builds)
{
    const std::vector<block_point> written{{{1'771'502'400'500'000, 3}, 75.5, 7},
                                           {{1'771'502'401'000'000, 0}, -0.0, 0},
                                           {{1'771'502'401'000'001, 6}, 5e-324, 1}};
    const std::string m =
        test::binary_block(1'771'502'402'000'001, 42, 29'525'040, "cpu_usage", written);
    const auto b = block_view::parse(m);
    ASSERT_TRUE(b);
    EXPECT_FALSE(b->text_values());
    EXPECT_EQ(b->order_prefix(), prefix_text(1'771'502'401'000'001));
    EXPECT_EQ(b->arrival_micros(), 1'771'502'402'000'001);
    EXPECT_EQ(b->nonce(), 42U);
    EXPECT_EQ(b->type(), "cpu_usage");
    const auto points = b->points();
    ASSERT_EQ(points.size(), written.size());
    const auto stored = stored_points_of(*b);
    for (std::size_t i = 0; i < written.size(); ++i) {
        EXPECT_EQ(points[i].timestamp, written[i].timestamp);
        EXPECT_EQ(std::bit_cast<std::uint64_t>(points[i].value),
                  std::bit_cast<std::uint64_t>(written[i].value));
        EXPECT_EQ(points[i].place, written[i].place);
        EXPECT_TRUE(stored[i].value_text.empty());
        EXPECT_EQ(std::bit_cast<std::uint64_t>(stored[i].value),
                  std::bit_cast<std::uint64_t>(written[i].value));
    }
    EXPECT_EQ(stored.back().next, m.size());
}

TEST(block, refuses_members_that_are_not_blocks)
{
    std::string rest;
    append_block_rest(rest, 1, 1, "t");
    append_point(rest, {{1, 0}, 12.5, 0});
    const std::string good = member(1, 2, 3, rest);
    ASSERT_TRUE(block_view::parse(good));
    EXPECT_FALSE(block_view::parse(""));
    EXPECT_FALSE(block_view::parse(good.substr(0, 34)));
    EXPECT_FALSE(read_block_head(good.substr(0, 34)));
    EXPECT_FALSE(block_view::parse(good.substr(0, good.size() - 1)));
    EXPECT_FALSE(block_view::parse(good + "x"));
    std::string no_type = good;
    no_type[34] = static_cast<char>(0x80);
    EXPECT_FALSE(block_view::parse(no_type));
    // The binary layout of the same size: 14 + 4 bytes of point are not 21.
    std::string binary = good;
    binary[34] = 1;
    EXPECT_FALSE(block_view::parse(binary));

    const std::vector<block_point> one{{{1, 0}, 12.5, 0}};
    const std::string old = test::binary_block(2, 3, 1, "t", one);
    ASSERT_TRUE(block_view::parse(old));
    EXPECT_FALSE(block_view::parse(old.substr(0, old.size() - 1)));
    EXPECT_FALSE(block_view::parse(old + "x"));
}

TEST(block, refuses_value_texts_a_list_could_not_copy_into_json)
{
    // The point of `good` starts after the header and the type "t"; its text at +14.
    std::string rest;
    append_block_rest(rest, 1, 1, "t");
    append_point(rest, {{1, 0}, 12.5, 0});
    const std::string good = member(1, 2, 3, rest);
    const std::size_t length_at = block_header_size + 1 + 13;
    ASSERT_EQ(good.substr(length_at + 1), "12.5");
    const auto with_text = [&](std::string_view text) {
        std::string m = good.substr(0, length_at);
        m.push_back(static_cast<char>(text.size()));
        m.append(text);
        return m;
    };
    ASSERT_TRUE(block_view::parse(with_text("12.5")));
    for (const std::string_view ok : {"0", "-0", "1e+21", "5e-324", "-1.5", "100"}) {
        EXPECT_TRUE(block_view::parse(with_text(ok))) << ok;
    }
    for (const std::string_view bad :
         {"", "-", "01", "1.", ".5", "1e21", "1e+", "1e+2x", "nan", "inf", "null", "\"", "1,2",
          "1 ", "+1", "0x10", "1.5E+3", "1234567890123456789012345"}) {
        EXPECT_FALSE(block_view::parse(with_text(bad))) << bad;
    }
    // A length past the end of the member.
    std::string too_long = good;
    too_long[length_at] = 5;
    EXPECT_FALSE(block_view::parse(too_long));
}

}  // namespace
}  // namespace analytics::metrics
