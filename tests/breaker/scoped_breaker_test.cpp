// scoped_breaker in instance scope: the process's own circuit_breaker decides, through permits
// that report with co_await. (Cluster scope needs Redis: cluster_breaker_redistest.cpp.)

#include "breaker/scoped_breaker.hpp"

#include "support/fake_clock.hpp"
#include "support/run_coro.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <chrono>

namespace analytics::breaker {
namespace {

using namespace std::chrono_literals;

struct fixture {
    test::fake_clock clock;
    circuit_breaker local{config::breaker_options{2, 10s}, 1s, clock};
    scoped_breaker breaker{local};
    net::io_context ioc;

    permit acquire() { return test::run_coro(ioc, breaker.acquire()); }
    void fail(permit& p)
    {
        test::run_coro(ioc, p.record_failure("test failure"));
        ioc.restart();
    }
    void succeed(permit& p)
    {
        test::run_coro(ioc, p.record_success());
        ioc.restart();
    }
    permit next()
    {
        auto p = acquire();
        ioc.restart();
        return p;
    }
};

TEST(scoped_breaker, in_instance_scope_the_process_breaker_decides)
{
    fixture f;
    EXPECT_EQ(f.breaker.scope(), config::breaker_scope::instance);
    auto a = f.next();
    ASSERT_TRUE(a.allowed());
    f.fail(a);
    auto b = f.next();
    ASSERT_TRUE(b.allowed());
    f.fail(b);
    auto rejected = f.next();
    EXPECT_FALSE(rejected.allowed());
    EXPECT_EQ(rejected.retry_after(), 10s);

    const auto s = f.breaker.current();
    EXPECT_EQ(s.scope, config::breaker_scope::instance);
    EXPECT_FALSE(s.fallback);
    EXPECT_EQ(s.state.current, state::open);
    EXPECT_EQ(f.local.status().current, state::open);
}

TEST(scoped_breaker, a_trial_permit_closes_the_breaker_on_success)
{
    fixture f;
    for (int i = 0; i < 2; ++i) {
        auto p = f.next();
        f.fail(p);
    }
    f.clock.advance(10s);
    auto trial = f.next();
    ASSERT_TRUE(trial.allowed());
    EXPECT_TRUE(trial.is_trial());
    auto other = f.next();
    EXPECT_FALSE(other.allowed());
    f.succeed(trial);
    EXPECT_EQ(f.local.status().current, state::closed);
}

TEST(scoped_breaker, a_permit_reports_only_its_first_outcome_and_moves_with_it)
{
    fixture f;
    auto p = f.next();
    auto moved = std::move(p);
    EXPECT_FALSE(
        p.allowed());  // NOLINT(bugprone-use-after-move): the moved-from state is the point
    f.succeed(moved);
    f.fail(moved);  // ignored
    f.fail(p);      // moved from: nothing to report
    const auto s = f.local.status();
    EXPECT_EQ(s.success_count, 1U);
    EXPECT_EQ(s.failure_count, 0U);
}

TEST(scoped_breaker, a_permit_dropped_unreported_counts_as_a_failure_in_instance_scope)
{
    fixture f;
    {
        auto p = f.next();
        ASSERT_TRUE(p.allowed());
    }
    EXPECT_EQ(f.local.status().failure_count, 1U);
}

TEST(scoped_breaker, has_nothing_to_watch_in_instance_scope)
{
    fixture f;
    test::run_coro(f.ioc, f.breaker.watch(10ms), 1s);  // returns at once
    f.ioc.restart();
    const auto s = test::run_coro(f.ioc, f.breaker.status());
    EXPECT_EQ(s.scope, config::breaker_scope::instance);
    EXPECT_EQ(s.state.current, state::closed);
}

}  // namespace
}  // namespace analytics::breaker
