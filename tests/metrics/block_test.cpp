// Blocks (metrics/block.hpp): the member layout the service writes, the store script reads at
// fixed offsets and the lists read back, and order prefixes that sort like the time they stand
// for.
#include "metrics/block.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
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
    ASSERT_EQ(b->size(), 2U);
    EXPECT_EQ(b->point(0).timestamp.micros, 1'771'502'400'500'000);
    EXPECT_EQ(b->point(0).timestamp.fraction_digits, 3);
    EXPECT_EQ(b->point(0).value, 75.5);
    EXPECT_EQ(b->point(0).place, 7U);
    EXPECT_EQ(b->point(1).value, -0.25);
    EXPECT_EQ(b->point(1).timestamp.fraction_digits, 0);
    // The offsets store.lua reads (1-based there).
    EXPECT_EQ(block_header_size, 35U);
    EXPECT_EQ(static_cast<unsigned char>(m[34]), 9U);
}

TEST(block, refuses_members_that_are_not_blocks)
{
    std::string rest;
    append_block_rest(rest, 1, 1, "t");
    append_point(rest, {{1, 0}, 1, 0});
    const std::string good = member(1, 2, 3, rest);
    ASSERT_TRUE(block_view::parse(good));
    EXPECT_FALSE(block_view::parse(""));
    EXPECT_FALSE(block_view::parse(good.substr(0, 34)));
    EXPECT_FALSE(block_view::parse(good.substr(0, good.size() - 1)));
    EXPECT_FALSE(block_view::parse(good + "x"));
    std::string no_type = good;
    no_type[34] = '\0';
    EXPECT_FALSE(block_view::parse(no_type));
}

}  // namespace
}  // namespace analytics::metrics
