#include "common/degraded_mode.hpp"

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

}  // namespace
}  // namespace analytics::common
