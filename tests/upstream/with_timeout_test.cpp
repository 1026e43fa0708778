#include "common/with_timeout.hpp"

#include "support/run_coro.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>

namespace analytics::common {
namespace {

using namespace std::chrono_literals;

// Waits `d`, then returns `value`; `unwound` is set when its frame is destroyed, however it ends.
net::awaitable<std::string> slow_value(std::chrono::milliseconds d, std::string value,
                                       bool* unwound)
{
    struct on_exit {
        bool* flag;
        ~on_exit() { *flag = true; }
    } guard{unwound};
    net::steady_timer timer(co_await net::this_coro::executor);
    timer.expires_after(d);
    co_await timer.async_wait(net::use_awaitable);
    co_return value;
}

net::awaitable<int> throws_at_once()
{
    throw std::runtime_error("boom");
    co_return 0;
}

net::awaitable<void> wait_void(std::chrono::milliseconds d)
{
    net::steady_timer timer(co_await net::this_coro::executor);
    timer.expires_after(d);
    co_await timer.async_wait(net::use_awaitable);
}

TEST(with_timeout, returns_the_value_when_the_operation_finishes_first)
{
    net::io_context ioc;
    bool unwound = false;
    const auto r = test::run_coro(ioc, with_timeout(slow_value(1ms, "done", &unwound), 5s));
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, "done");
    EXPECT_TRUE(unwound);
}

TEST(with_timeout, returns_nullopt_when_the_deadline_passes_first)
{
    net::io_context ioc;
    bool unwound = false;
    const auto start = std::chrono::steady_clock::now();
    const auto r = test::run_coro(ioc, with_timeout(slow_value(10s, "late", &unwound), 20ms));
    EXPECT_FALSE(r);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(with_timeout, has_unwound_the_operation_before_it_returns_on_timeout)
{
    net::io_context ioc;
    bool unwound = false;
    bool unwound_when_returned = false;
    test::run_coro(ioc, [&]() -> net::awaitable<void> {
        auto r = co_await with_timeout(slow_value(10s, "late", &unwound), 10ms);
        EXPECT_FALSE(r);
        unwound_when_returned = unwound;
    }());
    EXPECT_TRUE(unwound_when_returned);
}

net::awaitable<int> throws_after(std::chrono::milliseconds d)
{
    net::steady_timer timer(co_await net::this_coro::executor);
    timer.expires_after(d);
    co_await timer.async_wait(net::use_awaitable);
    throw std::runtime_error("boom");
}

net::awaitable<void> void_throws_after(std::chrono::milliseconds d)
{
    co_await throws_after(d);
}

TEST(with_timeout, passes_an_exception_of_the_operation_on_at_once)
{
    net::io_context ioc;
    const auto start = std::chrono::steady_clock::now();
    EXPECT_THROW(test::run_coro(ioc, with_timeout(throws_at_once(), 5s)), std::runtime_error);
    net::io_context ioc2;
    EXPECT_THROW(test::run_coro(ioc2, with_timeout(throws_after(5ms), 5s)), std::runtime_error);
    net::io_context ioc3;
    EXPECT_THROW(test::run_coro(ioc3, with_timeout(void_throws_after(5ms), 5s)),
                 std::runtime_error);
    // Not after the deadline: an error is not a timeout.
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST(with_timeout, tells_whether_a_void_operation_finished_in_time)
{
    net::io_context ioc;
    EXPECT_TRUE(test::run_coro(ioc, with_timeout(wait_void(1ms), 5s)));
    net::io_context ioc2;
    EXPECT_FALSE(test::run_coro(ioc2, with_timeout(wait_void(10s), 10ms)));
}

}  // namespace
}  // namespace analytics::common
