#include "ratelimit/local_backstop.hpp"

#include "support/fake_clock.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace analytics::ratelimit {
namespace {

using namespace std::chrono_literals;

config::ratelimit_options per_window(std::uint32_t requests, std::chrono::seconds window)
{
    config::ratelimit_options o;
    o.requests = requests;
    o.window = window;
    return o;
}

// The fake clock's monotonic time starts at 1 s; this moves it to the start of a window.
void to_window_start(test::fake_clock& clock, std::chrono::seconds window)
{
    const auto since_epoch = clock.steady_now().time_since_epoch();
    clock.advance(window - since_epoch % window);
}

int admitted(local_backstop& backstop, std::string_view client, int attempts)
{
    int n = 0;
    for (int i = 0; i < attempts; ++i) {
        n += backstop.check(client).allowed ? 1 : 0;
    }
    return n;
}

TEST(local_backstop, admits_the_limit_per_window_and_refuses_the_rest)
{
    test::fake_clock clock;
    to_window_start(clock, 60s);
    local_backstop backstop(per_window(10, 60s), clock);

    for (std::uint32_t i = 0; i < 10; ++i) {
        const decision d = backstop.check("198.51.100.1");
        EXPECT_TRUE(d.allowed);
        EXPECT_EQ(d.remaining, 9 - i);
        EXPECT_EQ(d.source, decision_source::local_backstop);
    }
    const decision refused = backstop.check("198.51.100.1");
    EXPECT_FALSE(refused.allowed);
    EXPECT_EQ(refused.retry_after, 66s);
    EXPECT_EQ(refused.source, decision_source::local_backstop);
}

TEST(local_backstop, counts_each_client_on_its_own)
{
    test::fake_clock clock;
    local_backstop backstop(per_window(3, 60s), clock);
    EXPECT_EQ(admitted(backstop, "198.51.100.1", 5), 3);
    EXPECT_EQ(admitted(backstop, "198.51.100.2", 5), 3);
    EXPECT_EQ(admitted(backstop, "2001:db8::1", 5), 3);
}

TEST(local_backstop, weighs_the_previous_window_across_the_boundary)
{
    test::fake_clock clock;
    to_window_start(clock, 60s);
    local_backstop backstop(per_window(10, 60s), clock);
    EXPECT_EQ(admitted(backstop, "c", 10), 10);

    // At the boundary the ten still weigh ten; 6 s later they weigh nine.
    clock.advance(60s);
    EXPECT_FALSE(backstop.check("c").allowed);
    clock.advance(5999ms);
    EXPECT_FALSE(backstop.check("c").allowed);
    clock.advance(1ms);
    EXPECT_TRUE(backstop.check("c").allowed);
    EXPECT_FALSE(backstop.check("c").allowed);

    // Half way through: 10 * 0.5 + 1 already counted leaves room for four.
    clock.advance(24s);
    EXPECT_EQ(admitted(backstop, "c", 10), 4);
}

TEST(local_backstop, admits_a_refused_request_exactly_retry_after_seconds_later)
{
    test::fake_clock clock;
    clock.advance(12'345ms);
    local_backstop backstop(per_window(7, 30s), clock);
    EXPECT_EQ(admitted(backstop, "c", 7), 7);

    for (int round = 0; round < 20; ++round) {
        const decision refused = backstop.check("c");
        ASSERT_FALSE(refused.allowed);
        const auto wait = std::chrono::seconds(refused.retry_after_seconds());
        clock.advance(wait - 1s);
        if (wait > 1s) {
            EXPECT_FALSE(backstop.check("c").allowed) << "round " << round;
        }
        clock.advance(1s);
        EXPECT_TRUE(backstop.check("c").allowed) << "round " << round;
    }
}

TEST(local_backstop, forgets_clients_that_have_been_quiet_for_two_windows)
{
    test::fake_clock clock;
    local_backstop backstop(per_window(10, 60s), clock);
    for (int i = 0; i < 100; ++i) {
        backstop.check("client-" + std::to_string(i));
    }
    EXPECT_EQ(backstop.size(), 100U);

    // One window later they still weigh something; two windows later they are dropped as each
    // shard is next used (a thousand new clients use every shard).
    clock.advance(60s);
    for (int i = 0; i < 1000; ++i) {
        backstop.check("other-" + std::to_string(i % 10));
    }
    EXPECT_EQ(backstop.size(), 110U);
    clock.advance(120s);
    for (int i = 0; i < 1000; ++i) {
        backstop.check("late-" + std::to_string(i));
    }
    EXPECT_EQ(backstop.size(), 1000U);
}

TEST(local_backstop, stays_within_its_capacity_and_keeps_limiting_its_heaviest_client)
{
    test::fake_clock clock;
    local_backstop backstop(per_window(10, 60s), clock, 256);
    EXPECT_EQ(admitted(backstop, "heavy", 10), 10);

    // A flood of distinct clients, each seen once, in the same window.
    for (int i = 0; i < 20'000; ++i) {
        backstop.check("spray-" + std::to_string(i));
        ASSERT_LE(backstop.size(), 256U);
    }
    EXPECT_FALSE(backstop.check("heavy").allowed);
}

TEST(local_backstop, admits_exactly_the_limit_under_concurrent_calls_from_many_threads)
{
    test::fake_clock clock;
    local_backstop backstop(per_window(500, 60s), clock);
    constexpr int threads = 8;
    constexpr int calls = 2'000;
    std::atomic<int> shared_admitted{0};
    std::atomic<int> own_admitted{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            const std::string own = "thread-" + std::to_string(t);
            for (int i = 0; i < calls; ++i) {
                if (backstop.check("shared").allowed) {
                    ++shared_admitted;
                }
                if (backstop.check(own).allowed) {
                    ++own_admitted;
                }
            }
        });
    }
    for (auto& th : pool) {
        th.join();
    }
    EXPECT_EQ(shared_admitted.load(), 500);
    EXPECT_EQ(own_admitted.load(), threads * 500);
    EXPECT_EQ(backstop.size(), static_cast<std::size_t>(threads + 1));
}

}  // namespace
}  // namespace analytics::ratelimit
