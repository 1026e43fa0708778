// The local view of the fleet's breaker, driven by hand-made script answers and a fake clock: what
// it decides without Redis, what it shows, what it logs, and how it tracks Redis outages.

#include "breaker/fleet_view.hpp"

#include "support/fake_clock.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <latch>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace analytics::breaker {
namespace {

using namespace std::chrono_literals;
using kind = fleet_view::verdict::kind;

fleet_state closed_state(std::uint64_t generation, std::uint64_t failures = 0)
{
    fleet_state s;
    s.current = state::closed;
    s.generation = generation;
    s.failure_count = failures;
    return s;
}

fleet_state open_state(std::uint64_t generation, std::chrono::milliseconds wait)
{
    fleet_state s;
    s.current = state::open;
    s.generation = generation;
    s.failure_count = 5;
    s.wait = wait;
    s.opened_at = common::clock::wall_time{std::chrono::seconds(1'771'502'400)};
    return s;
}

fleet_state half_open_state(std::uint64_t generation, std::chrono::milliseconds lease_left)
{
    fleet_state s;
    s.current = state::half_open;
    s.generation = generation;
    s.failure_count = 5;
    s.wait = lease_left;
    s.trial_in_flight = lease_left > 0ms;
    s.opened_at = common::clock::wall_time{std::chrono::seconds(1'771'502'400)};
    return s;
}

std::vector<boost::json::object> log_lines(const std::string& out, std::string_view event)
{
    std::vector<boost::json::object> lines;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
        boost::system::error_code ec;
        auto v = boost::json::parse(line, ec);
        if (ec || !v.is_object()) {
            continue;
        }
        const auto* name = v.as_object().if_contains("event");
        if (name != nullptr && name->is_string() && name->as_string() == event) {
            lines.push_back(v.as_object());
        }
    }
    return lines;
}

TEST(fleet_view, asks_redis_before_it_has_heard_from_it)
{
    test::fake_clock clock;
    fleet_view view(clock);
    EXPECT_EQ(view.decide().what, kind::ask_redis);
}

TEST(fleet_view, lets_calls_through_while_the_fleet_is_closed_with_the_generation_to_report)
{
    test::fake_clock clock;
    fleet_view view(clock);
    view.update(closed_state(7, 2));
    const auto v = view.decide();
    EXPECT_EQ(v.what, kind::allow);
    EXPECT_EQ(v.generation, 7U);
    EXPECT_EQ(view.status().current, state::closed);
    EXPECT_EQ(view.status().failure_count, 2U);
}

TEST(fleet_view, rejects_at_once_until_the_reset_timeout_counted_from_the_answer)
{
    test::fake_clock clock;
    fleet_view view(clock);
    view.update(open_state(3, 2500ms));
    auto v = view.decide();
    EXPECT_EQ(v.what, kind::reject);
    EXPECT_EQ(v.retry_after, 3s);
    clock.advance(2000ms);
    v = view.decide();
    EXPECT_EQ(v.what, kind::reject);
    EXPECT_EQ(v.retry_after, 1s);  // whole seconds, at least one
    clock.advance(500ms);
    EXPECT_EQ(view.decide().what, kind::ask_redis);
}

TEST(fleet_view, shows_an_open_breaker_half_open_once_its_reset_timeout_has_passed)
{
    test::fake_clock clock;
    fleet_view view(clock);
    view.update(open_state(3, 1000ms));
    auto s = view.status();
    EXPECT_EQ(s.current, state::open);
    ASSERT_TRUE(s.retry_after.has_value());
    EXPECT_EQ(*s.retry_after, 1s);
    ASSERT_TRUE(s.opened_at.has_value());
    clock.advance(1000ms);
    s = view.status();
    EXPECT_EQ(s.current, state::half_open);
    EXPECT_FALSE(s.retry_after.has_value());
    EXPECT_TRUE(s.opened_at.has_value());
}

TEST(fleet_view, rejects_while_another_instance_holds_the_trial_and_asks_once_its_lease_ends)
{
    test::fake_clock clock;
    fleet_view view(clock);
    view.update(half_open_state(4, 5250ms));
    auto v = view.decide();
    EXPECT_EQ(v.what, kind::reject);
    EXPECT_EQ(v.retry_after, 6s);
    auto s = view.status();
    EXPECT_EQ(s.current, state::half_open);
    EXPECT_TRUE(s.trial_in_flight);
    clock.advance(5250ms);
    EXPECT_EQ(view.decide().what, kind::ask_redis);
}

TEST(fleet_view, asks_redis_for_the_trial_when_half_open_with_none_running)
{
    test::fake_clock clock;
    fleet_view view(clock);
    view.update(half_open_state(4, 0ms));
    EXPECT_EQ(view.decide().what, kind::ask_redis);
}

TEST(fleet_view, takes_an_answer_of_a_later_generation_whatever_it_says)
{
    test::fake_clock clock;
    fleet_view view(clock);
    view.update(open_state(3, 30s));
    view.update(closed_state(5));
    EXPECT_EQ(view.decide().what, kind::allow);
    EXPECT_EQ(view.decide().generation, 5U);
    EXPECT_FALSE(view.status().opened_at.has_value());
}

TEST(fleet_view, an_answer_that_crossed_a_newer_one_does_not_reopen_the_gate)
{
    test::fake_clock clock;
    fleet_view view(clock);
    view.update(open_state(6, 30s));
    view.update(closed_state(5, 4));  // read by a poll before the failure that opened it
    EXPECT_EQ(view.decide().what, kind::reject);
    EXPECT_EQ(view.status().current, state::open);
    view.update(open_state(6, 29s));
    view.update(closed_state(5, 4));
    EXPECT_EQ(view.decide().what, kind::reject) << "one older answer at a time is set aside";
}

TEST(fleet_view, an_earlier_generation_twice_in_a_row_means_the_shared_state_was_reset)
{
    test::fake_clock clock;
    fleet_view view(clock);
    view.update(open_state(6, 30s));
    view.update(closed_state(0));
    view.update(closed_state(0));
    const auto v = view.decide();
    EXPECT_EQ(v.what, kind::allow);
    EXPECT_EQ(v.generation, 0U);
}

TEST(fleet_view, counts_the_changes_of_an_answer_it_sets_aside)
{
    test::fake_clock clock;
    fleet_view view(clock);
    view.update(closed_state(8));
    auto late = open_state(7, 30s);
    late.changes = {{state::closed, state::open, "failure_threshold_reached"}};
    view.update(late);
    EXPECT_EQ(view.status().current, state::closed);
    EXPECT_EQ(view.status().transitions_by_state[0][1], 1U);
}

TEST(fleet_view, counts_and_logs_the_changes_an_answer_reports)
{
    test::fake_clock clock;
    fleet_view view(clock);
    auto opened = open_state(1, 30s);
    opened.changes = {{state::closed, state::open, "failure_threshold_reached"}};
    auto closed = closed_state(3);
    closed.changes = {{state::open, state::half_open, "reset_timeout_elapsed"},
                      {state::half_open, state::closed, "trial_succeeded"}};

    testing::internal::CaptureStdout();
    view.update(opened);
    view.update(closed);
    view.update(closed_state(3));  // a poll that changed nothing logs nothing
    const auto lines = log_lines(testing::internal::GetCapturedStdout(), "breaker.state_change");

    ASSERT_EQ(lines.size(), 3U);
    EXPECT_EQ(lines[0].at("scope"), "cluster");
    EXPECT_EQ(lines[0].at("from"), "CLOSED");
    EXPECT_EQ(lines[0].at("to"), "OPEN");
    EXPECT_EQ(lines[0].at("reason"), "failure_threshold_reached");
    EXPECT_EQ(lines[0].at("level"), "warning");
    EXPECT_EQ(lines[2].at("to"), "CLOSED");
    EXPECT_EQ(lines[2].at("level"), "info");

    const auto s = view.status();
    EXPECT_EQ(s.transitions, 3U);
    EXPECT_EQ(s.transitions_by_state[0][1], 1U);  // CLOSED -> OPEN
    EXPECT_EQ(s.transitions_by_state[1][2], 1U);  // OPEN -> HALF_OPEN
    EXPECT_EQ(s.transitions_by_state[2][0], 1U);  // HALF_OPEN -> CLOSED
}

TEST(fleet_view, logs_a_redis_outage_once_and_its_end_once)
{
    test::fake_clock clock;
    fleet_view view(clock);
    EXPECT_TRUE(view.available());
    testing::internal::CaptureStdout();
    view.lost("Connection refused");
    view.lost("Connection refused");
    view.lost("timeout");
    EXPECT_FALSE(view.available());
    view.regained();
    view.regained();
    const auto out = testing::internal::GetCapturedStdout();
    EXPECT_TRUE(view.available());

    const auto started = log_lines(out, "breaker.cluster_unavailable");
    ASSERT_EQ(started.size(), 1U);
    EXPECT_EQ(started[0].at("fallback"), "instance");
    EXPECT_EQ(started[0].at("error"), "Connection refused");
    const auto ended = log_lines(out, "breaker.cluster_unavailable.ended");
    ASSERT_EQ(ended.size(), 1U);
    EXPECT_EQ(ended[0].at("occurrences"), 3);
}

TEST(fleet_view, stays_consistent_while_threads_update_and_decide_at_once)
{
    test::fake_clock clock;
    fleet_view view(clock);
    view.update(closed_state(10));
    constexpr int threads = 4;
    constexpr int rounds = 2000;
    std::latch go(threads);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            go.arrive_and_wait();
            for (int i = 0; i < rounds; ++i) {
                if (t % 2 == 0) {
                    view.update(i % 2 == 0 ? closed_state(10) : open_state(11, 30s));
                } else {
                    const auto v = view.decide();
                    // Whatever interleaving, a verdict matches one of the two states written.
                    if (v.what == kind::allow) {
                        EXPECT_EQ(v.generation, 10U);
                    } else {
                        EXPECT_EQ(v.what, kind::reject);
                        EXPECT_EQ(v.retry_after, 30s);
                    }
                }
            }
        });
    }
    for (auto& th : pool) {
        th.join();
    }
}

}  // namespace
}  // namespace analytics::breaker
