// The rollup layout is shared with the ingest script's Lua (struct format '<Bdddddc18'), so these
// tests pin its bytes, not only that it reads back.
#include "metrics/rollup.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace analytics::metrics {
namespace {

const std::string newest_key = "063931432755000000";

std::string encoded(const rollup& r)
{
    std::string out;
    append_rollup(out, r);
    return out;
}

TEST(rollup, is_a_format_byte_five_little_endian_doubles_and_the_order_key)
{
    const std::string bytes = encoded({1, 2.5, -0.5, 4, 0.125, newest_key});
    ASSERT_EQ(bytes.size(), rollup_size);
    EXPECT_EQ(bytes[0], '\x01');
    // 1.0 is 0x3ff0000000000000: its low bytes first.
    EXPECT_EQ(bytes.substr(1, 8), std::string("\0\0\0\0\0\0\xf0\x3f", 8));
    // 2.5 is 0x4004000000000000.
    EXPECT_EQ(bytes.substr(9, 8), std::string("\0\0\0\0\0\0\x04\x40", 8));
    EXPECT_EQ(bytes.substr(41), newest_key);
}

TEST(rollup, reads_back_exactly)
{
    const rollup in{123456789, 0.1 + 0.2, -1e-300, 1.7976931348623157e308, -0.0, newest_key};
    const std::string bytes = encoded(in);
    const auto out = parse_rollup(bytes);
    ASSERT_TRUE(out);
    EXPECT_EQ(out->count, in.count);
    EXPECT_EQ(out->sum, in.sum);
    EXPECT_EQ(out->min, in.min);
    EXPECT_EQ(out->max, in.max);
    EXPECT_TRUE(std::signbit(out->latest));
    EXPECT_EQ(out->newest, newest_key);
}

TEST(rollup, reads_the_text_form_of_earlier_builds)
{
    const std::string text = "4 25.399999999999999 0 12.2 " + newest_key + " 12.2";
    const auto r = parse_rollup(text);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->count, 4U);
    EXPECT_EQ(r->sum, 25.399999999999999);
    EXPECT_EQ(r->min, 0);
    EXPECT_EQ(r->max, 12.2);
    EXPECT_EQ(r->latest, 12.2);
    EXPECT_EQ(r->newest, newest_key);
}

TEST(rollup, refuses_anything_else)
{
    const std::string good = encoded({2, 1, 0, 1, 1, newest_key});
    ASSERT_TRUE(parse_rollup(good));
    EXPECT_FALSE(parse_rollup(""));
    EXPECT_FALSE(parse_rollup(good.substr(0, rollup_size - 1)));
    EXPECT_FALSE(parse_rollup(good + "0"));

    std::string other_format = good;
    other_format[0] = '\x02';
    EXPECT_FALSE(parse_rollup(other_format));

    std::string bad_key = good;
    bad_key[rollup_size - 1] = 'x';
    EXPECT_FALSE(parse_rollup(bad_key));

    // The count must be a whole number from 1 to 2^53.
    EXPECT_FALSE(parse_rollup(encoded({0, 1, 0, 1, 1, newest_key})));
    std::string half = good;
    half.replace(1, 8, std::string("\0\0\0\0\0\0\xf8\x3f", 8));  // 1.5
    EXPECT_FALSE(parse_rollup(half));
    std::string nan = good;
    nan.replace(1, 8, std::string("\0\0\0\0\0\0\xf8\x7f", 8));  // a quiet NaN
    EXPECT_FALSE(parse_rollup(nan));

    // Text: six fields, a count of at least 1, an 18-digit key.
    EXPECT_FALSE(parse_rollup("4 25.4 0 12.2 " + newest_key));
    EXPECT_FALSE(parse_rollup("0 25.4 0 12.2 " + newest_key + " 1"));
    EXPECT_FALSE(parse_rollup("4 x 0 12.2 " + newest_key + " 1"));
    EXPECT_FALSE(parse_rollup("4 25.4 0 12.2 12345 1"));
    EXPECT_FALSE(parse_rollup("4 25.4 0 12.2 " + newest_key + " 1 "));
}

}  // namespace
}  // namespace analytics::metrics
