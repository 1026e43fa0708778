// The running service against its own /openapi.json: the real binary and the test
// redis-server are driven into every answer that can be provoked from outside (success, each
// validation error, rate limit, breaker open, stale copy, Redis down, admin disabled, 404, 405,
// 413, 431, malformed HTTP), and each answer's status, headers, content type and body must be
// what the document says for that operation. A header, field or status the service gains without
// the document (or the other way round) fails here.

#include "api/docs_contract.hpp"
#include "e2e/http_client.hpp"
#include "e2e/metric_bodies.hpp"
#include "e2e/service_process.hpp"
#include "support/redis_admin.hpp"
#include "support/redis_deployment.hpp"
#include "support/redis_server.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <iostream>
#include <set>
#include <thread>

namespace analytics::test {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using env = std::map<std::string, std::string>;
using openapi::operation_key;

constexpr std::string_view admin_token = "docs-e2e-admin-token";

std::string metric(std::string_view type, double value)
{
    return json::serialize(
        json::object{{"timestamp", now_rfc3339()}, {"value", value}, {"type", type}});
}

// Sends requests, checks every answer against the document, and remembers which documented
// (operation, status) pairs it saw.
class contract_client {
public:
    explicit contract_client(std::uint16_t port) : port_(port) {}

    /// One request on a fresh connection; `path` is the route template the target belongs to.
    http_reply send(std::string_view method, std::string_view path, std::string_view target,
                    std::string_view body = {}, const env& headers = {})
    {
        const auto reply = http_request(port_, method, target, body, headers);
        check(method, path, reply);
        return reply;
    }

    /// Checks an answer obtained some other way (raw bytes, a kept connection).
    void check(std::string_view method, std::string_view path, const http_reply& reply)
    {
        openapi::observed_response r;
        r.status = reply.status;
        r.headers = reply.headers;
        r.body = reply.body;
        r.head = method == "HEAD";
        std::string key(method);
        for (auto& c : key) {
            c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        }
        const operation_key op{key, std::string(path)};
        for (const auto& problem : openapi::check_response(openapi::document(), op, r)) {
            ADD_FAILURE() << problem << "\n  body: " << reply.body.substr(0, 300);
        }
        seen_.insert({op, reply.status});
    }

    const std::set<std::pair<operation_key, unsigned>>& seen() const { return seen_; }

private:
    std::uint16_t port_;
    std::set<std::pair<operation_key, unsigned>> seen_;
};

env bearer(std::string_view token)
{
    return {{"Authorization", "Bearer " + std::string(token)}};
}

class docs_e2e : public ::testing::Test {
protected:
    docs_e2e() { admin_.flush(); }

    deployment_admin admin_;
};

TEST_F(docs_e2e, every_answer_of_the_running_service_is_as_documented)
{
    service_process svc(env{{"RATE_LIMIT_REQUESTS", "3"},
                            {"RATE_LIMIT_WINDOW_SECONDS", "60"},
                            {"ADMIN_TOKEN", std::string(admin_token)},
                            {"CIRCUIT_BREAKER_FAILURE_THRESHOLD", "2"},
                            {"CIRCUIT_BREAKER_RESET_TIMEOUT", "60"},
                            {"CACHE_TTL_SECONDS", "1"}});
    contract_client c(svc.port());

    EXPECT_EQ(c.send("GET", "/health", "/health").status, 200U);
    EXPECT_EQ(c.send("HEAD", "/health", "/health").status, 200U);
    EXPECT_EQ(c.send("GET", "/ready", "/ready").status, 200U);

    // Ingest: the limiter counts every request (3 per window), valid or not, so the fourth is
    // refused. A body over the limit is refused before routing and does not count.
    EXPECT_EQ(c.send("POST", "/api/metrics", "/api/metrics", metric("docs_cpu", 75.5)).status,
              201U);
    EXPECT_EQ(c.send("POST", "/api/metrics", "/api/metrics", "{not json").status, 400U);
    EXPECT_EQ(c.send("POST", "/api/metrics", "/api/metrics",
                     R"({"timestamp":"yesterday","value":"high","type":"bad type!"})")
                  .status,
              422U);
    {
        http_connection big(svc.port());
        const auto r = big.request("POST", "/api/metrics", std::string(64 * 1024 + 1, ' '));
        EXPECT_EQ(r.status, 413U);
        c.check("POST", "/api/metrics", r);
    }
    const auto refused = c.send("POST", "/api/metrics", "/api/metrics", metric("docs_cpu", 1));
    EXPECT_EQ(refused.status, 429U);

    EXPECT_EQ(c.send("GET", "/api/metrics/list", "/api/metrics/list?type=docs_cpu&limit=5").status,
              200U);
    EXPECT_EQ(c.send("GET", "/api/metrics/list", "/api/metrics/list?limit=0").status, 422U);
    EXPECT_EQ(c.send("GET", "/api/metrics/summary", "/api/metrics/summary?period=weekly").status,
              422U);
    const auto miss =
        c.send("GET", "/api/metrics/summary", "/api/metrics/summary?type=docs_cpu&period=daily");
    EXPECT_EQ(miss.status, 200U);
    EXPECT_EQ(miss.header("x-cache"), "MISS");
    EXPECT_EQ(
        c.send("GET", "/api/metrics/summary", "/api/metrics/summary?type=docs_cpu&period=daily")
            .header("x-cache"),
        "HIT");
    EXPECT_EQ(c.send("GET", "/api/metrics/summary", "/api/metrics/summary?type=docs_empty").status,
              200U);
    EXPECT_EQ(c.send("GET", "/api/circuit-breaker/status", "/api/circuit-breaker/status").status,
              200U);

    // Admin: no token, a wrong one, bad bodies; then make the upstream fail.
    const std::string admin_path = "/api/admin/external-service";
    EXPECT_EQ(c.send("PUT", admin_path, admin_path, R"({"failure_rate":1})").status, 401U);
    EXPECT_EQ(
        c.send("PUT", admin_path, admin_path, R"({"failure_rate":1})", bearer("wrong")).status,
        401U);
    EXPECT_EQ(c.send("PUT", admin_path, admin_path, "{", bearer(admin_token)).status, 400U);
    EXPECT_EQ(
        c.send("PUT", admin_path, admin_path, R"({"failure_rate":2})", bearer(admin_token)).status,
        422U);
    EXPECT_EQ(c.send("PUT", admin_path, admin_path, R"({"failure_rate":1,"latency_ms":0})",
                     bearer(admin_token))
                  .status,
              200U);

    // Two failed calls open the breaker; the next miss is refused at once; an expired summary
    // that is still held is served stale instead.
    const std::string summary = "/api/metrics/summary";
    EXPECT_EQ(c.send("GET", summary, summary + "?type=docs_b").status, 503U);
    EXPECT_EQ(c.send("GET", summary, summary + "?type=docs_c").status, 503U);
    const auto open = c.send("GET", summary, summary + "?type=docs_d");
    EXPECT_EQ(open.status, 503U);
    EXPECT_EQ(open.json().at("code").as_string(), "CIRCUIT_OPEN");
    const auto status = c.send("GET", "/api/circuit-breaker/status", "/api/circuit-breaker/status");
    EXPECT_EQ(status.json().at("state").as_string(), "OPEN");
    std::this_thread::sleep_for(1200ms);  // CACHE_TTL_SECONDS=1
    const auto stale = c.send("GET", summary, summary + "?type=docs_cpu&period=daily");
    EXPECT_EQ(stale.status, 200U);
    EXPECT_EQ(stale.header("x-cache"), "STALE");
    EXPECT_EQ(
        c.send("PUT", admin_path, admin_path, R"({"failure_rate":0})", bearer(admin_token)).status,
        200U);

    // The documentation itself, with revalidation.
    const auto document = c.send("GET", "/openapi.json", "/openapi.json");
    EXPECT_EQ(document.status, 200U);
    EXPECT_EQ(json::parse(document.body).as_object(), openapi::document());
    EXPECT_EQ(c.send("GET", "/openapi.json", "/openapi.json", {},
                     {{"If-None-Match", document.header("etag")}})
                  .status,
              304U);
    for (const auto& op : openapi::operations(openapi::document())) {
        if (op.path.starts_with("/docs") || op.path.starts_with("/redoc")) {
            EXPECT_EQ(c.send("GET", op.path, op.path).status, 200U) << op.path;
        }
    }
    // Every GET route answers HEAD as its head operation says: same status and headers, no
    // body (a 304 included).
    for (const auto& op : openapi::operations(openapi::document())) {
        if (op.method == "head") {
            EXPECT_TRUE(c.send("HEAD", op.path, op.path).body.empty()) << op.path;
        }
    }
    EXPECT_EQ(c.send("HEAD", "/openapi.json", "/openapi.json", {},
                     {{"If-None-Match", document.header("etag")}})
                  .status,
              304U);

    // What the router answers by itself: 405 for a documented path with another method, 404
    // for a path the document does not have; and the session's 431 and 400.
    for (const auto& op : openapi::operations(openapi::document())) {
        const auto r = c.send("PATCH", op.path, op.path);
        EXPECT_EQ(r.status, 405U) << op.path;
    }
    EXPECT_EQ(c.send("GET", "/no/such/path", "/no/such/path").status, 404U);
    {
        http_connection big(svc.port());
        const auto r = big.request("GET", "/health", {}, {{"X-Padding", std::string(9000, 'p')}});
        EXPECT_EQ(r.status, 431U);
        c.check("GET", "/health", r);
    }
    {
        http_connection garbage(svc.port());
        garbage.send_raw("GET /health HTTP/9.9\r\n\r\n");
        const auto r = garbage.read_reply();
        ASSERT_TRUE(r.has_value());
        EXPECT_EQ(r->status, 400U);
        c.check("", "", *r);
    }

    // Statuses the document lists that this run could not provoke (500, and the ones of the
    // test below), for the log.
    std::string unseen;
    for (const auto& op : openapi::operations(openapi::document())) {
        for (const auto s : openapi::documented_statuses(openapi::document(), op)) {
            if (c.seen().count({op, s}) == 0) {
                unseen += " " + op.method + " " + op.path + " " + std::to_string(s) + ";";
            }
        }
    }
    std::cout << "[ docs_e2e ] documented but not provoked here:" << unseen << '\n';
}

TEST_F(docs_e2e, answers_without_redis_and_without_an_admin_token_are_as_documented)
{
    // Port 1: nothing listens, connecting fails at once.
    auto without_redis = unreachable_deployment_env(1);
    without_redis.emplace("ADMIN_TOKEN", "");
    service_process svc(without_redis, false);
    contract_client c(svc.port());

    const auto health = c.send("GET", "/health", "/health");
    EXPECT_EQ(health.json().at("status").as_string(), "degraded");
    EXPECT_EQ(c.send("GET", "/ready", "/ready").status, 503U);
    EXPECT_EQ(c.send("POST", "/api/metrics", "/api/metrics", metric("docs_cpu", 1)).status, 503U);
    EXPECT_EQ(c.send("GET", "/api/metrics/list", "/api/metrics/list").status, 503U);
    EXPECT_EQ(c.send("GET", "/api/metrics/summary", "/api/metrics/summary?type=docs_cpu").status,
              503U);
    const std::string admin_path = "/api/admin/external-service";
    EXPECT_EQ(c.send("PUT", admin_path, admin_path, R"({"failure_rate":0})", bearer("x")).status,
              403U);
    // The documentation needs no Redis.
    EXPECT_EQ(c.send("GET", "/docs", "/docs").status, 200U);
}

}  // namespace
}  // namespace analytics::test
