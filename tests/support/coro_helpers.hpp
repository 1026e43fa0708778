#pragma once
// Helpers for coroutine-based tests: sleeping, polling a condition, starting many coroutines in
// one loop turn, and reporting measured figures.

#include "common/asio.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <exception>
#include <functional>
#include <iostream>
#include <string>
#include <string_view>

// ASSERT_* leaves the function with `return`, which a coroutine cannot use; this co_returns.
#define CO_ASSERT_TRUE(condition)                                \
    do {                                                         \
        if (!(condition)) {                                      \
            ADD_FAILURE() << "expected to hold: " << #condition; \
            co_return;                                           \
        }                                                        \
    } while (false)

namespace analytics::test {

/// Prints a measured figure and records it in the XML report, so timings show in CI logs.
inline void report(const std::string& name, double value, std::string_view unit)
{
    std::cout << "[ measured ] " << name << ": " << value << ' ' << unit << '\n';
    ::testing::Test::RecordProperty(name, std::to_string(value) + " " + std::string(unit));
}

inline double elapsed_ms(std::chrono::steady_clock::time_point since)
{
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since)
        .count();
}

inline net::awaitable<void> sleep_for(std::chrono::milliseconds d)
{
    net::steady_timer timer(co_await net::this_coro::executor, d);
    co_await timer.async_wait(common::use_nothrow);
}

/// Polls `condition` every few milliseconds; false when it did not hold within `limit`.
inline net::awaitable<bool> eventually(std::function<bool()> condition,
                                       std::chrono::milliseconds limit)
{
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            co_return false;
        }
        co_await sleep_for(std::chrono::milliseconds(2));
    }
    co_return true;
}

/// Starts `count` coroutines `make(i)` in the same loop turn, so that their Redis calls go out
/// pipelined together, and waits for all of them.
inline net::awaitable<void> spawn_all(int count, std::function<net::awaitable<void>(int)> make)
{
    auto executor = co_await net::this_coro::executor;
    net::steady_timer all_done(executor, std::chrono::steady_clock::time_point::max());
    int remaining = count;
    std::exception_ptr first_error;
    for (int i = 0; i < count; ++i) {
        net::co_spawn(executor, make(i), [&](std::exception_ptr e) {
            if (e && !first_error) {
                first_error = e;
            }
            if (--remaining == 0) {
                all_done.cancel();
            }
        });
    }
    if (remaining > 0) {
        co_await all_done.async_wait(common::use_nothrow);
    }
    if (first_error) {
        std::rethrow_exception(first_error);
    }
}

}  // namespace analytics::test
