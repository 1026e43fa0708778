#include "cache/local_copy.hpp"

#include <gtest/gtest.h>

namespace analytics::cache {
namespace {

using namespace std::chrono_literals;
using mono = common::clock::mono_time;

const mono t0{std::chrono::seconds(1000)};

TEST(local_copy, serves_a_copy_until_it_expires)
{
    local_copy c;
    c.put("summary:cpu:all", "body", t0, t0 + 300s);
    ASSERT_NE(c.find("summary:cpu:all", t0), nullptr);
    EXPECT_EQ(*c.find("summary:cpu:all", t0 + 299s), "body");
    EXPECT_EQ(c.find("summary:cpu:all", t0 + 300s), nullptr);
    EXPECT_EQ(c.find("summary:mem:all", t0), nullptr);
}

TEST(local_copy, replaces_an_existing_copy)
{
    local_copy c;
    c.put("k", "old", t0, t0 + 1s);
    c.put("k", "new", t0, t0 + 10s);
    EXPECT_EQ(*c.find("k", t0 + 5s), "new");
    EXPECT_EQ(c.size(), 1U);
}

TEST(local_copy, stays_within_its_bound_dropping_expired_copies_first)
{
    local_copy c(3);
    c.put("a", "1", t0, t0 + 1s);
    c.put("b", "2", t0, t0 + 100s);
    c.put("c", "3", t0, t0 + 100s);
    c.put("d", "4", t0 + 2s, t0 + 100s);  // "a" has expired and makes room
    EXPECT_EQ(c.size(), 3U);
    EXPECT_NE(c.find("b", t0 + 2s), nullptr);
    EXPECT_NE(c.find("d", t0 + 2s), nullptr);

    c.put("e", "5", t0 + 2s, t0 + 100s);  // all live: starts over
    EXPECT_LE(c.size(), 3U);
    EXPECT_NE(c.find("e", t0 + 2s), nullptr);
}

TEST(local_copy, keeps_nothing_with_a_zero_bound)
{
    local_copy c(0);
    c.put("k", "v", t0, t0 + 1s);
    EXPECT_EQ(c.find("k", t0), nullptr);
}

}  // namespace
}  // namespace analytics::cache
