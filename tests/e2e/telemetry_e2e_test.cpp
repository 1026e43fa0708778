// End-to-end tests of GET /metrics, trace context and outage logging against the real
// binary and Redis.

#include "e2e/http_client.hpp"
#include "e2e/metric_bodies.hpp"
#include "e2e/service_process.hpp"
#include "support/redis_admin.hpp"
#include "support/redis_deployment.hpp"
#include "support/redis_server.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <optional>
#include <set>
#include <thread>

namespace analytics::test {
namespace {

using namespace std::chrono_literals;
using env = std::map<std::string, std::string>;

std::string now_body(std::string_view type)
{
    return metric_body(now_rfc3339(), "5", type);
}

// The value of a sample line `<series> <value>`, or -1 when absent.
double sample(const std::string& text, const std::string& series)
{
    const std::string needle = "\n" + series + " ";
    const auto pos = text.find(needle);
    if (pos == std::string::npos) {
        return -1;
    }
    return std::stod(text.substr(pos + needle.size()));
}

// The series of a scrape: every sample line without its value.
std::set<std::string> series_of(const std::string& text)
{
    std::set<std::string> out;
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string::npos) {
            end = text.size();
        }
        const std::string_view line(text.data() + start, end - start);
        if (!line.empty() && line[0] != '#') {
            out.emplace(line.substr(0, line.rfind(' ')));
        }
        start = end + 1;
    }
    return out;
}

std::string scrape(std::uint16_t port)
{
    auto r = http_request(port, "GET", "/metrics");
    EXPECT_EQ(r.status, 200U);
    EXPECT_EQ(r.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    return r.body;
}

class telemetry_e2e : public ::testing::Test {
protected:
    telemetry_e2e() { deployment_admin().flush(); }
};

TEST_F(telemetry_e2e, a_scrape_after_a_mixed_workload_passes_promtool)
{
    service_process svc(env{{"RATE_LIMIT_REQUESTS", "3"},
                            {"ADMIN_TOKEN", "t0ken-telemetry-e2e"},
                            {"CIRCUIT_BREAKER_FAILURE_THRESHOLD", "1"}});
    http_connection c(svc.port());
    for (int i = 0; i < 4; ++i) {
        c.request("POST", "/api/metrics", now_body("cpu"));  // three 201s, one 429
    }
    c.request("GET", "/api/metrics/summary?type=cpu");
    c.request("GET", "/api/metrics/summary?type=cpu");
    c.request("GET", "/api/metrics/list?limit=5");
    c.request("GET", "/nowhere");
    c.request("DELETE", "/health");
    c.request("PUT", "/api/admin/external-service", R"({"failure_rate":1})",
              {{"Authorization", "Bearer t0ken-telemetry-e2e"}});
    c.request("GET", "/api/metrics/summary?type=other");  // fails, opens the breaker
    c.request("GET", "/api/metrics/summary?type=third");  // rejected by the open breaker

    const std::string text = scrape(svc.port());
    char path[] = "/tmp/analytics-scrape-XXXXXX";
    const int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::close(fd);
    std::ofstream(path) << text;
    const std::string command = std::string("promtool check metrics < ") + path + " 2>&1";
    FILE* p = ::popen(command.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string output;
    char buf[512];
    while (std::fgets(buf, sizeof buf, p) != nullptr) {
        output += buf;
    }
    const int status = ::pclose(p);
    std::remove(path);
    EXPECT_EQ(status, 0) << "promtool: " << output << "\n" << text;
}

TEST_F(telemetry_e2e, each_family_counts_what_happened)
{
    service_process svc(env{{"RATE_LIMIT_REQUESTS", "2"},
                            {"ADMIN_TOKEN", "t0ken-telemetry-e2e"},
                            {"CIRCUIT_BREAKER_FAILURE_THRESHOLD", "1"},
                            {"APP_THREADS", "1"}});
    http_connection c(svc.port());
    ASSERT_EQ(c.request("POST", "/api/metrics", now_body("m")).status, 201U);
    ASSERT_EQ(c.request("POST", "/api/metrics", now_body("m")).status, 201U);
    ASSERT_EQ(c.request("POST", "/api/metrics", now_body("m")).status, 429U);
    ASSERT_EQ(c.request("GET", "/api/metrics/summary?type=m").header("x-cache"), "MISS");
    ASSERT_EQ(c.request("GET", "/api/metrics/summary?type=m").header("x-cache"), "HIT");
    ASSERT_EQ(c.request("GET", "/unknown/path").status, 404U);

    std::string text = scrape(svc.port());
    EXPECT_EQ(sample(text, "metrics_ingested_total"), 2);
    EXPECT_EQ(sample(text, R"(ratelimit_decisions_total{result="allowed"})"), 2);
    EXPECT_EQ(sample(text, R"(ratelimit_decisions_total{result="limited"})"), 1);
    EXPECT_EQ(sample(text, R"(cache_requests_total{result="miss"})"), 1);
    EXPECT_EQ(sample(text, R"(cache_requests_total{result="hit"})"), 1);
    EXPECT_EQ(sample(text, "summary_computations_total"), 1);
    EXPECT_EQ(sample(text, R"(external_service_calls_total{result="success"})"), 1);
    EXPECT_GE(sample(text, R"(redis_commands_total{result="ok"})"), 5);
    EXPECT_EQ(
        sample(text, R"(http_requests_total{route="/api/metrics",method="POST",status="201"})"), 2);
    EXPECT_EQ(
        sample(text, R"(http_requests_total{route="/api/metrics",method="POST",status="429"})"), 1);
    EXPECT_EQ(sample(text, R"(http_requests_total{route="unmatched",method="GET",status="404"})"),
              1);
    EXPECT_EQ(sample(text, "redis_connected"), 1);
    EXPECT_EQ(sample(text, "circuit_breaker_state"), 0);
    EXPECT_GE(sample(text, "http_open_connections"), 1);
    EXPECT_GT(sample(text, "process_resident_memory_bytes"), 0);
    EXPECT_GT(sample(text, "process_open_fds"), 0);

    // The upstream fails: the breaker opens, and a later call is rejected.
    c.request("PUT", "/api/admin/external-service", R"({"failure_rate":1})",
              {{"Authorization", "Bearer t0ken-telemetry-e2e"}});
    EXPECT_EQ(c.request("GET", "/api/metrics/summary?type=x1").status, 503U);
    EXPECT_EQ(c.request("GET", "/api/metrics/summary?type=x2").status, 503U);
    text = scrape(svc.port());
    EXPECT_EQ(sample(text, R"(external_service_calls_total{result="failure"})"), 1);
    EXPECT_EQ(sample(text, R"(external_service_calls_total{result="rejected"})"), 1);
    EXPECT_EQ(sample(text, "circuit_breaker_state"), 1);
    EXPECT_EQ(sample(text, R"(circuit_breaker_transitions_total{from="CLOSED",to="OPEN"})"), 1);
}

TEST_F(telemetry_e2e, label_cardinality_stays_fixed_under_ten_thousand_paths_and_types)
{
    service_process svc(env{{"RATE_LIMIT_REQUESTS", "1000000"}});
    // Warm every route family once, then measure.
    http_connection c(svc.port());
    for (int i = 0; i < 3; ++i) {
        c.request("GET", "/nope" + std::to_string(i));
        c.request("GET", "/api/metrics/summary?type=t" + std::to_string(i));
        c.request("POST", "/api/metrics", now_body("w" + std::to_string(i)));
    }
    // A scrape is counted after its answer is sent, possibly by another worker than the one
    // serving the next scrape: wait until the scrapes' own series show before measuring.
    std::set<std::string> before;
    for (int i = 0; i < 200; ++i) {
        before = series_of(scrape(svc.port()));
        const bool scrape_counted = std::any_of(before.begin(), before.end(), [](const auto& s) {
            return s.starts_with("http_requests_total{") &&
                   s.find(R"(route="/metrics")") != std::string::npos;
        });
        if (scrape_counted) {
            break;
        }
        std::this_thread::sleep_for(10ms);
    }
    for (int i = 0; i < 10000; ++i) {
        const std::string n = std::to_string(i);
        switch (i % 3) {
        case 0:
            c.request("GET", "/random/path/" + n + "?q=" + n);
            break;
        case 1:
            c.request("GET", "/api/metrics/summary?type=type" + n);
            break;
        default:
            c.request("POST", "/api/metrics", now_body("type" + n));
            break;
        }
    }
    const auto after = series_of(scrape(svc.port()));
    std::vector<std::string> added;
    std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                        std::back_inserter(added));
    EXPECT_TRUE(added.empty()) << "new series: " << added.size() << ", e.g. "
                               << (added.empty() ? std::string() : added.front());
    EXPECT_EQ(after.size(), before.size());
}

TEST_F(telemetry_e2e, traceparent_round_trips_and_is_logged)
{
    service_process svc;
    const std::string incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    auto r = http_request(svc.port(), "GET", "/health", {},
                          {{"traceparent", incoming}, {"X-Request-Id", "trace-test"}});
    const std::string out = r.header("traceparent");
    ASSERT_EQ(out.size(), 55U) << out;
    EXPECT_EQ(out.substr(0, 36), incoming.substr(0, 36));    // same version and trace id
    EXPECT_NE(out.substr(36, 16), incoming.substr(36, 16));  // our own span
    EXPECT_EQ(out.substr(52), "-01");
    auto line = svc.wait_for_line("trace-test", 5s);
    ASSERT_TRUE(line.has_value());
    EXPECT_NE(line->find(R"("trace_id":"0af7651916cd43dd8448eb211c80319c")"), std::string::npos)
        << *line;

    // Without one (or with a broken one), a new trace starts; errors carry it too.
    auto fresh = http_request(svc.port(), "GET", "/nowhere", {}, {{"traceparent", "nonsense"}});
    EXPECT_EQ(fresh.status, 404U);
    EXPECT_EQ(fresh.header("traceparent").size(), 55U);
    EXPECT_EQ(fresh.header("traceparent").find("0af7651916cd43dd8448eb211c80319c"),
              std::string::npos);
}

TEST_F(telemetry_e2e, metrics_port_serves_metrics_apart_from_the_api)
{
    const auto metrics_port = free_port();
    service_process svc(env{{"METRICS_PORT", std::to_string(metrics_port)}});
    EXPECT_EQ(http_request(svc.port(), "GET", "/metrics").status, 404U);
    auto r = http_request(metrics_port, "GET", "/metrics");
    EXPECT_EQ(r.status, 200U);
    EXPECT_NE(r.body.find("# TYPE http_requests_total counter"), std::string::npos);
    EXPECT_EQ(http_request(metrics_port, "GET", "/health").status, 404U);
}

TEST_F(telemetry_e2e, an_outage_is_logged_once_with_a_count_when_it_ends)
{
    redis_process redis;
    service_process svc(
        env{{"REDIS_PORT", std::to_string(redis.port())}, {"RATE_LIMIT_REQUESTS", "1000000"}});
    redis.kill();
    std::this_thread::sleep_for(100ms);
    http_connection c(svc.port());
    for (int i = 0; i < 20; ++i) {
        EXPECT_EQ(c.request("GET", "/api/metrics/list").status, 503U);
    }
    redis.start();
    ASSERT_TRUE(svc.wait_for_lines("\"redis.connected\"", 4, 10s));
    // The outage ends at the first success a second after its last failure (it settles, so
    // that successes amid failures do not split it).
    std::optional<std::string> ended;
    for (int i = 0; i < 25 && !ended; ++i) {
        std::this_thread::sleep_for(200ms);
        EXPECT_EQ(c.request("GET", "/api/metrics/list").status, 200U);
        ended = svc.wait_for_line("\"metrics.storage_unavailable.ended\"", 0ms);
    }
    ASSERT_TRUE(ended.has_value());
    EXPECT_NE(ended->find(R"("occurrences":20)"), std::string::npos) << *ended;
    const auto lines = svc.lines();
    const auto warnings = std::count_if(lines.begin(), lines.end(), [](const std::string& l) {
        return l.find("\"event\":\"metrics.storage_unavailable\"") != std::string::npos;
    });
    EXPECT_EQ(warnings, 1);
}

}  // namespace
}  // namespace analytics::test
