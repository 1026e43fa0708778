// The service as the least-privilege Redis user the README documents, its ACL SETUSER line read
// from README.md itself (support/documented_acl.hpp): every endpoint works, and so does what runs
// behind them (the start-up move of v1 data, the shared breaker and admin settings, client-side
// caching's invalidations, the rate limiter, EVAL after a SCRIPT FLUSH, SELECT of another
// database); Redis refuses none of it (ACL LOG stays empty); what lies outside the ACL, Redis
// refuses. The real binary and a private redis-server.

#include "e2e/http_client.hpp"
#include "e2e/service_process.hpp"
#include "support/documented_acl.hpp"
#include "support/redis_admin.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>

namespace analytics::test {
namespace {

using namespace std::chrono_literals;
using steady_clock = std::chrono::steady_clock;

const std::string password = "acl-e2e-password";

std::string metric_body(const std::string& type, double value)
{
    return R"({"timestamp":"2026-02-19T10:00:00Z","value":)" + std::to_string(value) +
           R"(,"type":")" + type + R"("})";
}

// A POST /api/metrics from `client` (the service trusts loopback's X-Forwarded-For).
http_reply post_metric(std::uint16_t port, const std::string& client, const std::string& type,
                       double value, const std::string& idempotency_key = {})
{
    std::map<std::string, std::string> headers{{"Content-Type", "application/json"},
                                               {"X-Forwarded-For", client}};
    if (!idempotency_key.empty()) {
        headers.emplace("Idempotency-Key", idempotency_key);
    }
    return http_request(port, "POST", "/api/metrics", metric_body(type, value), headers);
}

http_reply summary(std::uint16_t port, const std::string& type)
{
    return http_request(port, "GET", "/api/metrics/summary?type=" + type);
}

// Summaries of `type` until one answers X-Cache `wanted`; false when none did within 3 s.
bool summary_becomes(std::uint16_t port, const std::string& type, const std::string& wanted)
{
    const auto deadline = steady_clock::now() + 3s;
    while (steady_clock::now() < deadline) {
        const auto r = summary(port, type);
        if (r.status == 200 && r.header("x-cache") == wanted) {
            return true;
        }
        std::this_thread::sleep_for(20ms);
    }
    return false;
}

// One point of type `legacy` as builds before the current layout stored it (in REDIS_DB 1),
// for the service to move at start-up.
void write_v1_data(admin_connection& admin)
{
    // 2026-02-19T10:00:00Z as v1's order key (microseconds since year 1, 18 digits), then the
    // point's arrival number.
    const std::string order = "063907092000000000";
    const std::string member = order + "0000000000000001|legacy|2|2026-02-19T10:00:00Z";
    admin.command({"ZADD", "metrics:{legacy}:points", "0", member});
    admin.command({"ZADD", "metrics:index:points", "0", member});
    admin.command({"SET", "metrics:index:seq", "1"});
    admin.command({"SET", "metrics:{legacy}:total", "1 2 2 2 " + order + " 2"});
}

TEST(redis_acl_e2e, the_documented_least_privilege_user_serves_every_endpoint_and_nothing_more)
{
    redis_process server;
    admin_connection admin(server.port());
    ASSERT_EQ(admin.command({"SELECT", "1"}), "+OK");
    write_v1_data(admin);
    const auto acl = readme_acl(password);
    ASSERT_EQ(admin.command(acl.setuser), "+OK");

    service_process svc({{"REDIS_PORT", std::to_string(server.port())},
                         {"REDIS_DB", "1"},
                         {"REDIS_USERNAME", acl.username},
                         {"REDIS_PASSWORD", password},
                         {"CIRCUIT_BREAKER_SCOPE", "cluster"},
                         {"RATE_LIMIT_REQUESTS", "2"},
                         {"ADMIN_TOKEN", "acl-admin-token-16chars"}});
    const auto port = svc.port();

    // Start-up: v1's data moved.
    const auto moved = svc.wait_for_line("\"event\":\"metrics.v1_migrated\"", 5s);
    ASSERT_TRUE(moved.has_value());
    EXPECT_EQ(boost::json::parse(*moved).at("points").as_int64(), 1);

    EXPECT_EQ(http_request(port, "GET", "/health").json().at("status").as_string(), "healthy");
    EXPECT_EQ(http_request(port, "GET", "/ready").status, 200U);

    // Ingest, once per Idempotency-Key; a batch; the rate limit counted in Redis.
    EXPECT_EQ(post_metric(port, "10.0.0.1", "acl_cpu", 60, "acl-key-1").status, 201U);
    EXPECT_EQ(post_metric(port, "10.0.0.1", "acl_cpu", 60, "acl-key-1").status, 201U);
    const auto batch =
        http_request(port, "POST", "/api/metrics/batch",
                     "[" + metric_body("acl_cpu", 70) + "," + metric_body("acl_mem", 512) + "]",
                     {{"Content-Type", "application/json"}, {"X-Forwarded-For", "10.0.0.2"}});
    EXPECT_EQ(batch.status, 201U) << batch.body;
    const auto limited = post_metric(port, "10.0.0.1", "acl_cpu", 1);
    EXPECT_EQ(limited.status, 429U) << "the third request of 10.0.0.1 in the window";

    // Lists and summaries, the moved type's too; a cached summary; an invalidation.
    const auto list = http_request(port, "GET", "/api/metrics/list?type=acl_cpu");
    EXPECT_EQ(list.status, 200U);
    EXPECT_EQ(list.json().as_array().size(), 2U) << list.body;
    EXPECT_EQ(http_request(port, "GET", "/api/metrics/list").json().as_array().size(), 4U);
    const auto legacy = summary(port, "legacy");
    EXPECT_EQ(legacy.status, 200U);
    EXPECT_EQ(legacy.json().at("count").as_int64(), 1) << legacy.body;
    const auto miss = summary(port, "acl_cpu");
    EXPECT_EQ(miss.header("x-cache"), "MISS");
    EXPECT_EQ(miss.json().at("count").as_int64(), 2) << miss.body;
    EXPECT_TRUE(summary_becomes(port, "acl_cpu", "HIT"));
    admin.command({"DEL", "summary:acl_cpu:all"});
    EXPECT_TRUE(summary_becomes(port, "acl_cpu", "MISS"));

    // The fleet's breaker and settings.
    const auto breaker = http_request(port, "GET", "/api/circuit-breaker/status");
    EXPECT_EQ(breaker.status, 200U);
    EXPECT_FALSE(breaker.json().at("fallback").as_bool()) << breaker.body;
    const auto settings =
        http_request(port, "PUT", "/api/admin/external-service", R"({"failure_rate":0})",
                     {{"Content-Type", "application/json"},
                      {"Authorization", "Bearer acl-admin-token-16chars"}});
    EXPECT_EQ(settings.status, 200U) << settings.body;

    // A server that lost its scripts: EVAL until they are loaded again.
    EXPECT_EQ(admin.command({"SCRIPT", "FLUSH"}), "+OK");
    EXPECT_EQ(post_metric(port, "10.0.0.3", "acl_cpu", 80).status, 201U);
    EXPECT_EQ(summary(port, "acl_mem").status, 200U);

    EXPECT_EQ(http_request(port, "GET", "/metrics").status, 200U);
    // Let the periodic readers (settings, breaker) run a few times under the ACL too.
    std::this_thread::sleep_for(600ms);

    // Redis refused nothing the service sent, and the service saw no refusal.
    EXPECT_EQ(admin.command({"ACL", "LOG"}), "*0");
    for (const auto& line : svc.lines()) {
        EXPECT_EQ(line.find("NOPERM"), std::string::npos) << line;
    }

    // As that user, anything outside the ACL is refused.
    admin_connection as_user(server.port());
    ASSERT_EQ(as_user.command({"AUTH", acl.username, password}), "+OK");
    EXPECT_EQ(as_user.command({"SELECT", "1"}), "+OK");
    EXPECT_EQ(as_user.command({"GET", "summary:acl_mem:all"}).rfind("$", 0), 0U);
    for (const auto& refused : {std::vector<std::string>{"FLUSHALL"},
                                {"KEYS", "*"},
                                {"CONFIG", "GET", "*"},
                                {"GET", "someone-else:key"},
                                {"SET", "summary-of-nothing", "x"},
                                {"EVAL", "return redis.call('FLUSHDB')", "0"},
                                {"CLIENT", "KILL", "TYPE", "normal"},
                                {"ACL", "WHOAMI"},
                                {"SUBSCRIBE", "other-channel"}}) {
        const auto answer = as_user.command(refused);
        // A script's command refused by the ACL comes back as "-ERR The user executing the
        // script can't run this command ...", not NOPERM.
        EXPECT_TRUE(answer.starts_with("-NOPERM") ||
                    (refused.front() == "EVAL" &&
                     answer.find("can't run this command") != std::string::npos))
            << refused.front() << ": " << answer;
    }
    EXPECT_GT(admin.integer({"DBSIZE"}), 0) << "the refused FLUSHALL ran";
}

}  // namespace
}  // namespace analytics::test
