// The breaker in cluster scope against a real redis-server: several "instances" (each its own
// Redis connection, view, local breaker and scoped_breaker, as separate processes would have)
// share one breaker through cluster_store's script. Redis's clock drives the shared state, so
// these tests wait for real, with short timeouts.

#include "breaker/cluster_store.hpp"
#include "breaker/fleet_view.hpp"
#include "breaker/scoped_breaker.hpp"
#include "support/coro_helpers.hpp"
#include "support/redis_admin.hpp"
#include "support/redis_server.hpp"
#include "support/run_connected.hpp"
#include "support/run_coro.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace analytics::breaker {
namespace {

using namespace std::chrono_literals;
using test::sleep_for;

constexpr std::uint32_t threshold = 5;
constexpr auto reset_timeout = 300ms;
constexpr auto lease = 200ms;

config::breaker_options options()
{
    config::breaker_options o;
    o.failure_threshold = threshold;
    o.reset_timeout = reset_timeout;
    o.scope = config::breaker_scope::cluster;
    return o;
}

// One API instance as far as the breaker goes.
struct instance {
    instance(net::io_context& ioc, std::uint16_t port)
        : redis(ioc.get_executor(), test::client_options_for(port)),
          local(options(), lease, common::system_clock()),
          view(common::system_clock()),
          store(redis, options(), lease, 100ms),
          breaker(local, view, store)
    {
        net::co_spawn(ioc, redis.run(), [this](std::exception_ptr) { run_returned = true; });
    }

    redis::client redis;
    circuit_breaker local;
    fleet_view view;
    cluster_store store;
    scoped_breaker breaker;
    bool run_returned = false;
};

class cluster_breaker_redis : public ::testing::Test {
protected:
    cluster_breaker_redis() { admin_.command({"FLUSHDB"}); }

    void make(int n, std::uint16_t port = test::redis_test_port())
    {
        for (int i = 0; i < n; ++i) {
            fleet_.push_back(std::make_unique<instance>(ioc_, port));
        }
    }

    // Runs `body` once every instance is connected (when `wait_connected`), then stops them.
    void run(std::function<net::awaitable<void>()> body, bool wait_connected = true)
    {
        std::vector<redis::client*> clients;
        for (auto& i : fleet_) {
            clients.push_back(&i->redis);
        }
        test::run_connected(
            ioc_, clients, std::move(body),
            [&] {
                for (auto& i : fleet_) {
                    i->breaker.stop();
                    i->redis.stop();
                }
            },
            wait_connected);
        for (auto& i : fleet_) {
            EXPECT_TRUE(i->run_returned);
        }
    }

    // One call on `i` that fails (or succeeds); false when it was not let through.
    static net::awaitable<bool> call(instance& i, bool succeed)
    {
        auto p = co_await i.breaker.acquire();
        if (!p) {
            co_return false;
        }
        if (succeed) {
            co_await p.record_success();
        } else {
            co_await p.record_failure("test failure");
        }
        co_return true;
    }

    instance& at(std::size_t i) { return *fleet_[i]; }

    net::io_context ioc_;
    test::admin_connection admin_{test::redis_test_port()};
    std::vector<std::unique_ptr<instance>> fleet_;
};

TEST_F(cluster_breaker_redis, failures_spread_over_the_fleet_open_it_for_every_instance)
{
    make(3);
    run([&]() -> net::awaitable<void> {
        for (std::uint32_t n = 0; n < threshold; ++n) {
            const bool let_through = co_await call(at(n % 3), false);
            EXPECT_TRUE(let_through) << n;
        }
        for (std::size_t i = 0; i < 3; ++i) {
            const auto s = co_await at(i).breaker.status();
            EXPECT_EQ(s.scope, config::breaker_scope::cluster);
            EXPECT_FALSE(s.fallback);
            EXPECT_EQ(s.state.current, state::open) << i;
            EXPECT_EQ(s.state.failure_count, threshold) << i;
            EXPECT_TRUE(s.state.opened_at.has_value());
            EXPECT_EQ(s.state.retry_after, std::optional<std::chrono::seconds>(1s));
            auto rejected = co_await at(i).breaker.acquire();
            EXPECT_FALSE(rejected.allowed()) << i;
            EXPECT_EQ(rejected.retry_after(), 1s);
        }
    });
}

TEST_F(cluster_breaker_redis, a_success_anywhere_resets_the_consecutive_failures_of_the_fleet)
{
    make(2);
    run([&]() -> net::awaitable<void> {
        for (std::uint32_t n = 0; n < threshold - 1; ++n) {
            co_await call(at(0), false);
        }
        co_await call(at(1), true);
        auto s = co_await at(0).breaker.status();
        EXPECT_EQ(s.state.current, state::closed);
        EXPECT_EQ(s.state.failure_count, 0U);
        EXPECT_EQ(s.state.success_count, 1U);
        for (std::uint32_t n = 0; n < threshold - 1; ++n) {
            co_await call(at(1), false);
        }
        s = co_await at(0).breaker.status();
        EXPECT_EQ(s.state.current, state::closed);
        EXPECT_EQ(s.state.failure_count, threshold - 1);
    });
}

TEST_F(cluster_breaker_redis, concurrent_failures_open_it_once_and_count_exactly_the_threshold)
{
    make(3);
    std::vector<int> let_through(3, 0);
    run([&]() -> net::awaitable<void> {
        // Every instance's view says CLOSED, so 60 calls start; the script counts the outcomes
        // of the generation they started in until the threshold opens it, then ignores the rest.
        for (auto& i : fleet_) {
            co_await i->breaker.status();
        }
        co_await test::spawn_all(60, [&](int n) -> net::awaitable<void> {
            auto& who = at(static_cast<std::size_t>(n % 3));
            auto p = co_await who.breaker.acquire();
            if (p) {
                ++let_through[static_cast<std::size_t>(n % 3)];
                co_await p.record_failure("test failure");
            }
        });
        const auto s = co_await at(0).breaker.status();
        EXPECT_EQ(s.state.current, state::open);
        EXPECT_EQ(s.state.failure_count, threshold);
        std::uint64_t opened = 0;
        for (auto& i : fleet_) {
            opened += i->view.status().transitions_by_state[0][1];
        }
        EXPECT_EQ(opened, 1U) << "exactly one report opened it";
    });
}

TEST_F(cluster_breaker_redis, hands_the_trial_to_exactly_one_caller_across_the_fleet)
{
    make(3);
    int trials = 0;
    int rejected = 0;
    std::vector<permit> granted;
    run([&]() -> net::awaitable<void> {
        for (std::uint32_t n = 0; n < threshold; ++n) {
            co_await call(at(0), false);
        }
        co_await sleep_for(reset_timeout + 50ms);
        for (auto& i : fleet_) {
            const auto s = co_await i->breaker.status();
            EXPECT_EQ(s.state.current, state::half_open);
        }
        co_await test::spawn_all(30, [&](int n) -> net::awaitable<void> {
            auto p = co_await at(static_cast<std::size_t>(n % 3)).breaker.acquire();
            if (p) {
                EXPECT_TRUE(p.is_trial());
                ++trials;
                granted.push_back(std::move(p));
            } else {
                ++rejected;
                EXPECT_GE(p.retry_after(), 1s);
            }
        });
        EXPECT_EQ(trials, 1);
        EXPECT_EQ(rejected, 29);
        // The trial succeeds: closed everywhere, counters reset.
        if (!granted.empty()) {
            co_await granted.front().record_success();
        }
        for (auto& i : fleet_) {
            const auto s = co_await i->breaker.status();
            EXPECT_EQ(s.state.current, state::closed);
            EXPECT_EQ(s.state.failure_count, 0U);
            EXPECT_EQ(s.state.success_count, 0U);
            auto p = co_await i->breaker.acquire();
            EXPECT_TRUE(p.allowed());
            EXPECT_FALSE(p.is_trial());
        }
    });
}

TEST_F(cluster_breaker_redis, a_failed_trial_reopens_it_for_every_instance)
{
    make(2);
    run([&]() -> net::awaitable<void> {
        for (std::uint32_t n = 0; n < threshold; ++n) {
            co_await call(at(1), false);
        }
        co_await sleep_for(reset_timeout + 50ms);
        auto trial = co_await at(0).breaker.acquire();
        EXPECT_TRUE(trial.is_trial());
        co_await trial.record_failure("trial failure");
        const auto s = co_await at(1).breaker.status();
        EXPECT_EQ(s.state.current, state::open);
        EXPECT_EQ(s.state.failure_count, threshold + 1);
        auto p = co_await at(1).breaker.acquire();
        EXPECT_FALSE(p.allowed());
    });
}

TEST_F(cluster_breaker_redis, a_trial_that_never_reports_fails_when_its_lease_ends)
{
    make(2);
    run([&]() -> net::awaitable<void> {
        for (std::uint32_t n = 0; n < threshold; ++n) {
            co_await call(at(0), false);
        }
        co_await sleep_for(reset_timeout + 50ms);
        {
            auto trial = co_await at(0).breaker.acquire();
            EXPECT_TRUE(trial.is_trial());
            // Dropped unreported, as when the caller's coroutine is destroyed.
        }
        auto meanwhile = co_await at(1).breaker.acquire();
        EXPECT_FALSE(meanwhile.allowed()) << "the lease still holds the trial";
        co_await sleep_for(lease + 20ms);
        const auto s = co_await at(1).breaker.status();
        EXPECT_EQ(s.state.current, state::open);
        EXPECT_EQ(s.state.failure_count, threshold + 1);
    });
    const auto stored = admin_.command({"HGET", std::string(cluster_store::key), "state"});
    EXPECT_EQ(stored, "$1");
}

TEST_F(cluster_breaker_redis, ignores_the_outcome_of_a_call_let_through_before_the_state_changed)
{
    make(2);
    run([&]() -> net::awaitable<void> {
        co_await at(0).breaker.status();
        auto slow = co_await at(0).breaker.acquire();  // let through while CLOSED
        EXPECT_TRUE(slow.allowed());
        for (std::uint32_t n = 0; n < threshold; ++n) {
            co_await call(at(1), false);
        }
        co_await slow.record_success();  // from the earlier generation: says nothing now
        const auto s = co_await at(0).breaker.status();
        EXPECT_EQ(s.state.current, state::open);
        EXPECT_EQ(s.state.success_count, 0U);
    });
}

TEST_F(cluster_breaker_redis, learns_of_changes_made_elsewhere_by_its_poll)
{
    make(2);
    bool seen_open = false;
    run([&]() -> net::awaitable<void> {
        net::co_spawn(ioc_, at(0).breaker.watch(20ms), net::detached);
        co_await at(0).breaker.status();
        for (std::uint32_t n = 0; n < threshold; ++n) {
            co_await call(at(1), false);
        }
        // Instance 0 makes no call and asks nothing: only its poll can tell it.
        seen_open = co_await test::eventually(
            [&] { return at(0).breaker.current().state.current == state::open; }, 2s);
    });
    EXPECT_TRUE(seen_open);
}

TEST_F(cluster_breaker_redis, falls_back_to_the_instance_breaker_while_redis_is_unreachable)
{
    // Nothing listens on this port: every Redis call fails at once (not connected).
    make(1, test::free_port());
    testing::internal::CaptureStdout();
    run(
        [&]() -> net::awaitable<void> {
            for (std::uint32_t n = 0; n < threshold; ++n) {
                auto p = co_await at(0).breaker.acquire();
                EXPECT_TRUE(p.allowed());
                co_await p.record_failure("test failure");
            }
            auto rejected = co_await at(0).breaker.acquire();
            EXPECT_FALSE(rejected.allowed()) << "the local breaker counted the failures";
            const auto s = co_await at(0).breaker.status();
            EXPECT_EQ(s.scope, config::breaker_scope::cluster);
            EXPECT_TRUE(s.fallback);
            EXPECT_EQ(s.state.current, state::open);
            EXPECT_EQ(s.state.failure_count, threshold);
        },
        false);
    const auto out = testing::internal::GetCapturedStdout();
    std::size_t warnings = 0;
    for (std::size_t pos = 0;
         (pos = out.find("\"breaker.cluster_unavailable\"", pos)) != std::string::npos; ++pos) {
        ++warnings;
    }
    EXPECT_EQ(warnings, 1U) << out;
}

TEST_F(cluster_breaker_redis, the_shared_breaker_takes_over_again_when_redis_is_back)
{
    test::redis_process server;
    make(1, server.port());
    run([&]() -> net::awaitable<void> {
        co_await call(at(0), false);
        server.kill();
        // The failure cannot reach Redis: counted by the local breaker instead.
        co_await call(at(0), false);
        auto s = co_await at(0).breaker.status();
        EXPECT_TRUE(s.fallback);
        EXPECT_EQ(s.state.failure_count, 1U);
        server.start();
        const bool back = co_await test::eventually([&] { return at(0).redis.connected(); }, 5s);
        EXPECT_TRUE(back);
        s = co_await at(0).breaker.status();
        EXPECT_FALSE(s.fallback);
        EXPECT_EQ(s.state.current, state::closed);
    });
}

}  // namespace
}  // namespace analytics::breaker
