#include "breaker/circuit_breaker.hpp"

#include "support/fake_clock.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <string>
#include <thread>
#include <vector>

namespace analytics::breaker {
namespace {

using namespace std::chrono_literals;

constexpr std::uint32_t threshold = 3;
constexpr auto reset_timeout = 30s;
constexpr auto trial_timeout = 5s;

config::breaker_options options(std::uint32_t failures = threshold,
                                std::chrono::milliseconds reset = reset_timeout)
{
    config::breaker_options o;
    o.failure_threshold = failures;
    o.reset_timeout = reset;
    return o;
}

// A breaker on a fake clock, with helpers to drive it through its states.
struct breaker_fixture {
    test::fake_clock clock;
    circuit_breaker breaker{options(), trial_timeout, clock};

    void fail_times(std::uint32_t n)
    {
        for (std::uint32_t i = 0; i < n; ++i) {
            auto t = breaker.try_acquire();
            ASSERT_TRUE(t.allowed());
            t.record_failure("test failure");
        }
    }

    void succeed_times(std::uint32_t n)
    {
        for (std::uint32_t i = 0; i < n; ++i) {
            auto t = breaker.try_acquire();
            ASSERT_TRUE(t.allowed());
            t.record_success();
        }
    }

    void open() { fail_times(threshold); }

    void open_then_wait_for_half_open()
    {
        open();
        clock.advance(reset_timeout);
    }
};

// ---- CLOSED ---------------------------------------------------------------------------------

TEST(circuit_breaker, starts_closed_with_zero_counters)
{
    breaker_fixture f;
    const auto s = f.breaker.status();
    EXPECT_EQ(s.current, state::closed);
    EXPECT_EQ(s.failure_count, 0U);
    EXPECT_EQ(s.success_count, 0U);
    EXPECT_FALSE(s.opened_at);
    EXPECT_FALSE(s.retry_after);
    EXPECT_EQ(s.transitions, 0U);
}

TEST(circuit_breaker, lets_every_call_through_when_closed)
{
    breaker_fixture f;
    auto a = f.breaker.try_acquire();
    auto b = f.breaker.try_acquire();
    EXPECT_TRUE(a.allowed());
    EXPECT_TRUE(b.allowed());
    EXPECT_FALSE(a.is_trial());
    EXPECT_EQ(a.retry_after(), 0s);
    a.record_success();
    b.record_success();
}

TEST(circuit_breaker, counts_consecutive_failures_while_closed)
{
    breaker_fixture f;
    f.fail_times(threshold - 1);
    const auto s = f.breaker.status();
    EXPECT_EQ(s.current, state::closed);
    EXPECT_EQ(s.failure_count, threshold - 1);
}

TEST(circuit_breaker, a_success_resets_the_failure_count_while_closed)
{
    breaker_fixture f;
    f.fail_times(threshold - 1);
    f.succeed_times(1);
    EXPECT_EQ(f.breaker.status().failure_count, 0U);
    // The count starts over: threshold - 1 more failures still leave it closed.
    f.fail_times(threshold - 1);
    EXPECT_EQ(f.breaker.status().current, state::closed);
}

TEST(circuit_breaker, counts_successes_while_closed)
{
    breaker_fixture f;
    f.succeed_times(5);
    f.fail_times(1);
    f.succeed_times(2);
    const auto s = f.breaker.status();
    EXPECT_EQ(s.success_count, 7U);
    EXPECT_EQ(s.failure_count, 0U);
}

TEST(circuit_breaker, opens_at_the_failure_threshold)
{
    breaker_fixture f;
    const auto before = f.clock.now();
    f.open();
    const auto s = f.breaker.status();
    EXPECT_EQ(s.current, state::open);
    EXPECT_EQ(s.failure_count, threshold);
    EXPECT_EQ(s.success_count, 0U);
    ASSERT_TRUE(s.opened_at);
    EXPECT_EQ(*s.opened_at, before);
    EXPECT_EQ(s.transitions, 1U);
}

TEST(circuit_breaker, a_threshold_of_zero_behaves_like_one)
{
    test::fake_clock clock;
    circuit_breaker b(options(0), trial_timeout, clock);
    b.try_acquire().record_failure();
    EXPECT_EQ(b.status().current, state::open);
}

TEST(circuit_breaker, opening_resets_the_success_count)
{
    breaker_fixture f;
    f.succeed_times(4);
    f.open();
    EXPECT_EQ(f.breaker.status().success_count, 0U);
}

// ---- OPEN -----------------------------------------------------------------------------------

TEST(circuit_breaker, rejects_at_once_while_open)
{
    breaker_fixture f;
    f.open();
    auto t = f.breaker.try_acquire();
    EXPECT_FALSE(t.allowed());
    EXPECT_FALSE(static_cast<bool>(t));
    EXPECT_FALSE(t.is_trial());
    // Reporting on a rejected ticket changes nothing.
    t.record_failure();
    t.record_success();
    const auto s = f.breaker.status();
    EXPECT_EQ(s.failure_count, threshold);
    EXPECT_EQ(s.success_count, 0U);
    EXPECT_EQ(s.current, state::open);
}

TEST(circuit_breaker, retry_after_counts_down_whole_seconds_to_the_next_trial)
{
    breaker_fixture f;
    f.open();
    EXPECT_EQ(f.breaker.try_acquire().retry_after(), 30s);
    EXPECT_EQ(f.breaker.status().retry_after, 30s);
    f.clock.advance(10500ms);
    // 19.5 s left rounds up: a client that waits 19 s would still be rejected.
    EXPECT_EQ(f.breaker.try_acquire().retry_after(), 20s);
    f.clock.advance(19400ms);
    EXPECT_EQ(f.breaker.try_acquire().retry_after(), 1s);
    EXPECT_EQ(f.breaker.status().retry_after, 1s);
}

TEST(circuit_breaker, retry_after_is_at_least_one_second)
{
    test::fake_clock clock;
    circuit_breaker b(options(1, 200ms), trial_timeout, clock);
    b.try_acquire().record_failure();
    EXPECT_EQ(b.try_acquire().retry_after(), 1s);
    clock.advance(199ms);
    EXPECT_EQ(b.try_acquire().retry_after(), 1s);
}

TEST(circuit_breaker, stays_open_until_the_reset_timeout_has_passed)
{
    breaker_fixture f;
    f.open();
    f.clock.advance(reset_timeout - 1ms);
    EXPECT_EQ(f.breaker.status().current, state::open);
    EXPECT_FALSE(f.breaker.try_acquire().allowed());
}

// ---- HALF_OPEN ------------------------------------------------------------------------------

TEST(circuit_breaker, reports_half_open_once_the_reset_timeout_has_passed)
{
    breaker_fixture f;
    const auto opened = f.clock.now();
    f.open_then_wait_for_half_open();
    const auto s = f.breaker.status();
    EXPECT_EQ(s.current, state::half_open);
    EXPECT_EQ(s.failure_count, threshold);
    EXPECT_EQ(s.success_count, 0U);
    ASSERT_TRUE(s.opened_at);
    EXPECT_EQ(*s.opened_at, opened);
    // A trial would be let through now: nothing to wait for.
    EXPECT_FALSE(s.retry_after);
    EXPECT_FALSE(s.trial_in_flight);
    EXPECT_EQ(s.transitions, 2U);
}

TEST(circuit_breaker, lets_one_trial_through_when_half_open)
{
    breaker_fixture f;
    f.open_then_wait_for_half_open();
    auto trial = f.breaker.try_acquire();
    EXPECT_TRUE(trial.allowed());
    EXPECT_TRUE(trial.is_trial());
    for (int i = 0; i < 5; ++i) {
        auto other = f.breaker.try_acquire();
        EXPECT_FALSE(other.allowed());
    }
    EXPECT_TRUE(f.breaker.status().trial_in_flight);
    EXPECT_EQ(f.breaker.status().current, state::half_open);
    trial.record_success();
}

TEST(circuit_breaker, lets_exactly_one_trial_through_under_100_concurrent_callers)
{
    // Repeated, because one lucky interleaving proves little.
    for (int round = 0; round < 20; ++round) {
        breaker_fixture f;
        f.open_then_wait_for_half_open();

        constexpr int callers = 100;
        std::latch start(callers);
        std::vector<ticket> tickets(callers);
        std::vector<std::thread> threads;
        threads.reserve(callers);
        for (int i = 0; i < callers; ++i) {
            threads.emplace_back([&, i] {
                start.arrive_and_wait();
                tickets[static_cast<std::size_t>(i)] = f.breaker.try_acquire();
            });
        }
        for (auto& t : threads) {
            t.join();
        }
        int allowed = 0;
        int trials = 0;
        for (const auto& t : tickets) {
            allowed += t.allowed() ? 1 : 0;
            trials += t.is_trial() ? 1 : 0;
            if (!t.allowed()) {
                EXPECT_EQ(t.retry_after(), trial_timeout);
            }
        }
        ASSERT_EQ(allowed, 1) << "round " << round;
        ASSERT_EQ(trials, 1) << "round " << round;
        for (auto& t : tickets) {
            t.record_success();
        }
        EXPECT_EQ(f.breaker.status().current, state::closed);
    }
}

TEST(circuit_breaker, closes_and_resets_the_counters_when_the_trial_succeeds)
{
    breaker_fixture f;
    f.open_then_wait_for_half_open();
    f.breaker.try_acquire().record_success();
    const auto s = f.breaker.status();
    EXPECT_EQ(s.current, state::closed);
    EXPECT_EQ(s.failure_count, 0U);
    EXPECT_EQ(s.success_count, 0U);
    EXPECT_FALSE(s.opened_at);
    EXPECT_FALSE(s.retry_after);
    EXPECT_EQ(s.transitions, 3U);
    // Closed again: calls flow and are counted afresh.
    f.succeed_times(2);
    EXPECT_EQ(f.breaker.status().success_count, 2U);
}

TEST(circuit_breaker, needs_the_full_threshold_again_after_closing)
{
    breaker_fixture f;
    f.open_then_wait_for_half_open();
    f.breaker.try_acquire().record_success();
    f.fail_times(threshold - 1);
    EXPECT_EQ(f.breaker.status().current, state::closed);
    f.fail_times(1);
    EXPECT_EQ(f.breaker.status().current, state::open);
}

TEST(circuit_breaker, reopens_when_the_trial_fails)
{
    breaker_fixture f;
    f.open_then_wait_for_half_open();
    const auto reopened = f.clock.now();
    f.breaker.try_acquire().record_failure("HTTP 500");
    const auto s = f.breaker.status();
    EXPECT_EQ(s.current, state::open);
    EXPECT_EQ(s.failure_count, threshold + 1);
    ASSERT_TRUE(s.opened_at);
    EXPECT_EQ(*s.opened_at, reopened);
    // The reset timeout starts over from the failed trial.
    EXPECT_EQ(s.retry_after, 30s);
    EXPECT_FALSE(f.breaker.try_acquire().allowed());
    f.clock.advance(reset_timeout);
    EXPECT_EQ(f.breaker.status().current, state::half_open);
    EXPECT_TRUE(f.breaker.try_acquire().is_trial());
}

TEST(circuit_breaker, tells_rejected_callers_to_retry_when_the_trial_must_have_decided)
{
    breaker_fixture f;
    f.open_then_wait_for_half_open();
    auto trial = f.breaker.try_acquire();
    EXPECT_EQ(f.breaker.try_acquire().retry_after(), 5s);
    EXPECT_EQ(f.breaker.status().retry_after, 5s);
    f.clock.advance(3500ms);
    EXPECT_EQ(f.breaker.try_acquire().retry_after(), 2s);
    trial.record_success();
}

TEST(circuit_breaker, a_hung_trial_times_out_and_reopens)
{
    breaker_fixture f;
    f.open_then_wait_for_half_open();
    auto trial = f.breaker.try_acquire();
    ASSERT_TRUE(trial.is_trial());
    const auto deadline_wall = f.clock.now() + trial_timeout;

    f.clock.advance(trial_timeout - 1ms);
    EXPECT_EQ(f.breaker.status().current, state::half_open);

    f.clock.advance(1ms);
    const auto s = f.breaker.status();
    EXPECT_EQ(s.current, state::open);
    EXPECT_EQ(s.failure_count, threshold + 1);
    EXPECT_FALSE(s.trial_in_flight);
    ASSERT_TRUE(s.opened_at);
    EXPECT_EQ(*s.opened_at, deadline_wall);
    EXPECT_EQ(s.retry_after, 30s);

    // The trial's late answer is stale: it neither closes the breaker nor counts.
    trial.record_success();
    const auto after = f.breaker.status();
    EXPECT_EQ(after.current, state::open);
    EXPECT_EQ(after.failure_count, threshold + 1);
    EXPECT_EQ(after.success_count, 0U);
    EXPECT_EQ(after.transitions, s.transitions);
}

TEST(circuit_breaker, a_hung_trial_is_noticed_by_the_next_acquire)
{
    breaker_fixture f;
    f.open_then_wait_for_half_open();
    auto trial = f.breaker.try_acquire();
    f.clock.advance(trial_timeout);
    auto next = f.breaker.try_acquire();
    EXPECT_FALSE(next.allowed());
    EXPECT_EQ(next.retry_after(), 30s);
    // Its late failure does not count twice.
    trial.record_failure();
    EXPECT_EQ(f.breaker.status().failure_count, threshold + 1);
}

TEST(circuit_breaker, a_hung_trial_noticed_late_counts_the_reset_timeout_from_its_deadline)
{
    breaker_fixture f;
    f.open_then_wait_for_half_open();
    auto trial = f.breaker.try_acquire();
    // Nobody looks until long after the trial's deadline plus a whole reset timeout.
    f.clock.advance(trial_timeout + reset_timeout + 1s);
    const auto s = f.breaker.status();
    EXPECT_EQ(s.current, state::half_open);
    EXPECT_EQ(s.failure_count, threshold + 1);
    // open, half-open, open (timed out), half-open.
    EXPECT_EQ(s.transitions, 4U);
    auto next = f.breaker.try_acquire();
    EXPECT_TRUE(next.is_trial());
    next.record_success();
    EXPECT_EQ(f.breaker.status().current, state::closed);
}

TEST(circuit_breaker, reopens_when_the_trial_ticket_is_dropped_unreported)
{
    breaker_fixture f;
    f.open_then_wait_for_half_open();
    {
        auto trial = f.breaker.try_acquire();
        ASSERT_TRUE(trial.is_trial());
    }
    const auto s = f.breaker.status();
    EXPECT_EQ(s.current, state::open);
    EXPECT_EQ(s.failure_count, threshold + 1);
}

TEST(circuit_breaker, a_reset_timeout_of_zero_goes_half_open_at_once)
{
    test::fake_clock clock;
    circuit_breaker b(options(1, 0ms), trial_timeout, clock);
    b.try_acquire().record_failure();
    EXPECT_EQ(b.status().current, state::half_open);
    EXPECT_TRUE(b.try_acquire().is_trial());
}

// ---- tickets --------------------------------------------------------------------------------

TEST(circuit_breaker, a_dropped_ticket_counts_as_a_failure)
{
    breaker_fixture f;
    {
        auto t = f.breaker.try_acquire();
    }
    EXPECT_EQ(f.breaker.status().failure_count, 1U);
}

TEST(circuit_breaker, a_ticket_reports_only_its_first_outcome)
{
    breaker_fixture f;
    auto t = f.breaker.try_acquire();
    t.record_success();
    t.record_failure();
    t.record_failure();
    const auto s = f.breaker.status();
    EXPECT_EQ(s.success_count, 1U);
    EXPECT_EQ(s.failure_count, 0U);
}

TEST(circuit_breaker, a_moved_ticket_reports_once)
{
    breaker_fixture f;
    auto a = f.breaker.try_acquire();
    ticket b = std::move(a);
    EXPECT_TRUE(b.allowed());
    EXPECT_FALSE(a.allowed());  // NOLINT(bugprone-use-after-move): checking the moved-from state
    a.record_success();
    b.record_failure();
    const auto s = f.breaker.status();
    EXPECT_EQ(s.failure_count, 1U);
    EXPECT_EQ(s.success_count, 0U);
}

TEST(circuit_breaker, assigning_over_an_unreported_ticket_counts_it_as_failed)
{
    breaker_fixture f;
    auto a = f.breaker.try_acquire();
    a = f.breaker.try_acquire();
    EXPECT_EQ(f.breaker.status().failure_count, 1U);
    a.record_success();
    EXPECT_EQ(f.breaker.status().failure_count, 0U);
}

TEST(circuit_breaker, ignores_outcomes_of_tickets_issued_before_it_opened)
{
    breaker_fixture f;
    // Slow calls started while closed...
    auto slow_failure = f.breaker.try_acquire();
    auto slow_success = f.breaker.try_acquire();
    // ...finish after the breaker has opened because of others.
    f.open();
    slow_failure.record_failure();
    slow_success.record_success();
    const auto s = f.breaker.status();
    EXPECT_EQ(s.current, state::open);
    EXPECT_EQ(s.failure_count, threshold);
    EXPECT_EQ(s.success_count, 0U);
}

TEST(circuit_breaker, a_stale_success_cannot_close_a_half_open_breaker)
{
    breaker_fixture f;
    auto slow = f.breaker.try_acquire();
    f.open_then_wait_for_half_open();
    slow.record_success();
    const auto s = f.breaker.status();
    EXPECT_EQ(s.current, state::half_open);
    EXPECT_EQ(s.success_count, 0U);
    // The trial slot is still free.
    EXPECT_TRUE(f.breaker.try_acquire().is_trial());
}

TEST(circuit_breaker, ignores_tickets_from_an_earlier_closed_period)
{
    breaker_fixture f;
    auto old = f.breaker.try_acquire();
    f.open_then_wait_for_half_open();
    f.breaker.try_acquire().record_success();
    ASSERT_EQ(f.breaker.status().current, state::closed);
    f.fail_times(threshold - 1);
    // Closed again, but `old` belongs to the first closed period: its failure must not be the
    // one that tips the new count over the threshold.
    old.record_failure();
    const auto s = f.breaker.status();
    EXPECT_EQ(s.current, state::closed);
    EXPECT_EQ(s.failure_count, threshold - 1);
}

TEST(circuit_breaker, stays_consistent_under_concurrent_closed_traffic)
{
    test::fake_clock clock;
    circuit_breaker b(options(1'000'000), trial_timeout, clock);
    constexpr int threads = 8;
    constexpr int calls = 2000;
    std::vector<std::thread> pool;
    for (int i = 0; i < threads; ++i) {
        pool.emplace_back([&] {
            for (int k = 0; k < calls; ++k) {
                b.try_acquire().record_success();
            }
        });
    }
    for (auto& t : pool) {
        t.join();
    }
    EXPECT_EQ(b.status().success_count, static_cast<std::uint64_t>(threads * calls));
}

// ---- logging --------------------------------------------------------------------------------

std::vector<boost::json::object> state_change_lines(const std::string& output)
{
    std::vector<boost::json::object> out;
    std::size_t start = 0;
    while (start < output.size()) {
        auto end = output.find('\n', start);
        if (end == std::string::npos) {
            end = output.size();
        }
        const auto line = std::string_view(output).substr(start, end - start);
        start = end + 1;
        boost::system::error_code ec;
        auto v = boost::json::parse(line, ec);
        if (!ec && v.is_object() && v.as_object().contains("event") &&
            v.as_object().at("event") == "breaker.state_change") {
            out.push_back(v.as_object());
        }
    }
    return out;
}

TEST(circuit_breaker, logs_one_line_per_transition_with_old_and_new_state)
{
    breaker_fixture f;
    testing::internal::CaptureStdout();
    f.fail_times(threshold - 1);
    f.breaker.try_acquire().record_failure("HTTP 503");  // CLOSED -> OPEN
    f.breaker.status();
    f.clock.advance(reset_timeout);
    f.breaker.status();  // OPEN -> HALF_OPEN
    f.breaker.status();
    f.breaker.try_acquire().record_failure("timeout");  // HALF_OPEN -> OPEN
    f.clock.advance(reset_timeout);
    auto trial = f.breaker.try_acquire();  // OPEN -> HALF_OPEN
    f.clock.advance(trial_timeout);
    f.breaker.status();  // HALF_OPEN -> OPEN (timed out)
    f.clock.advance(reset_timeout);
    f.breaker.try_acquire().record_success();  // OPEN -> HALF_OPEN -> CLOSED
    const auto lines = state_change_lines(testing::internal::GetCapturedStdout());

    struct expected {
        const char* from;
        const char* to;
        const char* reason;
    };
    const expected want[] = {
        {"CLOSED", "OPEN", "failure_threshold_reached"},
        {"OPEN", "HALF_OPEN", "reset_timeout_elapsed"},
        {"HALF_OPEN", "OPEN", "trial_failed"},
        {"OPEN", "HALF_OPEN", "reset_timeout_elapsed"},
        {"HALF_OPEN", "OPEN", "trial_timed_out"},
        {"OPEN", "HALF_OPEN", "reset_timeout_elapsed"},
        {"HALF_OPEN", "CLOSED", "trial_succeeded"},
    };
    ASSERT_EQ(lines.size(), std::size(want));
    for (std::size_t i = 0; i < lines.size(); ++i) {
        EXPECT_EQ(lines[i].at("from"), want[i].from) << i;
        EXPECT_EQ(lines[i].at("to"), want[i].to) << i;
        EXPECT_EQ(lines[i].at("reason"), want[i].reason) << i;
        EXPECT_EQ(lines[i].at("transition").to_number<std::uint64_t>(), i + 1) << i;
    }
    EXPECT_EQ(lines[0].at("cause"), "HTTP 503");
    EXPECT_EQ(lines[0].at("level"), "warning");
    EXPECT_EQ(lines[0].at("failure_count").to_number<std::uint64_t>(), threshold);
    EXPECT_EQ(lines[2].at("cause"), "timeout");
    EXPECT_EQ(lines[6].at("level"), "info");
}

TEST(circuit_breaker, names_its_states_as_the_contract_spells_them)
{
    EXPECT_EQ(to_string(state::closed), "CLOSED");
    EXPECT_EQ(to_string(state::open), "OPEN");
    EXPECT_EQ(to_string(state::half_open), "HALF_OPEN");
}

}  // namespace
}  // namespace analytics::breaker
