#include "http/body_budget.hpp"

#include <gtest/gtest.h>

namespace analytics::http {
namespace {

TEST(body_budget, grants_reservations_up_to_the_maximum)
{
    body_budget budget(100);
    std::size_t a = 0;
    std::size_t b = 0;
    EXPECT_TRUE(budget.reserve(a, 60));
    EXPECT_EQ(a, 60U);
    EXPECT_TRUE(budget.reserve(b, 40));
    EXPECT_EQ(budget.used(), 100U);
    std::size_t c = 0;
    EXPECT_FALSE(budget.reserve(c, 1));
    EXPECT_EQ(c, 0U);
    EXPECT_EQ(budget.used(), 100U);
}

TEST(body_budget, grows_a_reservation_by_the_difference_only)
{
    body_budget budget(100);
    std::size_t a = 0;
    EXPECT_TRUE(budget.reserve(a, 30));
    EXPECT_TRUE(budget.reserve(a, 80));
    EXPECT_EQ(budget.used(), 80U);
    EXPECT_TRUE(budget.reserve(a, 50));  // no smaller: nothing changes
    EXPECT_EQ(a, 80U);
    EXPECT_EQ(budget.used(), 80U);
}

TEST(body_budget, always_lets_one_body_in_alone)
{
    body_budget budget(10);
    std::size_t a = 0;
    EXPECT_TRUE(budget.reserve(a, 1000));
    EXPECT_TRUE(budget.reserve(a, 2000));
    std::size_t b = 0;
    EXPECT_FALSE(budget.reserve(b, 1));
    budget.release(a);
    EXPECT_EQ(a, 0U);
    EXPECT_TRUE(budget.reserve(b, 1000));
}

TEST(body_budget, release_returns_the_reservation)
{
    body_budget budget(100);
    std::size_t a = 0;
    std::size_t b = 0;
    budget.reserve(a, 70);
    EXPECT_FALSE(budget.reserve(b, 70));
    budget.release(a);
    EXPECT_EQ(budget.used(), 0U);
    EXPECT_TRUE(budget.reserve(b, 70));
    budget.release(a);  // nothing held: nothing happens
    EXPECT_EQ(budget.used(), 70U);
}

TEST(body_budget, reclaims_memory_only_after_enough_was_freed)
{
    body_budget budget(100);
    budget.freed(body_budget::reclaim_threshold - 1);
    EXPECT_FALSE(budget.reclaim());
    budget.freed(1);
    EXPECT_TRUE(budget.reclaim());
    // And not again before the interval, however much is freed meanwhile.
    budget.freed(body_budget::reclaim_threshold);
    EXPECT_FALSE(budget.reclaim());
}

}  // namespace
}  // namespace analytics::http
