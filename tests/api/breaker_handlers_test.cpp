#include "api/breaker_handlers.hpp"

#include "common/rfc3339.hpp"
#include "http/router.hpp"
#include "support/fake_clock.hpp"
#include "support/run_coro.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <chrono>

namespace analytics::api {
namespace {

using namespace std::chrono_literals;

std::string_view no_headers(const void*, std::string_view)
{
    return {};
}

struct status_fixture {
    test::fake_clock clock{test::fake_clock::wall_time{std::chrono::seconds(1'771'502'400)}};
    breaker::circuit_breaker breaker{config::breaker_options{2, 30s}, 5s, clock};
    breaker::scoped_breaker scoped{breaker};
    std::string instance_id = "api-1:8000";
    breaker_handlers handlers{scoped, instance_id};
    http::router router;

    status_fixture() { handlers.register_routes(router); }

    http::response get()
    {
        net::io_context ioc;
        http::request_context ctx;
        http::request req(http::method::get, "/api/circuit-breaker/status", {}, nullptr,
                          &no_headers, ctx);
        return test::run_coro(ioc, router.dispatch(req));
    }

    boost::json::object body()
    {
        const auto res = get();
        EXPECT_EQ(res.status, 200U);
        return boost::json::parse(res.body).as_object();
    }

    void open()
    {
        breaker.try_acquire().record_failure();
        breaker.try_acquire().record_failure();
    }
};

TEST(breaker_status_handler, shows_state_and_counters_when_closed)
{
    status_fixture f;
    f.breaker.try_acquire().record_success();
    f.breaker.try_acquire().record_failure();
    const auto res = f.get();
    EXPECT_EQ(res.status, 200U);
    EXPECT_EQ(res.content_type, "application/json; charset=utf-8");
    EXPECT_EQ(res.get("Cache-Control"), "no-store");
    const auto body = boost::json::parse(res.body).as_object();
    EXPECT_EQ(body.size(), 5U);
    EXPECT_EQ(body.at("state"), "CLOSED");
    EXPECT_EQ(body.at("failure_count"), 1);
    EXPECT_EQ(body.at("success_count"), 1);
    EXPECT_EQ(body.at("scope"), "instance");
    EXPECT_EQ(body.at("instance"), "api-1:8000");
}

TEST(breaker_status_handler, adds_opened_at_and_retry_after_when_open)
{
    status_fixture f;
    f.open();
    f.clock.advance(10s);
    const auto body = f.body();
    EXPECT_EQ(body.size(), 7U);
    EXPECT_EQ(body.at("state"), "OPEN");
    EXPECT_EQ(body.at("failure_count"), 2);
    EXPECT_EQ(body.at("success_count"), 0);
    EXPECT_EQ(body.at("opened_at"), "2026-02-19T12:00:00Z");
    EXPECT_EQ(body.at("retry_after_seconds"), 20);
}

TEST(breaker_status_handler, shows_half_open_with_opened_at_once_the_reset_timeout_passed)
{
    status_fixture f;
    f.open();
    f.clock.advance(30s);
    const auto body = f.body();
    EXPECT_EQ(body.at("state"), "HALF_OPEN");
    EXPECT_EQ(body.at("opened_at"), "2026-02-19T12:00:00Z");
    // A trial would pass now, so there is nothing to wait for.
    EXPECT_FALSE(body.contains("retry_after_seconds"));
}

TEST(breaker_status_handler, shows_retry_after_while_the_trial_is_in_flight)
{
    status_fixture f;
    f.open();
    f.clock.advance(30s);
    auto trial = f.breaker.try_acquire();
    ASSERT_TRUE(trial.is_trial());
    const auto body = f.body();
    EXPECT_EQ(body.at("state"), "HALF_OPEN");
    EXPECT_EQ(body.at("retry_after_seconds"), 5);
    trial.record_success();
    const auto closed = f.body();
    EXPECT_EQ(closed.at("state"), "CLOSED");
    EXPECT_EQ(closed.at("failure_count"), 0);
    EXPECT_EQ(closed.at("success_count"), 0);
    EXPECT_FALSE(closed.contains("opened_at"));
}

TEST(breaker_status_handler, answers_only_get_and_head)
{
    status_fixture f;
    net::io_context ioc;
    http::request_context ctx;
    http::request req(http::method::post, "/api/circuit-breaker/status", {}, nullptr, &no_headers,
                      ctx);
    const auto res = test::run_coro(ioc, f.router.dispatch(req));
    EXPECT_EQ(res.status, 405U);
    EXPECT_EQ(res.get("Allow"), "GET, HEAD");
}

TEST(breaker_status_handler, renders_opened_at_in_whole_seconds)
{
    breaker::snapshot s;
    s.current = breaker::state::open;
    s.failure_count = 7;
    s.opened_at = common::clock::wall_time{std::chrono::milliseconds(1'771'502'400'999)};
    s.retry_after = 3s;
    EXPECT_EQ(breaker_handlers::status_body({s, config::breaker_scope::instance, false}, "a:1"),
              R"({"state":"OPEN","failure_count":7,"success_count":0,)"
              R"("opened_at":"2026-02-19T12:00:00Z","retry_after_seconds":3,)"
              R"("scope":"instance","instance":"a:1"})");
}

TEST(breaker_status_handler, says_when_a_cluster_breaker_falls_back_to_the_instance)
{
    breaker::snapshot s;
    EXPECT_EQ(breaker_handlers::status_body({s, config::breaker_scope::cluster, false}, "a:1"),
              R"({"state":"CLOSED","failure_count":0,"success_count":0,)"
              R"("scope":"cluster","instance":"a:1","fallback":false})");
    EXPECT_EQ(breaker_handlers::status_body({s, config::breaker_scope::cluster, true}, "a:1"),
              R"({"state":"CLOSED","failure_count":0,"success_count":0,)"
              R"("scope":"cluster","instance":"a:1","fallback":true})");
}

}  // namespace
}  // namespace analytics::api
