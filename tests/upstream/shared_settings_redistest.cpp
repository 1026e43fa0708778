// The admin settings as the fleet shares them, against a real redis-server: a write by one
// "instance" (its own Redis connection and simulation_settings, as a process would have) is in
// force there at once and reaches the others with their next refresh; nothing changes when Redis
// does not answer; an instance that starts late reads what is stored.

#include "support/coro_helpers.hpp"
#include "support/redis_admin.hpp"
#include "support/redis_server.hpp"
#include "support/run_connected.hpp"
#include "support/run_coro.hpp"
#include "upstream/shared_settings.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace analytics::upstream {
namespace {

using namespace std::chrono_literals;

config::upstream_options configured(double rate = 0.1, std::chrono::milliseconds latency = 0ms)
{
    config::upstream_options o;
    o.failure_rate = rate;
    o.latency = latency;
    return o;
}

struct instance {
    instance(net::io_context& ioc, std::uint16_t port,
             const config::upstream_options& opts = configured())
        : redis(ioc.get_executor(), test::client_options_for(port)),
          settings(opts),
          shared(redis, settings, opts, 100ms)
    {
        net::co_spawn(ioc, redis.run(), [this](std::exception_ptr) { run_returned = true; });
    }

    redis::client redis;
    simulation_settings settings;
    shared_settings shared;
    bool run_returned = false;
};

class shared_settings_redis : public ::testing::Test {
protected:
    shared_settings_redis() { admin_.command({"FLUSHDB"}); }

    instance& add(std::uint16_t port = test::redis_test_port(),
                  const config::upstream_options& opts = configured())
    {
        fleet_.push_back(std::make_unique<instance>(ioc_, port, opts));
        return *fleet_.back();
    }

    // Runs `body` once `who` (default: every instance) is connected, then stops them.
    void run(std::function<net::awaitable<void>()> body, bool wait_connected = true,
             std::vector<instance*> who = {})
    {
        if (who.empty()) {
            for (auto& i : fleet_) {
                who.push_back(i.get());
            }
        }
        std::vector<redis::client*> clients;
        for (instance* i : who) {
            clients.push_back(&i->redis);
        }
        test::run_connected(
            ioc_, clients, std::move(body),
            [&] {
                for (instance* i : who) {
                    i->shared.stop();
                    i->redis.stop();
                }
            },
            wait_connected);
        for (instance* i : who) {
            EXPECT_TRUE(i->run_returned);
        }
    }

    net::io_context ioc_;
    test::admin_connection admin_{test::redis_test_port()};
    std::vector<std::unique_ptr<instance>> fleet_;
};

TEST_F(shared_settings_redis, a_write_is_in_force_at_once_and_reaches_the_others_on_refresh)
{
    auto& a = add();
    auto& b = add();
    run([&]() -> net::awaitable<void> {
        const auto written = co_await a.shared.write(0.75, 120ms);
        EXPECT_TRUE(written.has_value());
        if (written) {
            EXPECT_EQ(written->before, (simulation_values{0.1, 0ms}));
            EXPECT_EQ(written->after, (simulation_values{0.75, 120ms}));
        }
        EXPECT_EQ(a.settings.current(), (simulation_values{0.75, 120ms}));
        EXPECT_EQ(b.settings.current(), (simulation_values{0.1, 0ms}));
        const auto refreshed = co_await b.shared.refresh();
        EXPECT_TRUE(refreshed.has_value());
        EXPECT_EQ(b.settings.current(), (simulation_values{0.75, 120ms}));
        EXPECT_EQ(b.settings.version(), a.settings.version());
    });
    EXPECT_EQ(admin_.command({"HGET", std::string(shared_settings::key), "failure_rate"}), "$0.75");
    EXPECT_EQ(admin_.command({"HGET", std::string(shared_settings::key), "latency_ms"}), "$120");
}

TEST_F(shared_settings_redis, a_partial_write_keeps_the_other_value_the_fleet_has)
{
    auto& a = add();
    auto& b = add(test::redis_test_port(), configured(0.3, 50ms));
    run([&]() -> net::awaitable<void> {
        co_await a.shared.write(std::nullopt, 200ms);
        // b is configured differently, but the fleet's failure rate is a's stored one, which b
        // takes on refresh; b's write of the rate alone keeps the stored latency.
        co_await b.shared.refresh();
        EXPECT_EQ(b.settings.current(), (simulation_values{0.1, 200ms}));
        const auto written = co_await b.shared.write(0.9, std::nullopt);
        EXPECT_TRUE(written.has_value());
        if (written) {
            EXPECT_EQ(written->after, (simulation_values{0.9, 200ms}));
        }
        co_await a.shared.refresh();
        EXPECT_EQ(a.settings.current(), (simulation_values{0.9, 200ms}));
    });
}

TEST_F(shared_settings_redis, an_instance_that_starts_later_takes_the_stored_settings)
{
    auto& first = add();
    run([&]() -> net::awaitable<void> { co_await first.shared.write(1.0, 0ms); }, true, {&first});
    auto& late = add(test::redis_test_port(), configured(0.0, 0ms));
    run(
        [&]() -> net::awaitable<void> {
            net::co_spawn(ioc_, late.shared.watch(20ms), net::detached);
            const bool taken =
                co_await test::eventually([&] { return late.settings.failure_rate() == 1.0; }, 2s);
            EXPECT_TRUE(taken);
        },
        true, {&late});
}

TEST_F(shared_settings_redis, nothing_changes_when_redis_does_not_answer)
{
    auto& a = add(test::free_port());
    run(
        [&]() -> net::awaitable<void> {
            const auto written = co_await a.shared.write(1.0, 10ms);
            EXPECT_FALSE(written.has_value());
            EXPECT_EQ(a.settings.current(), (simulation_values{0.1, 0ms}));
            EXPECT_EQ(a.settings.version(), 0U);
        },
        false);
}

TEST_F(shared_settings_redis, flushed_settings_give_way_to_the_configured_ones_on_the_second_read)
{
    auto& a = add();
    auto& b = add();
    run([&]() -> net::awaitable<void> {
        co_await a.shared.write(0.5, 10ms);
        co_await b.shared.refresh();
        EXPECT_EQ(b.settings.current(), (simulation_values{0.5, 10ms}));
        admin_.command({"FLUSHDB"});
        // Once, an older version may be an answer that crossed a newer write: kept.
        co_await b.shared.refresh();
        EXPECT_EQ(b.settings.current(), (simulation_values{0.5, 10ms}));
        co_await b.shared.refresh();
        EXPECT_EQ(b.settings.current(), (simulation_values{0.1, 0ms}));
        EXPECT_EQ(b.settings.version(), 0U);
    });
}

TEST_F(shared_settings_redis, an_answer_older_than_the_settings_in_force_does_not_undo_them)
{
    auto& a = add();
    run([&]() -> net::awaitable<void> {
        co_await a.shared.write(0.2, std::nullopt);
        const auto version = a.settings.version();
        // An earlier write's answer arriving last (another worker's connection) is ignored.
        EXPECT_FALSE(a.settings.adopt({0.9, 0ms}, version - 1, true).has_value());
        EXPECT_EQ(a.settings.failure_rate(), 0.2);
        co_await a.shared.refresh();
        EXPECT_EQ(a.settings.failure_rate(), 0.2);
    });
}

TEST_F(shared_settings_redis, unreadable_stored_values_are_refused_and_the_settings_kept)
{
    auto& a = add();
    run([&]() -> net::awaitable<void> {
        co_await a.shared.write(0.4, 5ms);
        admin_.command(
            {"HSET", std::string(shared_settings::key), "version", "99", "failure_rate", "lots"});
        const auto refreshed = co_await a.shared.refresh();
        EXPECT_FALSE(refreshed.has_value());
        EXPECT_EQ(a.settings.current(), (simulation_values{0.4, 5ms}));
    });
}

}  // namespace
}  // namespace analytics::upstream
