#include "redis/write_refusals.hpp"

#include "redis/errc.hpp"
#include "support/fake_clock.hpp"

#include <gtest/gtest.h>

#include <array>
#include <chrono>

namespace analytics::redis {
namespace {

using namespace std::chrono_literals;

reply error(std::string_view text)
{
    return reply::text(reply::kind::error, text);
}

reply ok()
{
    return reply::text(reply::kind::status, "OK");
}

const std::string oom = "OOM command not allowed when used memory > 'maxmemory'.";

TEST(write_refusals, knows_the_replies_that_refuse_a_write)
{
    EXPECT_TRUE(write_refusals::is_refusal(oom));
    EXPECT_TRUE(
        write_refusals::is_refusal("OOM command not allowed when used memory > 'maxmemory'. "
                                   "script: 237f, on @user_script:46."));
    EXPECT_TRUE(
        write_refusals::is_refusal("READONLY You can't write against a read only replica."));
    EXPECT_TRUE(write_refusals::is_refusal("MISCONF Redis is configured to save RDB snapshots"));
    EXPECT_FALSE(write_refusals::is_refusal("ERR wrong number of arguments"));
    EXPECT_FALSE(write_refusals::is_refusal("NOSCRIPT No matching script."));
    EXPECT_FALSE(write_refusals::is_refusal("OOMPH"));
}

TEST(write_refusals, reports_the_kind_while_refusals_keep_coming)
{
    test::fake_clock clock;
    write_refusals refusals(clock, 2s);
    EXPECT_FALSE(refusals.refusing());
    refusals.observe(error(oom));
    ASSERT_TRUE(refusals.refusing());
    EXPECT_EQ(*refusals.refusing(), write_refusals::kind::oom);
    // Reads succeed meanwhile: they do not end the incident.
    clock.advance(1s);
    refusals.observe(ok());
    EXPECT_TRUE(refusals.refusing());
    refusals.observe(error("READONLY You can't write against a read only replica."));
    EXPECT_EQ(*refusals.refusing(), write_refusals::kind::readonly);
}

TEST(write_refusals, ends_an_incident_at_a_success_after_the_quiet_time)
{
    test::fake_clock clock;
    write_refusals refusals(clock, 2s);
    refusals.observe(error(oom));
    clock.advance(1999ms);
    EXPECT_TRUE(refusals.refusing());
    clock.advance(1ms);
    // Quiet for 2 s: /health no longer says so, and the next success ends the incident.
    EXPECT_FALSE(refusals.refusing());
    refusals.observe(ok());
    refusals.observe(error(oom));
    EXPECT_TRUE(refusals.refusing());
}

TEST(write_refusals, counts_every_refusal_by_kind_and_nothing_else)
{
    test::fake_clock clock;
    write_refusals refusals(clock);
    for (int i = 0; i < 5; ++i) {
        refusals.observe(error(oom));
    }
    refusals.observe(error("MISCONF Redis is configured to save RDB snapshots"));
    refusals.observe(error("ERR unknown command"));
    refusals.observe(make_error_code(errc::timeout));
    refusals.observe(ok());
    EXPECT_EQ(refusals.total(write_refusals::kind::oom), 5U);
    EXPECT_EQ(refusals.total(write_refusals::kind::misconf), 1U);
    EXPECT_EQ(refusals.total(write_refusals::kind::readonly), 0U);
}

TEST(write_refusals, counts_a_refused_transaction_once_and_an_ordinary_error_not_at_all)
{
    test::fake_clock clock;
    write_refusals refusals(clock, 2s);
    // MULTI, a write refused as it is queued, EXEC aborted because of it.
    const std::array<reply, 3> transaction{ok(), error(oom),
                                           error("EXECABORT Transaction discarded because of "
                                                 "previous errors.")};
    refusals.observe(transaction);
    EXPECT_EQ(refusals.total(write_refusals::kind::oom), 1U);
    ASSERT_TRUE(refusals.refusing());
    // A transaction whose scripts were refused as they ran: the refusals are EXEC's elements.
    reply exec;
    exec.type = reply::kind::array;
    exec.elements = {error(oom), error(oom)};
    const std::array<reply, 3> ran{ok(), ok(), exec};
    refusals.observe(ran);
    EXPECT_EQ(refusals.total(write_refusals::kind::oom), 2U);
    const std::array<reply, 2> mixed{ok(), error("ERR wrong number of arguments")};
    refusals.observe(mixed);
    EXPECT_EQ(refusals.total(write_refusals::kind::oom), 2U);
    // A pipeline without an error ends the incident once it has been quiet.
    clock.advance(3s);
    const std::array<reply, 2> fine{ok(), ok()};
    refusals.observe(fine);
    EXPECT_FALSE(refusals.refusing());
    refusals.observe(error(oom));
    EXPECT_TRUE(refusals.refusing());
    EXPECT_EQ(refusals.total(write_refusals::kind::oom), 3U);
}

TEST(write_refusals, ignores_transport_errors)
{
    test::fake_clock clock;
    write_refusals refusals(clock);
    refusals.observe(make_error_code(errc::not_connected));
    EXPECT_FALSE(refusals.refusing());
}

}  // namespace
}  // namespace analytics::redis
