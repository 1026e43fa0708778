#include "upstream/simulated_service.hpp"

#include "common/with_timeout.hpp"
#include "support/run_coro.hpp"
#include "upstream/http_service.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <random>
#include <thread>
#include <vector>

namespace analytics::upstream {
namespace {

using namespace std::chrono_literals;

config::upstream_options options(double failure_rate, std::chrono::milliseconds latency = 0ms)
{
    config::upstream_options o;
    o.failure_rate = failure_rate;
    o.latency = latency;
    return o;
}

// Runs `n` calls one after another and returns how many failed.
int failures_in(simulated_service& svc, int n)
{
    net::io_context ioc;
    return test::run_coro(ioc, [&]() -> net::awaitable<int> {
        int failed = 0;
        for (int i = 0; i < n; ++i) {
            const auto r = co_await svc.call("summary:cpu:all");
            failed += r.ok() ? 0 : 1;
        }
        co_return failed;
    }());
}

call_result call_once(external_service& svc)
{
    net::io_context ioc;
    return test::run_coro(ioc, svc.call("summary:cpu:all"));
}

TEST(upstream_simulator, never_fails_at_failure_rate_0)
{
    simulation_settings settings(options(0.0));
    simulated_service svc(settings);
    EXPECT_EQ(failures_in(svc, 2000), 0);
}

TEST(upstream_simulator, always_fails_at_failure_rate_1)
{
    simulation_settings settings(options(1.0));
    simulated_service svc(settings);
    EXPECT_EQ(failures_in(svc, 2000), 2000);
    const auto r = call_once(svc);
    EXPECT_EQ(r.outcome, call_result::status::failed);
    EXPECT_EQ(r.reason, "simulated failure");
}

TEST(upstream_simulator, the_ends_hold_whatever_the_random_source_returns)
{
    simulation_settings never(options(0.0));
    simulated_service zero(never, [] { return 0.0; });
    EXPECT_TRUE(call_once(zero).ok());
    simulation_settings always(options(1.0));
    simulated_service one(always, [] { return std::nextafter(1.0, 0.0); });
    EXPECT_FALSE(call_once(one).ok());
}

TEST(upstream_simulator, fails_when_the_draw_is_below_the_failure_rate)
{
    simulation_settings settings(options(0.3));
    double next = 0.0;
    simulated_service svc(settings, [&] { return next; });
    next = 0.29;
    EXPECT_FALSE(call_once(svc).ok());
    next = 0.3;
    EXPECT_TRUE(call_once(svc).ok());
    next = 0.9;
    EXPECT_TRUE(call_once(svc).ok());
}

TEST(upstream_simulator, a_seeded_source_gives_the_configured_proportion)
{
    simulation_settings settings(options(0.25));
    std::mt19937_64 engine(20260219);
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    simulated_service svc(settings, [&] { return uniform(engine); });
    constexpr int calls = 20000;
    const double share = failures_in(svc, calls) / static_cast<double>(calls);
    // Binomial standard deviation at n = 20000, p = 0.25 is about 0.003.
    EXPECT_NEAR(share, 0.25, 0.015);
}

TEST(upstream_simulator, the_default_source_gives_the_configured_proportion)
{
    simulation_settings settings(options(0.5));
    simulated_service svc(settings);
    constexpr int calls = 20000;
    const double share = failures_in(svc, calls) / static_cast<double>(calls);
    EXPECT_NEAR(share, 0.5, 0.03);
}

TEST(upstream_simulator, the_default_source_stays_in_the_unit_interval)
{
    auto source = default_random_source();
    for (int i = 0; i < 100000; ++i) {
        const double d = source();
        ASSERT_GE(d, 0.0);
        ASSERT_LT(d, 1.0);
    }
}

TEST(upstream_simulator, waits_the_configured_latency_before_answering)
{
    simulation_settings settings(options(0.0, 60ms));
    simulated_service svc(settings);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(call_once(svc).ok());
    EXPECT_GE(std::chrono::steady_clock::now() - start, 60ms);
}

TEST(upstream_simulator, runtime_changes_apply_to_the_next_call)
{
    simulation_settings settings(options(0.0));
    simulated_service svc(settings);
    EXPECT_TRUE(call_once(svc).ok());
    settings.update(1.0, std::nullopt);
    EXPECT_FALSE(call_once(svc).ok());
    settings.update(std::nullopt, 50ms);
    settings.update(0.0, std::nullopt);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(call_once(svc).ok());
    EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
}

TEST(upstream_simulator, a_call_cut_by_with_timeout_unwinds_at_once)
{
    simulation_settings settings(options(0.0, 10s));
    simulated_service svc(settings);
    net::io_context ioc;
    const auto start = std::chrono::steady_clock::now();
    const std::string key = "summary:cpu:all";
    const auto r = test::run_coro(ioc, common::with_timeout(svc.call(key), 20ms));
    EXPECT_FALSE(r);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
    // Nothing of the call is left in the io_context.
    EXPECT_EQ(ioc.poll(), 0U);
}

TEST(upstream_simulator, serves_calls_from_many_threads)
{
    simulation_settings settings(options(0.5));
    simulated_service svc(settings);
    std::vector<std::thread> threads;
    std::atomic<int> total{0};
    for (int i = 0; i < 4; ++i) {
        threads.emplace_back([&] { total += failures_in(svc, 2000); });
    }
    for (int i = 0; i < 50; ++i) {
        settings.update(i % 2 == 0 ? 0.4 : 0.6, std::chrono::milliseconds(0));
    }
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_GT(total.load(), 2000);
    EXPECT_LT(total.load(), 6000);
}

// ---- simulation_settings --------------------------------------------------------------------

TEST(upstream_settings, start_from_the_options)
{
    simulation_settings s(options(0.2, 150ms));
    EXPECT_DOUBLE_EQ(s.failure_rate(), 0.2);
    EXPECT_EQ(s.latency(), 150ms);
    EXPECT_EQ(s.current(), (simulation_settings::values{0.2, 150ms}));
}

TEST(upstream_settings, an_update_changes_only_the_given_values_and_reports_both)
{
    simulation_settings s(options(0.2, 150ms));
    const auto c = s.update(0.7, std::nullopt);
    EXPECT_EQ(c.before, (simulation_settings::values{0.2, 150ms}));
    EXPECT_EQ(c.after, (simulation_settings::values{0.7, 150ms}));
    const auto d = s.update(std::nullopt, 0ms);
    EXPECT_EQ(d.after, (simulation_settings::values{0.7, 0ms}));
}

TEST(upstream_settings, clamp_values_out_of_range)
{
    simulation_settings s(options(2.0, -5ms));
    EXPECT_DOUBLE_EQ(s.failure_rate(), 1.0);
    EXPECT_EQ(s.latency(), 0ms);
    s.update(-1.0, std::chrono::milliseconds(std::numeric_limits<std::int64_t>::max()));
    EXPECT_DOUBLE_EQ(s.failure_rate(), 0.0);
    EXPECT_EQ(s.latency(), simulation_settings::max_latency);
    s.update(std::numeric_limits<double>::quiet_NaN(), std::nullopt);
    EXPECT_DOUBLE_EQ(s.failure_rate(), 0.0);
}

// ---- choosing the implementation ------------------------------------------------------------

TEST(upstream_factory, builds_the_simulator_without_a_url)
{
    simulation_settings settings(options(0.0));
    auto svc = make_external_service(config::upstream_options{}, settings);
    EXPECT_NE(dynamic_cast<simulated_service*>(svc.get()), nullptr);
}

TEST(upstream_factory, builds_the_http_upstream_with_a_url)
{
    simulation_settings settings(options(0.0));
    config::upstream_options o;
    o.url = "http://127.0.0.1:9/health";
    auto svc = make_external_service(o, settings);
    EXPECT_NE(dynamic_cast<http_service*>(svc.get()), nullptr);
}

}  // namespace
}  // namespace analytics::upstream
