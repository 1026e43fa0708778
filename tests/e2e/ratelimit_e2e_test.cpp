// End-to-end tests of rate limiting on POST /api/metrics (docs/contract.md, Rate limiting) against
// the real binary and Redis.

#include "e2e/http_client.hpp"
#include "e2e/metric_bodies.hpp"
#include "e2e/service_process.hpp"
#include "support/redis_admin.hpp"
#include "support/redis_deployment.hpp"
#include "support/redis_server.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <ctime>
#include <thread>

namespace analytics::test {
namespace {

using namespace std::chrono_literals;
using env = std::map<std::string, std::string>;

std::string now_body(std::string_view type = "cpu")
{
    return metric_body(now_rfc3339(), "70", type);
}

class ratelimit_e2e : public ::testing::Test {
protected:
    ratelimit_e2e() { deployment_admin().flush(); }
};

// The seed's Example 2: ten requests pass, the eleventh is 429 with Retry-After.
TEST_F(ratelimit_e2e, ten_requests_pass_and_the_eleventh_is_429)
{
    service_process svc;
    http_connection conn(svc.port());
    for (int i = 0; i < 10; ++i) {
        auto r = conn.request("POST", "/api/metrics", now_body());
        ASSERT_EQ(r.status, 201U) << i << ": " << r.body;
        EXPECT_EQ(r.header("x-ratelimit-limit"), "10");
        EXPECT_EQ(r.header("x-ratelimit-remaining"), std::to_string(9 - i));
        EXPECT_GE(std::stoi(r.header("x-ratelimit-reset")), 1);
        EXPECT_EQ(r.header("ratelimit-policy"), "10;w=60");
        EXPECT_NE(r.header("ratelimit").find("limit=10"), std::string::npos);
    }
    auto refused = conn.request("POST", "/api/metrics", now_body());
    EXPECT_EQ(refused.status, 429U);
    auto body = refused.json().as_object();
    EXPECT_EQ(body.at("code").as_string(), "RATE_LIMIT_EXCEEDED");
    EXPECT_TRUE(body.contains("timestamp"));
    const int retry_after = std::stoi(refused.header("retry-after"));
    EXPECT_GE(retry_after, 1);
    EXPECT_LE(retry_after, 60 + 6);  // at most window + window/limit
    EXPECT_EQ(refused.header("x-ratelimit-remaining"), "0");
    // Reads are not limited.
    EXPECT_EQ(conn.request("GET", "/api/metrics/list").status, 200U);
}

TEST_F(ratelimit_e2e, invalid_requests_count_too)
{
    service_process svc(env{{"RATE_LIMIT_REQUESTS", "3"}});
    http_connection conn(svc.port());
    EXPECT_EQ(conn.request("POST", "/api/metrics", "not json").status, 400U);
    EXPECT_EQ(conn.request("POST", "/api/metrics", "{}").status, 422U);
    EXPECT_EQ(conn.request("POST", "/api/metrics", now_body()).status, 201U);
    EXPECT_EQ(conn.request("POST", "/api/metrics", now_body()).status, 429U);
}

TEST_F(ratelimit_e2e, two_instances_on_one_redis_share_one_count)
{
    service_process a(env{{"RATE_LIMIT_REQUESTS", "6"}});
    service_process b(env{{"RATE_LIMIT_REQUESTS", "6"}});
    int created = 0;
    for (int i = 0; i < 6; ++i) {
        auto r = http_request(i % 2 == 0 ? a.port() : b.port(), "POST", "/api/metrics", now_body());
        created += r.status == 201 ? 1 : 0;
    }
    EXPECT_EQ(created, 6);
    EXPECT_EQ(http_request(a.port(), "POST", "/api/metrics", now_body()).status, 429U);
    EXPECT_EQ(http_request(b.port(), "POST", "/api/metrics", now_body()).status, 429U);
}

TEST_F(ratelimit_e2e, two_hundred_concurrent_requests_admit_exactly_the_limit)
{
    service_process svc(env{{"RATE_LIMIT_REQUESTS", "25"}, {"HTTP_MAX_CONNECTIONS", "400"}});
    std::vector<std::unique_ptr<http_connection>> conns;
    for (int i = 0; i < 200; ++i) {
        conns.push_back(std::make_unique<http_connection>(svc.port()));
    }
    const std::string body = now_body();
    const std::string request =
        "POST /api/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: "
        "application/json\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
    for (auto& c : conns) {
        c->send_raw(request);
    }
    int created = 0;
    int refused = 0;
    for (auto& c : conns) {
        auto r = c->read_reply();
        ASSERT_TRUE(r.has_value());
        created += r->status == 201 ? 1 : 0;
        refused += r->status == 429 ? 1 : 0;
    }
    EXPECT_EQ(created, 25);
    EXPECT_EQ(refused, 175);
}

TEST_F(ratelimit_e2e, x_forwarded_for_is_believed_only_from_a_trusted_proxy)
{
    // Loopback is trusted by default: each forwarded client has its own count.
    service_process trusting(env{{"RATE_LIMIT_REQUESTS", "1"}});
    EXPECT_EQ(http_request(trusting.port(), "POST", "/api/metrics", now_body(),
                           {{"X-Forwarded-For", "203.0.113.7"}})
                  .status,
              201U);
    EXPECT_EQ(http_request(trusting.port(), "POST", "/api/metrics", now_body(),
                           {{"X-Forwarded-For", "203.0.113.8"}})
                  .status,
              201U);
    EXPECT_EQ(http_request(trusting.port(), "POST", "/api/metrics", now_body(),
                           {{"X-Forwarded-For", "203.0.113.7"}})
                  .status,
              429U);

    // Trusting nobody: the header is ignored and every request is the peer's.
    deployment_admin().flush();
    service_process strict(env{{"RATE_LIMIT_REQUESTS", "1"}, {"TRUSTED_PROXIES", "10.0.0.0/8"}});
    EXPECT_EQ(http_request(strict.port(), "POST", "/api/metrics", now_body(),
                           {{"X-Forwarded-For", "203.0.113.9"}})
                  .status,
              201U);
    EXPECT_EQ(http_request(strict.port(), "POST", "/api/metrics", now_body(),
                           {{"X-Forwarded-For", "203.0.113.10"}})
                  .status,
              429U);
}

TEST_F(ratelimit_e2e, with_redis_down_requests_pass_fast_and_the_local_backstop_limits_a_flood)
{
    redis_process redis;
    service_process svc(env{{"REDIS_PORT", std::to_string(redis.port())},
                            {"RATE_LIMIT_REQUESTS", "5"},
                            {"APP_THREADS", "1"}});
    redis.kill();
    std::this_thread::sleep_for(100ms);
    http_connection conn(svc.port());
    int refused = 0;
    int unavailable = 0;
    const auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i) {
        auto r = conn.request("POST", "/api/metrics", now_body());
        refused += r.status == 429 ? 1 : 0;
        unavailable += r.status == 503 ? 1 : 0;  // admitted, but storage is down
    }
    const auto took = std::chrono::steady_clock::now() - started;
    EXPECT_EQ(unavailable, 5);
    EXPECT_EQ(refused, 15);
    EXPECT_LT(took, 2s);  // nothing waits for a dead Redis
    EXPECT_TRUE(svc.wait_for_line("\"ratelimit.fail_open\"", 1s).has_value());

    // Back again: the global count in Redis decides once more.
    redis.start();
    ASSERT_TRUE(svc.wait_for_lines("\"redis.connected\"", 2, 10s));
    auto r = conn.request("POST", "/api/metrics", now_body());
    EXPECT_EQ(r.status, 201U) << r.body;
}

}  // namespace
}  // namespace analytics::test
