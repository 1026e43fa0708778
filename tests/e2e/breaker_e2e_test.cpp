// End-to-end tests of the circuit breaker around the external service, stale-if-error and the
// admin API (docs/contract.md: Summary, Circuit breaker, Admin), against the real binary and Redis.

#include "e2e/http_client.hpp"
#include "e2e/metric_bodies.hpp"
#include "e2e/service_process.hpp"
#include "support/redis_admin.hpp"
#include "support/redis_deployment.hpp"
#include "support/redis_server.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <thread>

namespace analytics::test {
namespace {

using namespace std::chrono_literals;
using env = std::map<std::string, std::string>;

const std::map<std::string, std::string> admin_auth{{"Authorization", "Bearer s3cret-admin-tok"}};

env breaker_env(env extra = {})
{
    extra.emplace("RATE_LIMIT_REQUESTS", "1000000");
    extra.emplace("ADMIN_TOKEN", "s3cret-admin-tok");
    extra.emplace("CIRCUIT_BREAKER_RESET_TIMEOUT", "1");
    extra.emplace("CACHE_TTL_SECONDS", "1");
    return extra;
}

boost::json::object status_of(std::uint16_t port)
{
    auto r = http_request(port, "GET", "/api/circuit-breaker/status");
    EXPECT_EQ(r.status, 200U);
    return r.json().as_object();
}

void set_failure_rate(std::uint16_t port, double rate)
{
    auto r = http_request(port, "PUT", "/api/admin/external-service",
                          R"({"failure_rate":)" + std::to_string(rate) + "}", admin_auth);
    ASSERT_EQ(r.status, 200U) << r.body;
    EXPECT_EQ(r.json().as_object().at("failure_rate").to_number<double>(), rate);
}

class breaker_e2e : public ::testing::Test {
protected:
    breaker_e2e() { deployment_admin().flush(); }
};

// The seed's Example 3, step by step.
TEST_F(breaker_e2e, opens_after_five_failures_and_closes_after_a_successful_trial)
{
    service_process svc(breaker_env());
    auto initial = status_of(svc.port());
    EXPECT_EQ(initial.at("state").as_string(), "CLOSED");
    EXPECT_EQ(initial.at("failure_count").to_number<int>(), 0);

    set_failure_rate(svc.port(), 1.0);
    for (int i = 0; i < 5; ++i) {
        // Distinct types, so each request is a cache miss that calls the upstream.
        auto r =
            http_request(svc.port(), "GET", "/api/metrics/summary?type=cpu" + std::to_string(i));
        EXPECT_EQ(r.status, 503U);
        EXPECT_EQ(r.json().as_object().at("code").as_string(), "EXTERNAL_SERVICE_ERROR");
    }
    auto open = status_of(svc.port());
    EXPECT_EQ(open.at("state").as_string(), "OPEN");
    EXPECT_EQ(open.at("failure_count").to_number<int>(), 5);
    EXPECT_TRUE(open.contains("opened_at"));
    EXPECT_GE(open.at("retry_after_seconds").to_number<int>(), 1);

    auto rejected = http_request(svc.port(), "GET", "/api/metrics/summary?type=cpu");
    EXPECT_EQ(rejected.status, 503U);
    EXPECT_EQ(rejected.json().as_object().at("code").as_string(), "CIRCUIT_OPEN");
    EXPECT_GE(std::stoi(rejected.header("retry-after")), 1);

    set_failure_rate(svc.port(), 0.0);
    std::this_thread::sleep_for(1100ms);
    EXPECT_EQ(status_of(svc.port()).at("state").as_string(), "HALF_OPEN");

    auto trial = http_request(svc.port(), "GET", "/api/metrics/summary?type=cpu");
    EXPECT_EQ(trial.status, 200U) << trial.body;
    EXPECT_EQ(trial.header("x-cache"), "MISS");
    auto closed = status_of(svc.port());
    EXPECT_EQ(closed.at("state").as_string(), "CLOSED");
    EXPECT_EQ(closed.at("failure_count").to_number<int>(), 0);

    // success_count counts successful calls since the last change of state.
    ASSERT_EQ(http_request(svc.port(), "GET", "/api/metrics/summary?type=other").status, 200U);
    EXPECT_EQ(status_of(svc.port()).at("success_count").to_number<int>(), 1);
}

TEST_F(breaker_e2e, a_failed_trial_opens_the_breaker_again)
{
    service_process svc(breaker_env({{"CIRCUIT_BREAKER_FAILURE_THRESHOLD", "2"}}));
    set_failure_rate(svc.port(), 1.0);
    for (int i = 0; i < 2; ++i) {
        http_request(svc.port(), "GET", "/api/metrics/summary?type=t" + std::to_string(i));
    }
    EXPECT_EQ(status_of(svc.port()).at("state").as_string(), "OPEN");
    std::this_thread::sleep_for(1100ms);
    auto trial = http_request(svc.port(), "GET", "/api/metrics/summary?type=t9");
    EXPECT_EQ(trial.json().as_object().at("code").as_string(), "EXTERNAL_SERVICE_ERROR");
    EXPECT_EQ(status_of(svc.port()).at("state").as_string(), "OPEN");
}

TEST_F(breaker_e2e, a_slow_upstream_counts_as_a_failure_after_the_timeout)
{
    service_process svc(breaker_env(
        {{"EXTERNAL_SERVICE_TIMEOUT", "0.2"}, {"EXTERNAL_SERVICE_LATENCY_MS", "1000"}}));
    const auto started = std::chrono::steady_clock::now();
    auto r = http_request(svc.port(), "GET", "/api/metrics/summary?type=slow");
    const auto took = std::chrono::steady_clock::now() - started;
    EXPECT_EQ(r.status, 503U);
    EXPECT_EQ(r.json().as_object().at("code").as_string(), "EXTERNAL_SERVICE_ERROR");
    EXPECT_LT(took, 900ms);
    EXPECT_EQ(status_of(svc.port()).at("failure_count").to_number<int>(), 1);
}

TEST_F(breaker_e2e, serves_a_stale_copy_when_the_upstream_fails_or_the_breaker_is_open)
{
    service_process svc(breaker_env(
        {{"CIRCUIT_BREAKER_FAILURE_THRESHOLD", "2"}, {"CIRCUIT_BREAKER_RESET_TIMEOUT", "30"}}));
    ASSERT_EQ(
        http_request(svc.port(), "POST", "/api/metrics", metric_body(now_rfc3339(), "42", "st"))
            .status,
        201U);
    auto fresh = http_request(svc.port(), "GET", "/api/metrics/summary?type=st");
    ASSERT_EQ(fresh.header("x-cache"), "MISS");
    std::this_thread::sleep_for(1100ms);  // the fresh copy expires; the stale one stays

    set_failure_rate(svc.port(), 1.0);
    auto stale = http_request(svc.port(), "GET", "/api/metrics/summary?type=st");
    EXPECT_EQ(stale.status, 200U);
    EXPECT_EQ(stale.header("x-cache"), "STALE");
    EXPECT_EQ(stale.body, fresh.body);

    http_request(svc.port(), "GET", "/api/metrics/summary?type=nostale");
    EXPECT_EQ(status_of(svc.port()).at("state").as_string(), "OPEN");
    auto while_open = http_request(svc.port(), "GET", "/api/metrics/summary?type=st");
    EXPECT_EQ(while_open.status, 200U);
    EXPECT_EQ(while_open.header("x-cache"), "STALE");
    auto no_copy = http_request(svc.port(), "GET", "/api/metrics/summary?type=never");
    EXPECT_EQ(no_copy.status, 503U);
    EXPECT_EQ(no_copy.json().as_object().at("code").as_string(), "CIRCUIT_OPEN");
}

TEST_F(breaker_e2e, the_admin_api_needs_the_bearer_token)
{
    service_process svc(breaker_env());
    const std::string body = R"({"failure_rate":0.5,"latency_ms":20})";
    auto missing = http_request(svc.port(), "PUT", "/api/admin/external-service", body);
    EXPECT_EQ(missing.status, 401U);
    EXPECT_EQ(missing.json().as_object().at("code").as_string(), "UNAUTHORIZED");
    EXPECT_NE(missing.header("www-authenticate").find("Bearer"), std::string::npos);

    auto wrong = http_request(svc.port(), "PUT", "/api/admin/external-service", body,
                              {{"Authorization", "Bearer nope"}});
    EXPECT_EQ(wrong.status, 401U);

    auto bad_json = http_request(svc.port(), "PUT", "/api/admin/external-service", "{", admin_auth);
    EXPECT_EQ(bad_json.status, 400U);
    auto bad_rate = http_request(svc.port(), "PUT", "/api/admin/external-service",
                                 R"({"failure_rate":2})", admin_auth);
    EXPECT_EQ(bad_rate.status, 422U);

    auto ok = http_request(svc.port(), "PUT", "/api/admin/external-service", body, admin_auth);
    ASSERT_EQ(ok.status, 200U);
    EXPECT_EQ(ok.json().as_object().at("failure_rate").to_number<double>(), 0.5);
    EXPECT_EQ(ok.json().as_object().at("latency_ms").to_number<int>(), 20);
}

TEST_F(breaker_e2e, the_admin_api_is_forbidden_without_a_configured_token)
{
    service_process svc(env{{"RATE_LIMIT_REQUESTS", "1000"}});
    auto r = http_request(svc.port(), "PUT", "/api/admin/external-service",
                          R"({"failure_rate":0.5})", {{"Authorization", "Bearer anything"}});
    EXPECT_EQ(r.status, 403U);
    EXPECT_EQ(r.json().as_object().at("code").as_string(), "FORBIDDEN");
}

}  // namespace
}  // namespace analytics::test
