#include "ratelimit/outage_log.hpp"

#include "support/fake_clock.hpp"

#include <gtest/gtest.h>

namespace analytics::ratelimit {
namespace {

TEST(outage_log, counts_one_outage_while_any_worker_is_failing)
{
    test::fake_clock clock;
    outage_log log(clock);
    EXPECT_FALSE(log.active());

    log.worker_failing("not connected", "local");
    log.worker_failing("not connected", "local");
    for (int i = 0; i < 100; ++i) {
        log.count_request();
    }
    EXPECT_TRUE(log.active());

    log.worker_recovered();
    EXPECT_TRUE(log.active());               // the other worker is still failing
    log.worker_failing("timeout", "local");  // so this is not a new outage
    log.worker_recovered();
    log.worker_recovered();

    EXPECT_FALSE(log.active());
    EXPECT_EQ(log.outages(), 1U);
    EXPECT_EQ(log.requests_without_redis(), 100U);
}

TEST(outage_log, starts_a_new_outage_after_every_worker_has_recovered)
{
    test::fake_clock clock;
    outage_log log(clock);
    log.worker_failing("not connected", "open");
    log.worker_recovered();
    log.worker_failing("timeout", "open");
    log.count_request();
    EXPECT_EQ(log.outages(), 2U);
    EXPECT_EQ(log.requests_without_redis(), 1U);
}

}  // namespace
}  // namespace analytics::ratelimit
