// End-to-end test of Redis refusing writes (maxmemory reached under noeviction: every write is
// answered `OOM ...`) while it still serves reads: one log line when the refusals start and one
// with their count when they end, /health `degraded` with the reason meanwhile, and the
// refusals counted on /metrics. Against a private redis-server, whose memory limit it changes.

#include "e2e/http_client.hpp"
#include "e2e/metric_bodies.hpp"
#include "e2e/service_process.hpp"
#include "support/redis_admin.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <thread>

namespace analytics::test {
namespace {

using namespace std::chrono_literals;
using env = std::map<std::string, std::string>;

std::size_t lines_with(const service_process& svc, const std::string& needle)
{
    const auto lines = svc.lines();
    return static_cast<std::size_t>(std::count_if(lines.begin(), lines.end(), [&](const auto& l) {
        return l.find(needle) != std::string::npos;
    }));
}

// The value of a sample line `name{labels} value` in a Prometheus scrape, or -1.
double sample(const std::string& scrape, const std::string& series)
{
    const auto at = scrape.find("\n" + series + " ");
    return at == std::string::npos ? -1 : std::stod(scrape.substr(at + series.size() + 2));
}

TEST(write_refusals_e2e, an_oom_incident_logs_two_lines_turns_health_degraded_and_is_counted)
{
    redis_process redis;
    admin_connection admin(redis.port());
    service_process svc(
        env{{"REDIS_PORT", std::to_string(redis.port())}, {"RATE_LIMIT_REQUESTS", "1000000"}});
    http_connection c(svc.port());
    const auto ingest = [&] {
        return c.request("POST", "/api/metrics", metric_body(now_rfc3339(), "1", "refused_writes"))
            .status;
    };
    ASSERT_EQ(ingest(), 201U);
    // Cached now. A summary not cached yet is computed under a lease taken in Redis, a write,
    // so only cached ones are served while Redis refuses writes.
    const std::string summary_target = "/api/metrics/summary?type=refused_writes";
    ASSERT_EQ(c.request("GET", summary_target).status, 200U);

    admin.command({"CONFIG", "SET", "maxmemory-policy", "noeviction"});
    admin.command({"CONFIG", "SET", "maxmemory", "1"});
    constexpr int flood = 300;
    for (int i = 0; i < flood; ++i) {
        EXPECT_EQ(ingest(), 503U) << i;
        if (i % 10 == 0) {
            // Reads still succeed amid the refused writes.
            EXPECT_EQ(c.request("GET", "/api/metrics/list?type=refused_writes").status, 200U);
            const auto summary = c.request("GET", summary_target);
            EXPECT_EQ(summary.status, 200U) << summary.body;
        }
    }

    const auto health = c.request("GET", "/health");
    EXPECT_EQ(health.status, 200U);
    const auto body = health.json().as_object();
    EXPECT_EQ(body.at("status").as_string(), "degraded");
    EXPECT_EQ(body.at("reason").as_string(), "redis_refusing_writes");
    EXPECT_EQ(body.at("refusal").as_string(), "oom");
    EXPECT_EQ(c.request("GET", "/ready").status, 200U);
    const auto scrape = c.request("GET", "/metrics").body;
    EXPECT_GE(sample(scrape, R"(redis_write_refusals_total{kind="oom"})"), flood);

    // One line for the whole incident so far, not one per refused call.
    EXPECT_EQ(lines_with(svc, "\"event\":\"redis.writes_refused\""), 1U);
    EXPECT_EQ(lines_with(svc, "\"metrics.redis_error\""), 0U);
    EXPECT_LE(lines_with(svc, "\"event\":\"metrics.storage_unavailable\""), 1U);
    const auto lines = svc.lines();
    const auto not_access = std::count_if(lines.begin(), lines.end(), [](const auto& l) {
        return l.find("\"event\":\"http.access\"") == std::string::npos;
    });
    EXPECT_LT(not_access, 20) << "the incident flooded the log";

    // Redis takes writes again: the incident ends with one line and its count.
    admin.command({"CONFIG", "SET", "maxmemory", "0"});
    EXPECT_EQ(ingest(), 201U);
    std::optional<std::string> ended;
    for (int i = 0; i < 40 && !ended; ++i) {
        std::this_thread::sleep_for(100ms);
        EXPECT_EQ(ingest(), 201U);
        ended = svc.wait_for_line("\"redis.writes_refused.ended\"", 0ms);
    }
    ASSERT_TRUE(ended.has_value()) << "the end of the incident was not logged";
    const auto occurrences =
        boost::json::parse(*ended).as_object().at("occurrences").to_number<int>();
    EXPECT_GE(occurrences, flood);
    EXPECT_EQ(c.request("GET", "/health").json().as_object().at("status").as_string(), "healthy");
    EXPECT_EQ(lines_with(svc, "\"event\":\"redis.writes_refused\""), 1U);
}

}  // namespace
}  // namespace analytics::test
