// The sliding window arithmetic on its own: weighting at window boundaries, remaining, reset and
// the exactness of Retry-After. The Redis script is checked against the same functions in
// sliding_window_limiter_redistest.cpp.

#include "ratelimit/window_math.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

namespace analytics::ratelimit {
namespace {

using namespace std::chrono_literals;

constexpr window_policy ten_per_minute{10, 60'000};

// The sample as it will be `d` ms later with no request admitted meanwhile: what the script or
// the backstop would read then.
window_sample later(const window_sample& s, std::int64_t d, const window_policy& p)
{
    const std::int64_t at = s.elapsed_ms + d;
    if (at < p.window_ms) {
        return {s.previous, s.current, at};
    }
    if (at < 2 * p.window_ms) {
        return {s.current, 0, at - p.window_ms};
    }
    return {0, 0, at % p.window_ms};
}

TEST(window_math, admits_the_first_requests_of_a_fresh_window_up_to_the_limit)
{
    EXPECT_TRUE(admits({0, 0, 0}, ten_per_minute));
    EXPECT_TRUE(admits({0, 9, 30'000}, ten_per_minute));
    EXPECT_FALSE(admits({0, 10, 30'000}, ten_per_minute));
}

TEST(window_math, counts_the_previous_window_in_full_at_the_start_of_a_window)
{
    // Ten requests in the last window weigh 10 * (1 - 0/60) = 10 at the boundary.
    EXPECT_FALSE(admits({10, 0, 0}, ten_per_minute));
    EXPECT_TRUE(admits({9, 0, 0}, ten_per_minute));
}

TEST(window_math, lets_the_previous_window_fade_in_proportion_to_the_time_elapsed)
{
    // 10 * (1 - elapsed/60 s) + 1 <= 10 first holds at elapsed = 6 s, to the millisecond.
    EXPECT_FALSE(admits({10, 0, 5'999}, ten_per_minute));
    EXPECT_TRUE(admits({10, 0, 6'000}, ten_per_minute));

    // Half way through, half of the previous window still counts.
    EXPECT_TRUE(admits({10, 4, 30'000}, ten_per_minute));
    EXPECT_FALSE(admits({10, 5, 30'000}, ten_per_minute));

    // At the last millisecond almost nothing of it is left, but not nothing.
    EXPECT_FALSE(admits({10, 9, 59'999}, ten_per_minute));
    EXPECT_TRUE(admits({10, 8, 59'999}, ten_per_minute));
}

TEST(window_math, keeps_counts_exact_where_floating_point_would_round)
{
    // 3 * (1 - 20/60) + 7 + 1 = 10 exactly; in doubles 2/3 * 3 may not come out as 2.
    const window_policy p{10, 60};
    EXPECT_TRUE(admits({3, 7, 20}, p));
    EXPECT_FALSE(admits({3, 7, 19}, p));
}

TEST(window_math, reports_what_remains_after_counting_the_request)
{
    const decision first = decide({0, 0, 0}, true, ten_per_minute, decision_source::redis);
    EXPECT_TRUE(first.allowed);
    EXPECT_EQ(first.limit, 10U);
    EXPECT_EQ(first.remaining, 9U);
    EXPECT_EQ(first.window, 60s);

    const decision tenth = decide({0, 9, 0}, true, ten_per_minute, decision_source::redis);
    EXPECT_EQ(tenth.remaining, 0U);

    // 10 * 0.5 + 0 + 1 = 6 used, 4 remain.
    const decision mid = decide({10, 0, 30'000}, true, ten_per_minute, decision_source::redis);
    EXPECT_EQ(mid.remaining, 4U);
}

TEST(window_math, resets_when_remaining_next_grows)
{
    // One request in a fresh window: it counts in full to the end of this window and fades
    // over the next, so remaining is back to 10 only two windows after it.
    const decision first = decide({0, 0, 0}, true, ten_per_minute, decision_source::redis);
    EXPECT_EQ(first.reset, 120s);
    EXPECT_EQ(first.reset_seconds(), 120);

    // 10 * 0.5 + 1 = 6 used: remaining 4 becomes 5 when 10 * (30 - d)/60 + 1 <= 5, at d = 6 s.
    const decision mid = decide({10, 0, 30'000}, true, ten_per_minute, decision_source::redis);
    EXPECT_EQ(mid.reset, 6s);
}

TEST(window_math, gives_a_retry_after_beyond_the_window_when_the_current_window_is_full)
{
    // Ten requests at the very start of a window: the next window starts with them weighing
    // 10 in full, and one fits only once they weigh 9, a tenth of a window later.
    const decision d = decide({0, 10, 0}, false, ten_per_minute, decision_source::redis);
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.remaining, 0U);
    EXPECT_EQ(d.retry_after, 66s);
    EXPECT_EQ(d.retry_after_seconds(), 66);
    EXPECT_EQ(d.reset, d.retry_after);
}

TEST(window_math, rounds_retry_after_up_to_whole_seconds_and_never_below_one)
{
    decision d;
    d.allowed = false;
    d.retry_after = 1ms;
    EXPECT_EQ(d.retry_after_seconds(), 1);
    d.retry_after = 1000ms;
    EXPECT_EQ(d.retry_after_seconds(), 1);
    d.retry_after = 1001ms;
    EXPECT_EQ(d.retry_after_seconds(), 2);
    d.retry_after = 0ms;
    EXPECT_EQ(d.retry_after_seconds(), 1);
}

// Every refused sample of a grid over limits, windows, counts and boundary times.
struct refused_case {
    window_policy policy;
    window_sample sample;
};

std::vector<refused_case> refused_grid()
{
    std::vector<refused_case> out;
    for (const window_policy p : {window_policy{1, 1'000}, window_policy{3, 7'000},
                                  window_policy{10, 60'000}, window_policy{7, 3'600'000}}) {
        const std::int64_t w = p.window_ms;
        for (std::int64_t prev = 0; prev <= p.limit; ++prev) {
            for (std::int64_t cur = 0; cur <= p.limit; ++cur) {
                for (const std::int64_t e :
                     {std::int64_t{0}, std::int64_t{1}, std::int64_t{999}, std::int64_t{1000},
                      w / 3, w / 2, w - 1001, w - 1000, w - 999, w - 1}) {
                    const window_sample s{prev, cur, std::clamp<std::int64_t>(e, 0, w - 1)};
                    if (!admits(s, p)) {
                        out.push_back({p, s});
                    }
                }
            }
        }
    }
    return out;
}

TEST(window_math, retry_after_seconds_later_passes_and_one_second_earlier_does_not)
{
    const auto grid = refused_grid();
    ASSERT_GT(grid.size(), 100U);
    for (const auto& [p, s] : grid) {
        const decision d = decide(s, false, p, decision_source::redis);
        const std::int64_t seconds = d.retry_after_seconds();
        ASSERT_GE(seconds, 1);
        EXPECT_TRUE(admits(later(s, seconds * 1000, p), p))
            << "limit " << p.limit << " window " << p.window_ms << " sample {" << s.previous << ", "
            << s.current << ", " << s.elapsed_ms << "} retry " << seconds;
        if (seconds >= 2) {
            EXPECT_FALSE(admits(later(s, (seconds - 1) * 1000, p), p))
                << "limit " << p.limit << " window " << p.window_ms << " sample {" << s.previous
                << ", " << s.current << ", " << s.elapsed_ms << "} retry " << seconds;
        }
    }
}

TEST(window_math, retry_after_is_exact_to_the_millisecond)
{
    for (const auto& [p, s] : refused_grid()) {
        const std::int64_t ms = decide(s, false, p, decision_source::redis).retry_after.count();
        EXPECT_TRUE(admits(later(s, ms, p), p));
        EXPECT_FALSE(admits(later(s, ms - 1, p), p));
    }
}

TEST(window_math, retry_after_exceeds_what_is_left_of_the_window_by_at_most_window_over_limit)
{
    for (const auto& [p, s] : refused_grid()) {
        const std::int64_t ms = decide(s, false, p, decision_source::redis).retry_after.count();
        const std::int64_t window_over_limit = (p.window_ms + p.limit - 1) / p.limit;
        const std::int64_t bound = (p.window_ms - s.elapsed_ms) + window_over_limit;
        EXPECT_LE(ms, bound);
    }
}

TEST(window_math, reset_is_when_remaining_grows)
{
    const window_policy p = ten_per_minute;
    for (std::int64_t prev = 0; prev <= 10; ++prev) {
        for (std::int64_t cur = 0; cur < 10; ++cur) {
            for (const std::int64_t e : {0, 1, 20'000, 45'555, 59'999}) {
                const window_sample s{prev, cur, e};
                if (!admits(s, p)) {
                    continue;
                }
                const decision d = decide(s, true, p, decision_source::redis);
                const window_sample counted{prev, cur + 1, e};
                auto remaining_after = [&](std::int64_t ms) {
                    const window_sample x = later(counted, ms, p);
                    return (p.limit * p.window_ms - scaled_count(x, p)) / p.window_ms;
                };
                EXPECT_EQ(remaining_after(0), d.remaining);
                EXPECT_EQ(remaining_after(d.reset.count()), d.remaining + 1);
                EXPECT_EQ(remaining_after(d.reset.count() - 1), d.remaining);
            }
        }
    }
}

TEST(window_policy, fits_the_defaults_and_not_products_past_two_to_the_53)
{
    const window_policy p = window_policy::of(10, 60s);
    EXPECT_EQ(p.limit, 10);
    EXPECT_EQ(p.window_ms, 60'000);
    EXPECT_EQ(p.window(), 60s);

    EXPECT_TRUE(window_policy::fits(10, 60s));
    EXPECT_TRUE(window_policy::fits(1'000'000, std::chrono::seconds(9'000'000)));
    // 2^53 ms / 1000 = 9,007,199,254,740 request-seconds: the last product that fits, and one past.
    EXPECT_TRUE(window_policy::fits(1, std::chrono::seconds(max_scaled_count / 1000)));
    EXPECT_FALSE(window_policy::fits(1, std::chrono::seconds(max_scaled_count / 1000 + 1)));
    EXPECT_FALSE(window_policy::fits(2'000'000'000, std::chrono::seconds(86'400)));
    EXPECT_FALSE(window_policy::fits(4'000'000'000U, std::chrono::seconds(86'400)));
    EXPECT_FALSE(window_policy::fits(0, 60s));
    EXPECT_FALSE(window_policy::fits(10, 0s));
}

}  // namespace
}  // namespace analytics::ratelimit
