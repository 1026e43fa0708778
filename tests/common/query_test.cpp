#include "common/query.hpp"

#include "common/single_flight.hpp"
#include "support/run_coro.hpp"

#include <boost/asio/steady_timer.hpp>

#include <gtest/gtest.h>

namespace analytics::common {
namespace {

TEST(query_params, decodes_percent_escapes_and_plus)
{
    auto q = query_params::parse("type=cpu%5Fusage&period=daily&x=a+b");
    ASSERT_TRUE(q.has_value());
    EXPECT_EQ(q->get("type"), "cpu_usage");
    EXPECT_EQ(q->get("period"), "daily");
    EXPECT_EQ(q->get("x"), "a b");
    EXPECT_FALSE(q->get("missing").has_value());
}

TEST(query_params, takes_the_last_of_repeated_names_and_empty_values)
{
    auto q = query_params::parse("limit=5&limit=7&flag");
    ASSERT_TRUE(q.has_value());
    EXPECT_EQ(q->get("limit"), "7");
    EXPECT_EQ(q->get("flag"), "");
}

TEST(query_params, reads_only_the_view_it_is_given)
{
    // A request target sits inside a larger buffer; nothing after the view may leak in.
    const std::string buffer = "limit=2 HTTP/1.1\r\n";
    auto q = query_params::parse(std::string_view(buffer.data(), 7));
    ASSERT_TRUE(q.has_value());
    EXPECT_EQ(q->get("limit"), "2");
}

TEST(query_params, rejects_malformed_escapes)
{
    EXPECT_FALSE(query_params::parse("type=%zz").has_value());
    EXPECT_FALSE(query_params::parse("type=%4").has_value());
    EXPECT_FALSE(query_params::parse("type=%").has_value());
    EXPECT_FALSE(query_params::parse("%g1=x").has_value());
    EXPECT_TRUE(query_params::parse("").has_value());
}

TEST(parse_integer, accepts_whole_numbers_in_range_only)
{
    EXPECT_EQ(parse_integer("100", 1, 1000), 100);
    EXPECT_EQ(parse_integer("1", 1, 1000), 1);
    EXPECT_EQ(parse_integer("1000", 1, 1000), 1000);
    for (const char* bad :
         {"0", "1001", "-1", "+5", " 5", "5 ", "5x", "", "1e2", "99999999999999999999"}) {
        EXPECT_FALSE(parse_integer(bad, 1, 1000).has_value()) << bad;
    }
}

TEST(single_flight, concurrent_callers_share_one_computation)
{
    net::io_context ioc;
    single_flight<int> flights;
    int computed = 0;
    std::vector<int> results;
    auto slow = [&]() -> net::awaitable<int> {
        ++computed;
        net::steady_timer t(co_await net::this_coro::executor, std::chrono::milliseconds(20));
        co_await t.async_wait(use_nothrow);
        co_return 42;
    };
    for (int i = 0; i < 50; ++i) {
        net::co_spawn(
            ioc,
            [&]() -> net::awaitable<void> { results.push_back(co_await flights.run("k", slow)); },
            net::detached);
    }
    ioc.run_for(std::chrono::seconds(5));
    EXPECT_EQ(computed, 1);
    EXPECT_EQ(flights.computations(), 1U);
    EXPECT_EQ(flights.joined(), 49U);
    ASSERT_EQ(results.size(), 50U);
    for (int r : results) {
        EXPECT_EQ(r, 42);
    }
}

TEST(single_flight, different_keys_compute_separately_and_later_calls_compute_again)
{
    net::io_context ioc;
    single_flight<int> flights;
    int computed = 0;
    auto compute = [&]() -> net::awaitable<int> { co_return ++computed; };
    test::run_coro(ioc, [&]() -> net::awaitable<void> {
        EXPECT_EQ(co_await flights.run("a", compute), 1);
        EXPECT_EQ(co_await flights.run("b", compute), 2);
        EXPECT_EQ(co_await flights.run("a", compute), 3);
    }());
    EXPECT_EQ(computed, 3);
}

TEST(single_flight, waiters_start_over_when_the_computation_throws)
{
    net::io_context ioc;
    single_flight<int> flights;
    int attempts = 0;
    int failures = 0;
    std::vector<int> results;
    auto flaky = [&]() -> net::awaitable<int> {
        const int attempt = ++attempts;
        net::steady_timer t(co_await net::this_coro::executor, std::chrono::milliseconds(5));
        co_await t.async_wait(use_nothrow);
        if (attempt == 1) {
            throw std::runtime_error("first attempt fails");
        }
        co_return 7;
    };
    for (int i = 0; i < 3; ++i) {
        net::co_spawn(
            ioc,
            [&]() -> net::awaitable<void> {
                try {
                    results.push_back(co_await flights.run("k", flaky));
                } catch (const std::runtime_error&) {
                    ++failures;
                }
            },
            net::detached);
    }
    ioc.run_for(std::chrono::seconds(5));
    EXPECT_EQ(failures, 1);
    EXPECT_EQ(attempts, 2);
    EXPECT_EQ(results, (std::vector<int>{7, 7}));
}

}  // namespace
}  // namespace analytics::common
