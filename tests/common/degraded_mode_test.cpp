#include "common/degraded_mode.hpp"

#include "support/fake_clock.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace analytics::common {
namespace {

TEST(degraded_mode, counts_an_outage_and_resets_when_it_ends)
{
    degraded_mode mode("test.outage");
    EXPECT_EQ(mode.count(), 0U);
    mode.recovered();  // no outage: nothing happens
    mode.occurred({{"k", "v"}});
    mode.occurred({});
    mode.occurred({});
    EXPECT_EQ(mode.count(), 3U);
    mode.recovered();
    EXPECT_EQ(mode.count(), 0U);
    mode.occurred({});
    EXPECT_EQ(mode.count(), 1U);
}

TEST(degraded_mode, counts_every_occurrence_from_many_threads)
{
    degraded_mode mode("test.threads");
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 1000; ++i) {
                mode.occurred({});
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_EQ(mode.count(), 8000U);
}

TEST(degraded_mode, with_a_settle_time_ends_only_once_the_latest_occurrence_is_that_old)
{
    test::fake_clock clock;
    degraded_mode mode("test.settle", std::chrono::seconds(1), clock);
    mode.occurred({});
    EXPECT_TRUE(mode.ongoing());
    // Successes in between (reads while writes fail) do not end it.
    clock.advance(std::chrono::milliseconds(600));
    mode.recovered();
    mode.occurred({});
    clock.advance(std::chrono::milliseconds(600));
    mode.recovered();
    EXPECT_EQ(mode.count(), 2U);
    EXPECT_TRUE(mode.ongoing());
    clock.advance(std::chrono::milliseconds(400));
    EXPECT_FALSE(mode.ongoing());  // settled, but not ended until a success says so
    EXPECT_EQ(mode.count(), 2U);
    mode.recovered();
    EXPECT_EQ(mode.count(), 0U);
}

TEST(degraded_mode, without_a_settle_time_is_ongoing_until_the_first_success)
{
    degraded_mode mode("test.plain");
    EXPECT_FALSE(mode.ongoing());
    mode.occurred({});
    EXPECT_TRUE(mode.ongoing());
    mode.recovered();
    EXPECT_FALSE(mode.ongoing());
}

}  // namespace
}  // namespace analytics::common
