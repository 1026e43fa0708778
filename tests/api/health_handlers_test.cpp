#include "api/health_handlers.hpp"

#include "http/router.hpp"
#include "support/fake_clock.hpp"
#include "support/fake_request.hpp"
#include "support/run_coro.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>

namespace analytics::api {
namespace {

using namespace std::chrono_literals;

struct health_fixture {
    health_fixture() { handlers.register_routes(router); }

    http::response get(std::string_view path)
    {
        test::header_map headers;
        net::io_context ioc;
        http::request_context ctx;
        http::request req(http::method::get, path, {}, &headers, &test::lookup_in_map, ctx);
        return test::run_coro(ioc, router.dispatch(req));
    }

    boost::json::object body(std::string_view path)
    {
        return boost::json::parse(get(path).body).as_object();
    }

    void refuse_writes()
    {
        redis::reply r;
        r.type = redis::reply::kind::error;
        r.str = "OOM command not allowed when used memory > 'maxmemory'.";
        refusals.observe(r);
    }

    bool connected = true;
    std::atomic<bool> shutting_down{false};
    test::fake_clock clock;
    redis::write_refusals refusals{clock, 2s};
    health_handlers handlers{[this] { return connected; }, shutting_down, refusals};
    http::router router;
};

TEST(health_handlers, say_healthy_without_a_reason)
{
    health_fixture f;
    const auto body = f.body("/health");
    EXPECT_EQ(body.at("status"), "healthy");
    EXPECT_FALSE(body.contains("reason"));
    EXPECT_EQ(f.get("/ready").status, 200U);
}

TEST(health_handlers, say_degraded_because_redis_is_unreachable)
{
    health_fixture f;
    f.connected = false;
    const auto body = f.body("/health");
    EXPECT_EQ(body.at("status"), "degraded");
    EXPECT_EQ(body.at("reason"), "redis_unreachable");
    EXPECT_EQ(body.at("redis_connected"), false);
    EXPECT_EQ(f.get("/health").status, 200U);
    EXPECT_EQ(f.get("/ready").status, 503U);
}

TEST(health_handlers, say_degraded_while_redis_refuses_writes_and_stay_ready)
{
    health_fixture f;
    f.refuse_writes();
    const auto body = f.body("/health");
    EXPECT_EQ(body.at("status"), "degraded");
    EXPECT_EQ(body.at("reason"), "redis_refusing_writes");
    EXPECT_EQ(body.at("refusal"), "oom");
    EXPECT_EQ(body.at("redis_connected"), true);
    // Every instance shares the Redis: taking this one out of rotation helps no one.
    EXPECT_EQ(f.get("/ready").status, 200U);
    EXPECT_EQ(boost::json::parse(f.get("/ready").body).at("reason"), "redis_refusing_writes");

    f.clock.advance(2s);
    EXPECT_EQ(f.body("/health").at("status"), "healthy");
}

}  // namespace
}  // namespace analytics::api
