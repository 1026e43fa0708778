// The coalescer on a bare io_context (no sockets): what is submitted in one loop turn runs as one
// batch, what comes while a batch runs waits for it, each caller gets its own result, batches
// close at their cap, and stop() or a throwing batch leaves nobody waiting.

#include "common/coalescer.hpp"

#include "support/coro_helpers.hpp"
#include "support/run_coro.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <vector>

namespace analytics::common {
namespace {

using numbers = coalescer<int, int>;

// Answers each item with ten times its value and records the batches it saw.
struct times_ten {
    std::vector<std::vector<int>> batches;
    bool fail = false;

    net::awaitable<void> operator()(std::span<const int> items, std::span<int> results,
                                    numbers::clock::time_point)
    {
        batches.emplace_back(items.begin(), items.end());
        if (fail) {
            throw std::runtime_error("batch failed");
        }
        for (std::size_t i = 0; i < items.size(); ++i) {
            results[i] = items[i] * 10;
        }
        co_return;
    }
};

class coalescer_test : public ::testing::Test {
protected:
    numbers make(std::size_t max_items)
    {
        return numbers(
            ioc_.get_executor(), max_items,
            [this](std::span<const int> items, std::span<int> results,
                   numbers::clock::time_point opened) { return run_(items, results, opened); },
            -1);
    }

    // Submits 0..count-1 in one loop turn and returns what each got.
    std::vector<int> submit_together(numbers& c, int count)
    {
        std::vector<int> got(static_cast<std::size_t>(count), 0);
        test::run_coro(ioc_, test::spawn_all(count, [&](int i) -> net::awaitable<void> {
                           got[static_cast<std::size_t>(i)] = co_await c.submit(i);
                       }));
        return got;
    }

    net::io_context ioc_;
    times_ten run_;
};

TEST_F(coalescer_test, runs_what_one_loop_turn_submits_as_one_batch)
{
    numbers c = make(100);
    EXPECT_EQ(submit_together(c, 5), (std::vector<int>{0, 10, 20, 30, 40}));
    ASSERT_EQ(run_.batches.size(), 1U);
    EXPECT_EQ(run_.batches[0], (std::vector<int>{0, 1, 2, 3, 4}));
    EXPECT_EQ(c.batches(), 1U);
}

TEST_F(coalescer_test, starts_another_batch_at_the_cap)
{
    numbers c = make(2);
    EXPECT_EQ(submit_together(c, 5), (std::vector<int>{0, 10, 20, 30, 40}));
    ASSERT_EQ(run_.batches.size(), 3U);
    EXPECT_EQ(run_.batches[0], (std::vector<int>{0, 1}));
    EXPECT_EQ(run_.batches[2], (std::vector<int>{4}));
}

TEST_F(coalescer_test, runs_one_submit_after_another_as_batches_of_one)
{
    numbers c = make(100);
    test::run_coro(ioc_, [&]() -> net::awaitable<void> {
        EXPECT_EQ(co_await c.submit(1), 10);
        EXPECT_EQ(co_await c.submit(2), 20);
    }());
    EXPECT_EQ(run_.batches.size(), 2U);
}

// One batch in flight at a time: what is submitted meanwhile, over several loop turns, waits and
// goes as one batch when the running one returns.
TEST_F(coalescer_test, items_submitted_while_a_batch_runs_go_together_when_it_returns)
{
    std::vector<std::vector<int>> seen;
    net::steady_timer gate(ioc_);
    numbers c(
        ioc_.get_executor(), 100,
        [&seen, &gate](std::span<const int> items, std::span<int> results,
                       numbers::clock::time_point) -> net::awaitable<void> {
            seen.emplace_back(items.begin(), items.end());
            if (seen.size() == 1) {
                gate.expires_after(std::chrono::milliseconds(50));
                co_await gate.async_wait(net::use_awaitable);
            }
            for (std::size_t i = 0; i < items.size(); ++i) {
                results[i] = items[i] * 10;
            }
        },
        -1);
    std::vector<int> got(4, 0);
    test::run_coro(ioc_, test::spawn_all(4, [&](int i) -> net::awaitable<void> {
                       for (int turn = 0; turn < 2 * i; ++turn) {
                           co_await net::post(ioc_, net::use_awaitable);
                       }
                       got[static_cast<std::size_t>(i)] = co_await c.submit(i);
                   }));
    EXPECT_EQ(got, (std::vector<int>{0, 10, 20, 30}));
    ASSERT_EQ(seen.size(), 2U);
    EXPECT_EQ(seen[0], (std::vector<int>{0}));
    EXPECT_EQ(seen[1], (std::vector<int>{1, 2, 3}));
}

TEST_F(coalescer_test, stop_answers_waiting_and_later_items_with_the_fallback)
{
    numbers c = make(100);
    std::vector<int> got;
    test::run_coro(ioc_, [&]() -> net::awaitable<void> {
        co_await test::spawn_all(4, [&](int i) -> net::awaitable<void> {
            if (i == 3) {
                c.stop();  // the three items are queued, their batch not yet run
                co_return;
            }
            got.push_back(co_await c.submit(i));
        });
        got.push_back(co_await c.submit(7));
    }());
    EXPECT_EQ(got, (std::vector<int>{-1, -1, -1, -1}));
    EXPECT_TRUE(run_.batches.empty());
}

TEST_F(coalescer_test, a_throwing_batch_answers_its_items_with_the_fallback)
{
    numbers c = make(100);
    run_.fail = true;
    EXPECT_EQ(submit_together(c, 3), (std::vector<int>{-1, -1, -1}));
}

TEST_F(coalescer_test, destroying_it_answers_a_waiting_item_with_the_fallback)
{
    std::vector<int> got;
    {
        numbers c = make(100);
        net::co_spawn(
            ioc_, [&c, &got]() -> net::awaitable<void> { got.push_back(co_await c.submit(1)); },
            net::detached);
        ioc_.poll_one();  // the coroutine queues its item and waits
        EXPECT_TRUE(got.empty());
    }
    ioc_.run();
    EXPECT_EQ(got, (std::vector<int>{-1}));
    EXPECT_TRUE(run_.batches.empty());
}

}  // namespace
}  // namespace analytics::common
