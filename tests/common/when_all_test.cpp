// when_all on a bare io_context: results come back in the order given whatever order the
// operations finish in, they run at once (not one after another), an exception from one is
// rethrown after all have finished, and the one-operation and empty cases behave the same way.

#include "common/when_all.hpp"

#include "support/run_coro.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <vector>

namespace analytics::common {
namespace {

using namespace std::chrono_literals;

// Waits `delay`, records that it finished, and returns `value` (or throws when `value` < 0).
net::awaitable<int> after(std::chrono::milliseconds delay, int value, std::vector<int>& finished)
{
    net::steady_timer timer(co_await net::this_coro::executor, delay);
    co_await timer.async_wait(net::use_awaitable);
    finished.push_back(value);
    if (value < 0) {
        throw std::runtime_error("operation failed");
    }
    co_return value;
}

net::awaitable<void> after_void(std::chrono::milliseconds delay, int value,
                                std::vector<int>& finished)
{
    co_await after(delay, value, finished);
}

TEST(when_all, gives_results_in_the_order_given_not_the_order_they_finish)
{
    net::io_context ioc;
    std::vector<int> finished;
    std::vector<net::awaitable<int>> ops;
    ops.push_back(after(30ms, 1, finished));
    ops.push_back(after(1ms, 2, finished));
    ops.push_back(after(15ms, 3, finished));
    const auto results = test::run_coro(ioc, when_all(std::move(ops)));
    EXPECT_EQ(results, (std::vector<int>{1, 2, 3}));
    EXPECT_EQ(finished, (std::vector<int>{2, 3, 1}));
}

TEST(when_all, runs_its_operations_at_once)
{
    net::io_context ioc;
    std::vector<int> finished;
    std::vector<net::awaitable<void>> ops;
    for (int i = 0; i < 4; ++i) {
        ops.push_back(after_void(std::chrono::milliseconds(40 - 10 * i), i, finished));
    }
    test::run_coro(ioc, when_all(std::move(ops)));
    // One after another they would finish in the order given.
    EXPECT_EQ(finished, (std::vector<int>{3, 2, 1, 0}));
}

TEST(when_all, rethrows_a_failure_once_every_operation_has_finished)
{
    net::io_context ioc;
    std::vector<int> finished;
    std::vector<net::awaitable<int>> ops;
    ops.push_back(after(1ms, -1, finished));
    ops.push_back(after(20ms, 2, finished));
    EXPECT_THROW(test::run_coro(ioc, when_all(std::move(ops))), std::runtime_error);
    EXPECT_EQ(finished, (std::vector<int>{-1, 2}));
}

TEST(when_all, awaits_a_single_operation_and_passes_on_its_result_or_failure)
{
    net::io_context ioc;
    std::vector<int> finished;
    std::vector<net::awaitable<int>> one;
    one.push_back(after(1ms, 7, finished));
    EXPECT_EQ(test::run_coro(ioc, when_all(std::move(one))), std::vector<int>{7});

    std::vector<net::awaitable<void>> failing;
    failing.push_back(after_void(1ms, -5, finished));
    net::io_context ioc2;
    EXPECT_THROW(test::run_coro(ioc2, when_all(std::move(failing))), std::runtime_error);
    EXPECT_EQ(finished, (std::vector<int>{7, -5}));
}

TEST(when_all, of_nothing_completes_at_once)
{
    net::io_context ioc;
    EXPECT_TRUE(test::run_coro(ioc, when_all(std::vector<net::awaitable<int>>{})).empty());
    net::io_context ioc2;
    test::run_coro(ioc2, when_all(std::vector<net::awaitable<void>>{}));
}

}  // namespace
}  // namespace analytics::common
