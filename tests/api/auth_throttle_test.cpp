#include "api/auth_throttle.hpp"

#include "support/fake_clock.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace analytics::api {
namespace {

using namespace std::chrono_literals;

TEST(auth_throttle, lets_ten_failures_a_minute_through_and_refuses_the_rest_of_the_minute)
{
    test::fake_clock clock;
    auth_throttle throttle(clock);
    for (int i = 0; i < 10; ++i) {
        EXPECT_FALSE(throttle.retry_after("203.0.113.7")) << i;
        throttle.failed("203.0.113.7");
        clock.advance(1s);
    }
    // Ten failures within 10 s: refused until a minute after the first, rounded up.
    ASSERT_TRUE(throttle.retry_after("203.0.113.7"));
    EXPECT_EQ(*throttle.retry_after("203.0.113.7"), 50s);
    clock.advance(49500ms);
    EXPECT_EQ(*throttle.retry_after("203.0.113.7"), 1s);
    clock.advance(500ms);
    EXPECT_FALSE(throttle.retry_after("203.0.113.7"));
}

TEST(auth_throttle, leaves_other_clients_alone)
{
    test::fake_clock clock;
    auth_throttle throttle(clock);
    for (int i = 0; i < 10; ++i) {
        throttle.failed("203.0.113.7");
    }
    EXPECT_TRUE(throttle.retry_after("203.0.113.7"));
    EXPECT_FALSE(throttle.retry_after("203.0.113.8"));
}

TEST(auth_throttle, starts_a_new_window_after_the_old_one_passed)
{
    test::fake_clock clock;
    auth_throttle throttle(clock);
    for (int i = 0; i < 9; ++i) {
        throttle.failed("203.0.113.7");
    }
    clock.advance(60s);
    throttle.failed("203.0.113.7");  // the first failure of a new window, not the tenth
    EXPECT_FALSE(throttle.retry_after("203.0.113.7"));
}

TEST(auth_throttle, tracks_a_bounded_number_of_clients_and_throttles_the_rest_as_a_group)
{
    test::fake_clock clock;
    auth_throttle throttle(clock, {10, 60s, 3});
    for (const char* client : {"a", "b", "c"}) {
        throttle.failed(client);
    }
    EXPECT_EQ(throttle.tracked(), 3U);
    // Full of clients inside their windows: the others share one count.
    for (int i = 0; i < 10; ++i) {
        throttle.failed("x" + std::to_string(i));
    }
    EXPECT_EQ(throttle.tracked(), 3U);
    EXPECT_TRUE(throttle.retry_after("y"));
    EXPECT_FALSE(throttle.retry_after("a"));
    // Once their windows passed, tracked clients make room again.
    clock.advance(60s);
    throttle.failed("d");
    EXPECT_EQ(throttle.tracked(), 1U);
    EXPECT_FALSE(throttle.retry_after("y"));
}

}  // namespace
}  // namespace analytics::api
