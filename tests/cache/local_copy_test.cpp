#include "cache/local_copy.hpp"

#include <gtest/gtest.h>

namespace analytics::cache {
namespace {

using namespace std::chrono_literals;
using mono = common::clock::mono_time;

const mono t0{std::chrono::seconds(1000)};

// Claims `key` at `now` and keeps `body` until `expires`, as a read or fill that nothing
// invalidated meanwhile does.
bool keep(local_copy& c, std::string_view key, std::string body, mono now, mono expires)
{
    return c.put(key, c.claim(key, now), std::move(body), expires);
}

TEST(local_copy, serves_a_copy_until_it_expires)
{
    local_copy c;
    ASSERT_TRUE(keep(c, "summary:cpu:all", "body", t0, t0 + 300s));
    ASSERT_NE(c.find("summary:cpu:all", t0), nullptr);
    EXPECT_EQ(*c.find("summary:cpu:all", t0 + 299s), "body");
    EXPECT_EQ(c.find("summary:cpu:all", t0 + 300s), nullptr);
    EXPECT_EQ(c.find("summary:mem:all", t0), nullptr);
}

TEST(local_copy, replaces_an_existing_copy)
{
    local_copy c;
    keep(c, "k", "old", t0, t0 + 1s);
    keep(c, "k", "new", t0, t0 + 10s);
    EXPECT_EQ(*c.find("k", t0 + 5s), "new");
    EXPECT_EQ(c.size(), 1U);
}

TEST(local_copy, a_claimed_key_is_not_served_before_its_body_is_kept)
{
    local_copy c;
    keep(c, "k", "old", t0, t0 + 10s);
    const auto claim = c.claim("k", t0);
    EXPECT_EQ(c.find("k", t0), nullptr);
    ASSERT_TRUE(c.put("k", claim, "new", t0 + 10s));
    EXPECT_EQ(*c.find("k", t0), "new");
}

// A reply read before a change can arrive after the change's invalidation: it must not be kept.
TEST(local_copy, an_invalidation_between_claim_and_put_keeps_nothing)
{
    local_copy c;
    const auto claim = c.claim("k", t0);
    c.invalidate("k");
    EXPECT_FALSE(c.put("k", claim, "read before the change", t0 + 10s));
    EXPECT_EQ(c.find("k", t0), nullptr);
}

TEST(local_copy, clear_drops_every_copy_and_voids_every_claim)
{
    local_copy c;
    keep(c, "a", "1", t0, t0 + 10s);
    const auto claim = c.claim("b", t0);
    c.clear();
    EXPECT_EQ(c.find("a", t0), nullptr);
    EXPECT_FALSE(c.put("b", claim, "2", t0 + 10s));
    EXPECT_EQ(c.size(), 0U);
}

TEST(local_copy, only_the_latest_claim_on_a_key_may_keep_a_body)
{
    local_copy c;
    const auto first = c.claim("k", t0);
    const auto second = c.claim("k", t0);
    EXPECT_FALSE(c.put("k", first, "first", t0 + 10s));
    EXPECT_TRUE(c.put("k", second, "second", t0 + 10s));
    EXPECT_FALSE(c.put("k", 0, "unclaimed", t0 + 10s));
    EXPECT_EQ(*c.find("k", t0), "second");
}

TEST(local_copy, invalidating_one_key_leaves_the_others)
{
    local_copy c;
    keep(c, "a", "1", t0, t0 + 10s);
    keep(c, "b", "2", t0, t0 + 10s);
    c.invalidate("a");
    c.invalidate("never_cached");
    EXPECT_EQ(c.find("a", t0), nullptr);
    EXPECT_EQ(*c.find("b", t0), "2");
}

TEST(local_copy, stays_within_its_bound_dropping_expired_copies_first)
{
    local_copy c(3);
    keep(c, "a", "1", t0, t0 + 1s);
    keep(c, "b", "2", t0, t0 + 100s);
    keep(c, "c", "3", t0, t0 + 100s);
    keep(c, "d", "4", t0 + 2s, t0 + 100s);  // "a" has expired and makes room
    EXPECT_EQ(c.size(), 3U);
    EXPECT_NE(c.find("b", t0 + 2s), nullptr);
    EXPECT_NE(c.find("d", t0 + 2s), nullptr);

    keep(c, "e", "5", t0 + 2s, t0 + 100s);  // all live: starts over
    EXPECT_LE(c.size(), 3U);
    EXPECT_NE(c.find("e", t0 + 2s), nullptr);
}

TEST(local_copy, keeps_nothing_with_a_zero_bound)
{
    local_copy c(0);
    EXPECT_FALSE(keep(c, "k", "v", t0, t0 + 1s));
    EXPECT_EQ(c.find("k", t0), nullptr);
}

}  // namespace
}  // namespace analytics::cache
