// README.md, Failure behaviour, external service failing or slow: counted by the circuit breaker;
// a stale copy if one is held, else 503. Through the admin API (ADMIN_TOKEN) the simulated
// upstream starts failing, then turns slow, while eight clients ask for summaries of types
// never asked for before (each a cache miss that needs the upstream) and ingest carries on.
// Every summary answer is a 503 with the right code (EXTERNAL_SERVICE_ERROR while the breaker
// lets calls through, CIRCUIT_OPEN with Retry-After once it is open); a summary cached before
// the storm is served STALE; the breaker opens; ingest is untouched; and when the upstream is
// healthy again the service recovers after CIRCUIT_BREAKER_RESET_TIMEOUT with one trial call.

#include "e2e/service_process.hpp"
#include "support/coro_helpers.hpp"
#include "support/redis_admin.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "chaos/chaos_support.hpp"

namespace analytics::test {
namespace {

using namespace std::chrono_literals;

const std::map<std::string, std::string> admin_auth{{"Authorization", "Bearer chaos-admin-token"}};
constexpr int threshold = 5;

void set_upstream(std::uint16_t port, const std::string& body)
{
    const auto r = http_request(port, "PUT", "/api/admin/external-service", body, admin_auth);
    ASSERT_EQ(r.status, 200U) << r.body;
}

boost::json::object breaker_status(std::uint16_t port)
{
    return http_request(port, "GET", "/api/circuit-breaker/status").json().as_object();
}

struct storm_result {
    int upstream_failed = 0;  // 503 EXTERNAL_SERVICE_ERROR
    int circuit_open = 0;     // 503 CIRCUIT_OPEN with Retry-After >= 1
    int ingested = 0;         // 201 while the storm raged
    int wrong = 0;            // anything else
};

storm_result storm(std::uint16_t port, const std::string& prefix, int per_client)
{
    constexpr int client_count = 8;
    std::vector<storm_result> results(client_count);
    std::vector<std::thread> clients;
    for (int c = 0; c < client_count; ++c) {
        clients.emplace_back([&, c] {
            auto& r = results[c];
            http_connection conn(port, 5s);
            for (int i = 0; i < per_client; ++i) {
                const auto type = prefix + std::to_string(c) + "_" + std::to_string(i);
                const auto s = conn.request("GET", "/api/metrics/summary?type=" + type);
                if (is_error(s, 503, "EXTERNAL_SERVICE_ERROR")) {
                    ++r.upstream_failed;
                } else if (is_error(s, 503, "CIRCUIT_OPEN") && !s.header("retry-after").empty() &&
                           std::stoi(s.header("retry-after")) >= 1) {
                    ++r.circuit_open;
                } else {
                    ++r.wrong;
                    ADD_FAILURE() << "summary of " << type << ": " << s.status << " " << s.body;
                }
                const auto m =
                    conn.request("POST", "/api/metrics", metric_body(type, i, now_rfc3339()));
                if (m.status == 201) {
                    ++r.ingested;
                } else {
                    ++r.wrong;
                    ADD_FAILURE() << "ingest during the storm: " << m.status << " " << m.body;
                }
            }
        });
    }
    for (auto& t : clients) {
        t.join();
    }
    storm_result total;
    for (const auto& r : results) {
        total.upstream_failed += r.upstream_failed;
        total.circuit_open += r.circuit_open;
        total.ingested += r.ingested;
        total.wrong += r.wrong;
    }
    return total;
}

// Polls a fresh summary until it is 200; returns how long that took after `since`.
double recovery_ms(std::uint16_t port, steady::time_point since, const std::string& prefix)
{
    for (int i = 0; steady::now() - since < 5s; ++i) {
        const auto r =
            http_request(port, "GET", "/api/metrics/summary?type=" + prefix + std::to_string(i));
        if (r.status == 200) {
            return ms_between(since, steady::now());
        }
        std::this_thread::sleep_for(20ms);
    }
    return -1;
}

TEST(upstream_storm_chaos, a_failing_or_slow_upstream_opens_the_breaker_and_the_service_recovers)
{
    redis_process redis;
    service_process svc(
        chaos_env(redis.port(), {{"ADMIN_TOKEN", "chaos-admin-token"},
                                 {"CIRCUIT_BREAKER_FAILURE_THRESHOLD", std::to_string(threshold)},
                                 {"CIRCUIT_BREAKER_RESET_TIMEOUT", "1"},
                                 {"CACHE_TTL_SECONDS", "1"},
                                 {"EXTERNAL_SERVICE_TIMEOUT", "0.2"}}));

    // A summary cached before the storm; its fresh copy expires, its stale copy stays (a
    // summary of something: one of nothing gets no stale copy).
    ASSERT_EQ(http_request(svc.port(), "POST", "/api/metrics",
                           metric_body("storm.cached", 1, now_rfc3339()))
                  .status,
              201U);
    const auto cached = http_request(svc.port(), "GET", "/api/metrics/summary?type=storm.cached");
    ASSERT_EQ(cached.status, 200U) << cached.body;
    std::this_thread::sleep_for(1200ms);

    // The upstream fails every call.
    set_upstream(svc.port(), R"({"failure_rate":1.0})");
    const auto failing = storm(svc.port(), "storm.fail.c", 25);
    const auto open = breaker_status(svc.port());
    const auto stale = http_request(svc.port(), "GET", "/api/metrics/summary?type=storm.cached");

    report("storm.failing.external_service_error", failing.upstream_failed, "answers");
    report("storm.failing.circuit_open", failing.circuit_open, "answers");
    report("storm.failing.ingested", failing.ingested, "metrics");
    EXPECT_EQ(failing.wrong, 0);
    EXPECT_GE(failing.upstream_failed, threshold);
    EXPECT_GT(failing.circuit_open, 0);
    EXPECT_EQ(failing.ingested, 8 * 25);
    EXPECT_EQ(open.at("state").as_string(), "OPEN");
    EXPECT_GE(open.at("failure_count").to_number<int>(), threshold);
    EXPECT_EQ(stale.status, 200U) << stale.body;
    EXPECT_EQ(stale.header("x-cache"), "STALE");

    // Healthy again: after the reset timeout one trial call closes the breaker.
    set_upstream(svc.port(), R"({"failure_rate":0.0})");
    const auto healed = steady::now();
    const double recovered = recovery_ms(svc.port(), healed, "storm.heal.");
    report("storm.failing.recovered_after", recovered, "ms");
    EXPECT_GE(recovered, 0) << "no 200 within 5 s of the upstream recovering";
    EXPECT_LT(recovered, 1000 + 1000);
    EXPECT_EQ(breaker_status(svc.port()).at("state").as_string(), "CLOSED");

    // The upstream answers, but slower than EXTERNAL_SERVICE_TIMEOUT: every call is a failure.
    set_upstream(svc.port(), R"({"latency_ms":1000})");
    const auto slow_started = steady::now();
    const auto slow = storm(svc.port(), "storm.slow.c", 5);
    const double slow_ms = ms_between(slow_started, steady::now());
    report("storm.slow.external_service_error", slow.upstream_failed, "answers");
    report("storm.slow.circuit_open", slow.circuit_open, "answers");
    report("storm.slow.duration", slow_ms, "ms");
    EXPECT_EQ(slow.wrong, 0);
    EXPECT_GE(slow.upstream_failed, threshold);
    EXPECT_GT(slow.circuit_open, 0);
    EXPECT_EQ(breaker_status(svc.port()).at("state").as_string(), "OPEN");
    // Timeouts cost 200 ms each until the breaker opens; after that, answers are immediate.
    EXPECT_LT(slow_ms, 3000);

    set_upstream(svc.port(), R"({"latency_ms":0})");
    const double slow_recovered = recovery_ms(svc.port(), steady::now(), "storm.slowheal.");
    report("storm.slow.recovered_after", slow_recovered, "ms");
    EXPECT_GE(slow_recovered, 0);
    EXPECT_LT(slow_recovered, 1000 + 1000);
}

}  // namespace
}  // namespace analytics::test
