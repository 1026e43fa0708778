// The points a list read (metrics/list_page.hpp): the list's order across blocks, the blocks
// past the retention left out, and the JSON of the points shown, byte for byte, from blocks
// that hold their values as text and from blocks of the binary layout alike.
#include "metrics/list_page.hpp"

#include "support/binary_block.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace analytics::metrics {
namespace {

constexpr std::int64_t noon = 1'771'502'400'000'000;  // 2026-02-19T12:00:00Z

// A block as the service writes it.
std::string block(std::int64_t arrival, std::uint64_t nonce, std::string_view type,
                  const std::vector<block_point>& points)
{
    std::int64_t newest = points.front().timestamp.micros;
    for (const auto& p : points) {
        newest = std::max(newest, p.timestamp.micros);
    }
    const auto prefix = order_prefix(newest);
    std::string out(prefix.data(), prefix.size());
    for (const std::uint64_t v : {static_cast<std::uint64_t>(arrival), nonce}) {
        for (int i = 7; i >= 0; --i) {
            out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
        }
    }
    append_block_rest(out, 0, points.size(), type);
    for (const auto& p : points) {
        append_point(out, p);
    }
    return out;
}

std::string json_of(const list_page& page)
{
    std::vector<const list_page::entry*> shown;
    for (const auto& e : page.points()) {
        shown.push_back(&e);
    }
    std::string out;
    page.append_json(out, shown);
    return out;
}

TEST(list_page, orders_by_timestamp_then_arrival_then_place_across_blocks)
{
    const std::string a = block(100, 1, "cpu", {{{noon, 0}, 1, 0}, {{noon, 0}, 2, 1}});
    const std::string b = block(200, 2, "mem", {{{noon, 0}, 3, 0}, {{noon + 1, 6}, 4, 5}});
    const std::string c = block(100, 3, "cpu", {{{noon - 1'000'000, 0}, 5, 9}});
    list_page page;
    for (const std::string* m : {&c, &a, &b}) {
        EXPECT_TRUE(page.add(*m, 0));
    }
    page.sort();
    EXPECT_EQ(page.blocks(), 3U);
    EXPECT_EQ(json_of(page),
              R"([{"timestamp":"2026-02-19T12:00:00.000001Z","value":4,"type":"mem"},)"
              R"({"timestamp":"2026-02-19T12:00:00Z","value":3,"type":"mem"},)"
              R"({"timestamp":"2026-02-19T12:00:00Z","value":2,"type":"cpu"},)"
              R"({"timestamp":"2026-02-19T12:00:00Z","value":1,"type":"cpu"},)"
              R"({"timestamp":"2026-02-19T11:59:59Z","value":5,"type":"cpu"}])");
    EXPECT_EQ(page.type_of(page.points().front()), "mem");
}

TEST(list_page, sorts_points_read_in_any_order)
{
    // Blocks in random order with points of random timestamps, arrivals and places, many of
    // them equal: far from the order Redis gives, so the full sort finishes the job.
    std::mt19937_64 random(7);
    std::vector<std::string> members;
    struct key {
        std::int64_t micros, arrival;
        std::uint32_t place;
        std::uint64_t nonce;
    };
    std::vector<key> expected;
    for (std::uint64_t b = 0; b < 200; ++b) {
        const auto arrival = static_cast<std::int64_t>(random() % 20);
        std::vector<block_point> points;
        for (std::size_t i = 0; i <= random() % 4; ++i) {
            const std::int64_t micros = noon + static_cast<std::int64_t>(random() % 10);
            const auto place = static_cast<std::uint32_t>(random() % 3);
            points.push_back({{micros, 0}, static_cast<double>(expected.size()), place});
            expected.push_back({micros, arrival, place, b});
        }
        members.push_back(block(arrival, b, "t", points));
    }
    list_page page;
    for (const std::string& m : members) {
        ASSERT_TRUE(page.add(m, 0));
    }
    page.sort();
    std::sort(expected.begin(), expected.end(), [](const key& a, const key& b) {
        return std::tie(b.micros, b.arrival, b.place, b.nonce) <
               std::tie(a.micros, a.arrival, a.place, a.nonce);
    });
    ASSERT_EQ(page.points().size(), expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const auto& p = page.points()[i];
        EXPECT_EQ(
            std::tie(p.micros, p.arrival, p.place, p.nonce),
            std::tie(expected[i].micros, expected[i].arrival, expected[i].place, expected[i].nonce))
            << i;
    }
}

TEST(list_page, writes_values_of_either_layout_as_their_shortest_text)
{
    const std::vector<block_point> values{{{noon + 5, 6}, 0.1 + 0.2, 0},
                                          {{noon + 4, 3}, -0.0, 0},
                                          {{noon + 3, 0}, 1e21, 0},
                                          {{noon + 2, 1}, 5e-324, 0},
                                          {{noon + 1, 0}, -1.7976931348623157e308, 0}};
    const std::string expected =
        R"([{"timestamp":"2026-02-19T12:00:00.000005Z","value":0.30000000000000004,"type":"t"},)"
        R"({"timestamp":"2026-02-19T12:00:00.000Z","value":-0,"type":"t"},)"
        R"({"timestamp":"2026-02-19T12:00:00Z","value":1e+21,"type":"t"},)"
        R"({"timestamp":"2026-02-19T12:00:00.0Z","value":5e-324,"type":"t"},)"
        R"({"timestamp":"2026-02-19T12:00:00Z","value":-1.7976931348623157e+308,"type":"t"}])";
    for (const bool text : {true, false}) {
        const std::string m =
            text ? block(1, 1, "t", values) : test::binary_block(1, 1, 0, "t", values);
        list_page page;
        ASSERT_TRUE(page.add(m, 0));
        page.sort();
        EXPECT_EQ(json_of(page), expected) << (text ? "text values" : "binary values");
    }
}

TEST(list_page, leaves_out_blocks_that_arrived_before_the_cutoff)
{
    const std::string old = block(99, 1, "t", {{{noon + 1, 0}, 1, 0}});
    const std::string kept = block(100, 2, "t", {{{noon, 0}, 2, 0}});
    list_page page;
    EXPECT_TRUE(page.add(old, 100));
    EXPECT_TRUE(page.add(kept, 100));
    page.sort();
    EXPECT_EQ(page.blocks(), 1U);
    EXPECT_EQ(json_of(page), R"([{"timestamp":"2026-02-19T12:00:00Z","value":2,"type":"t"}])");
}

TEST(list_page, refuses_a_member_that_is_not_a_block_and_writes_an_empty_array)
{
    list_page page;
    EXPECT_FALSE(page.add("not a block", 0));
    page.sort();
    EXPECT_TRUE(page.points().empty());
    EXPECT_EQ(json_of(page), "[]");
}

}  // namespace
}  // namespace analytics::metrics
