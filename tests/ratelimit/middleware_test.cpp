// The middleware and the limiter's paths that need no Redis server: the Redis client here is
// never run, so every call fails at once with not_connected, as during an outage, and no
// socket is opened.

#include "ratelimit/middleware.hpp"
#include "redis/key_tags.hpp"

#include "support/fake_clock.hpp"
#include "support/run_coro.hpp"
#include "telemetry/registry.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace analytics::ratelimit {
namespace {

using namespace std::chrono_literals;

std::string_view no_header(const void*, std::string_view)
{
    return {};
}

class rate_limit_middleware : public ::testing::Test {
protected:
    rate_limit_middleware() : redis_(ioc_.get_executor(), redis::client_options{}) {}
    ~rate_limit_middleware() override { redis_.stop(); }

    config::ratelimit_options options(std::uint32_t requests,
                                      config::failure_mode mode = config::failure_mode::local)
    {
        config::ratelimit_options o;
        o.requests = requests;
        o.window = 60s;
        o.on_redis_failure = mode;
        return o;
    }

    // Sends one request from `client` through `h`.
    http::response send(const http::handler& h, std::string_view client)
    {
        http::request_context ctx;
        ctx.client = boost::asio::ip::make_address(std::string(client));
        http::request req(http::method::post, "/api/metrics", "{}", nullptr, &no_header, ctx);
        return run(h(req));
    }

    // run_coro leaves the io_context stopped once it runs out of work; restart it each time.
    template <class T>
    T run(net::awaitable<T> aw)
    {
        ioc_.restart();
        return test::run_coro(ioc_, std::move(aw));
    }

    // A handler that counts its calls and answers 201.
    http::handler created()
    {
        return [this](http::request&) -> net::awaitable<http::response> {
            ++handler_calls_;
            http::response r;
            r.status = 201;
            co_return r;
        };
    }

    net::io_context ioc_;
    redis::client redis_;
    test::fake_clock clock_;
    telemetry::registry telemetry_;
    telemetry::shard& stats_ = telemetry_.add_shard();
    int handler_calls_ = 0;
};

TEST_F(rate_limit_middleware, refuses_with_429_before_the_handler_once_the_limit_is_used)
{
    const auto o = options(3);
    local_backstop backstop(o, clock_);
    outage_log outages(clock_);
    sliding_window_limiter limiter(redis_, o, 100ms, backstop, outages, clock_);
    const http::handler h = limit(limiter, stats_, created());

    for (int i = 0; i < 3; ++i) {
        const http::response r = send(h, "203.0.113.7");
        EXPECT_EQ(r.status, 201U);
        EXPECT_EQ(r.get("X-RateLimit-Limit"), "3");
        EXPECT_EQ(r.get("X-RateLimit-Remaining"), std::to_string(2 - i));
    }
    const http::response refused = send(h, "203.0.113.7");
    EXPECT_EQ(refused.status, 429U);
    EXPECT_FALSE(refused.get("Retry-After").empty());
    EXPECT_EQ(handler_calls_, 3);

    // Another client has its own count.
    EXPECT_EQ(send(h, "2001:db8::7").status, 201U);
    // Redis is not connected: every decision, refusal included, came from the backstop.
    EXPECT_EQ(telemetry_.total(telemetry::counter::ratelimit_local_backstop), 5U);
    EXPECT_EQ(telemetry_.total(telemetry::counter::ratelimit_limited), 0U);
}

TEST_F(rate_limit_middleware, decides_through_the_local_backstop_while_redis_is_not_connected)
{
    const auto o = options(10);
    local_backstop backstop(o, clock_);
    outage_log outages(clock_);
    sliding_window_limiter limiter(redis_, o, 100ms, backstop, outages, clock_);

    int allowed = 0;
    for (int i = 0; i < 50; ++i) {
        const decision d = run(limiter.check("198.51.100.1"));
        EXPECT_EQ(d.source, decision_source::local_backstop);
        allowed += d.allowed ? 1 : 0;
    }
    EXPECT_EQ(allowed, 10);
    EXPECT_TRUE(outages.active());
    EXPECT_EQ(outages.outages(), 1U);
    EXPECT_EQ(outages.requests_without_redis(), 50U);
}

TEST_F(rate_limit_middleware, allows_everything_without_headers_in_open_mode_while_redis_is_down)
{
    const auto o = options(1, config::failure_mode::open);
    local_backstop backstop(o, clock_);
    outage_log outages(clock_);
    sliding_window_limiter limiter(redis_, o, 100ms, backstop, outages, clock_);
    const http::handler h = limit(limiter, stats_, created());

    for (int i = 0; i < 20; ++i) {
        const http::response r = send(h, "203.0.113.7");
        EXPECT_EQ(r.status, 201U);
        EXPECT_TRUE(r.get("X-RateLimit-Limit").empty());
    }
    EXPECT_EQ(handler_calls_, 20);
    EXPECT_EQ(backstop.size(), 0U);
    EXPECT_EQ(outages.outages(), 1U);
    EXPECT_EQ(telemetry_.total(telemetry::counter::ratelimit_fail_open), 20U);
}

TEST_F(rate_limit_middleware, passes_every_request_through_untouched_when_disabled)
{
    auto o = options(1);
    o.enabled = false;
    local_backstop backstop(o, clock_);
    outage_log outages(clock_);
    sliding_window_limiter limiter(redis_, o, 100ms, backstop, outages, clock_);
    const http::handler h = limit(limiter, stats_, created());

    for (int i = 0; i < 5; ++i) {
        const http::response r = send(h, "203.0.113.7");
        EXPECT_EQ(r.status, 201U);
        EXPECT_TRUE(r.headers.empty());
    }
    EXPECT_EQ(outages.requests_without_redis(), 0U);
    // Nothing decided, nothing counted.
    for (const auto c :
         {telemetry::counter::ratelimit_allowed, telemetry::counter::ratelimit_limited,
          telemetry::counter::ratelimit_fail_open, telemetry::counter::ratelimit_local_backstop}) {
        EXPECT_EQ(telemetry_.total(c), 0U);
    }
}

TEST_F(rate_limit_middleware, marks_the_worker_recovered_when_the_limiter_goes_away_mid_outage)
{
    const auto o = options(10);
    local_backstop backstop(o, clock_);
    outage_log outages(clock_);
    {
        sliding_window_limiter limiter(redis_, o, 100ms, backstop, outages, clock_);
        run(limiter.check("198.51.100.1"));
        EXPECT_TRUE(outages.active());
    }
    EXPECT_FALSE(outages.active());
}

// A worker's limiter, with the backstop and outage log it decides by while Redis is down.
struct worker_limiter {
    worker_limiter(redis::client& redis, const config::ratelimit_options& o,
                   const common::clock& clock)
        : backstop(o, clock), outages(clock), limiter(redis, o, 100ms, backstop, outages, clock)
    {
    }

    local_backstop backstop;
    outage_log outages;
    sliding_window_limiter limiter;
};

TEST_F(rate_limit_middleware, a_handler_that_throws_still_counts_its_request)
{
    worker_limiter w(redis_, options(1), clock_);
    const http::handler h = limit(
        w.limiter, stats_, http::handler([](http::request&) -> net::awaitable<http::response> {
            throw std::runtime_error("handler bug");
            co_return http::response{};
        }));
    EXPECT_THROW(send(h, "203.0.113.7"), std::runtime_error);
    EXPECT_EQ(w.outages.requests_without_redis(), 1U);
    EXPECT_EQ(w.backstop.size(), 1U);
}

TEST(sliding_window_limiter, names_one_key_per_client_under_the_clients_tag)
{
    for (const std::string_view client : {"203.0.113.7", "2001:db8::1"}) {
        EXPECT_EQ(sliding_window_limiter::key_for(client),
                  "ratelimit:{" + std::string(redis::tag_for(client)) + "}:" +
                      std::string(client));
    }
}

redis::reply integer_reply(std::int64_t v)
{
    redis::reply e;
    e.type = redis::reply::kind::integer;
    e.integer = v;
    return e;
}

redis::reply string_reply(std::string_view s)
{
    return redis::reply::text(redis::reply::kind::string, s);
}

TEST(sliding_window_limiter, reads_only_the_reply_shape_its_script_returns)
{
    // Elapsed 30 s; the client's previous and current counts 4 and 2; its one check admitted.
    redis::reply good;
    good.type = redis::reply::kind::array;
    good.elements = {integer_reply(30'000), integer_reply(4), integer_reply(2), integer_reply(1)};
    const auto answer = sliding_window_limiter::read_answer(good);
    ASSERT_TRUE(answer);
    EXPECT_TRUE(answer->admitted);
    EXPECT_EQ(answer->sample.previous, 4);
    EXPECT_EQ(answer->sample.current, 2);
    EXPECT_EQ(answer->sample.elapsed_ms, 30'000);

    redis::reply refused = good;
    refused.elements.back().integer = 0;
    const auto refusal = sliding_window_limiter::read_answer(refused);
    ASSERT_TRUE(refusal);
    EXPECT_FALSE(refusal->admitted);
    EXPECT_EQ(refusal->sample.current, 2);

    const auto error = redis::reply::text(redis::reply::kind::error, "ERR something");
    EXPECT_FALSE(sliding_window_limiter::read_answer(error));

    redis::reply short_array = good;
    short_array.elements.erase(short_array.elements.begin() + 1);
    EXPECT_FALSE(sliding_window_limiter::read_answer(short_array));

    redis::reply long_array = good;
    long_array.elements.push_back(good.elements[0]);
    EXPECT_FALSE(sliding_window_limiter::read_answer(long_array));

    redis::reply more_admitted_than_checked = good;
    more_admitted_than_checked.elements.back().integer = 2;
    EXPECT_FALSE(sliding_window_limiter::read_answer(more_admitted_than_checked));

    redis::reply admitted_as_text = good;
    admitted_as_text.elements.back() = string_reply("1");
    EXPECT_FALSE(sliding_window_limiter::read_answer(admitted_as_text));

    redis::reply wrong_element = good;
    wrong_element.elements[1].type = redis::reply::kind::string;
    EXPECT_FALSE(sliding_window_limiter::read_answer(wrong_element));

    redis::reply negative = good;
    negative.elements[2].integer = -1;
    EXPECT_FALSE(sliding_window_limiter::read_answer(negative));

    redis::reply negative_admitted = good;
    negative_admitted.elements.back().integer = -1;
    EXPECT_FALSE(sliding_window_limiter::read_answer(negative_admitted));
}

TEST(sliding_window_limiter, counts_each_check_of_a_batch_after_the_admitted_ones_before_it)
{
    // Two clients: A found 1 in the previous window and 8 in the current one, B 0 and 3.
    // Checks A, B, A, A, B; the script admitted A's first two and B's first one, so A, B, A,
    // and refused the last A and B.
    const std::vector<redis::reply> reply{integer_reply(12'000), integer_reply(1), integer_reply(8),
                                          integer_reply(0),      integer_reply(3), integer_reply(2),
                                          integer_reply(1)};
    const std::vector<std::uint32_t> client_of_check{0, 1, 0, 0, 1};
    std::vector<script_answer> out(5);
    ASSERT_TRUE(sliding_window_limiter::read_answers(reply, client_of_check, out));
    const std::vector<std::pair<bool, std::int64_t>> expected{
        {true, 8}, {true, 3}, {true, 9}, {false, 10}, {false, 4}};
    for (std::size_t i = 0; i < out.size(); ++i) {
        EXPECT_EQ(out[i].admitted, expected[i].first) << "check " << i;
        EXPECT_EQ(out[i].sample.current, expected[i].second) << "check " << i;
        EXPECT_EQ(out[i].sample.previous, client_of_check[i] == 0 ? 1 : 0) << "check " << i;
        EXPECT_EQ(out[i].sample.elapsed_ms, 12'000) << "check " << i;
    }

    // A check naming a third client has no counts in the reply.
    const std::vector<std::uint32_t> third{0, 1, 0, 2, 1};
    EXPECT_FALSE(sliding_window_limiter::read_answers(reply, third, out));
    // Nor does a batch in which a client made fewer checks than the reply admitted: here A
    // and B made one each.
    std::vector<script_answer> fewer(2);
    EXPECT_FALSE(
        sliding_window_limiter::read_answers(reply, std::span(client_of_check).first(2), fewer));
}

}  // namespace
}  // namespace analytics::ratelimit
