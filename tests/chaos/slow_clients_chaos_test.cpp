// README.md, Failure behaviour, slow clients: slow clients cannot hold workers. 500 connections
// hold half-sent requests (a request line cut short, headers without their end, a body shorter
// than its Content-Length; a fifth of them trickle a byte every 200 ms, as slowloris does)
// while four clients send normal traffic. The normal traffic keeps its p99 within five times
// (plus 50 ms of scheduling noise) what the same traffic measured moments earlier without them,
// so the check holds on a slow sanitizer build or a busy machine alike, and every slow
// connection is closed once HTTP_READ_TIMEOUT_SECONDS has passed, trickle or not.

#include "e2e/service_process.hpp"
#include "support/coro_helpers.hpp"
#include "support/redis_admin.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "chaos/chaos_support.hpp"

namespace analytics::test {
namespace {

using namespace std::chrono_literals;

constexpr int slow_count = 500;
constexpr int read_timeout_s = 5;

std::string half_request(int i)
{
    switch (i % 4) {
    case 0:
        return "POST /api/metr";
    case 1:
        return "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    case 2:
        return "POST /api/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               "Content-Length: 200\r\n\r\n{\"timestamp\":";
    default:
        return "POST /api/metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "40\r\n{\"ti";
    }
}

// What four clients alternating GET /health and a POST saw over `duration`.
struct normal_traffic {
    std::vector<double> latencies_ms;
    int failures = 0;
};

normal_traffic send_normal_traffic(std::uint16_t port, std::chrono::milliseconds duration)
{
    constexpr int client_count = 4;
    std::vector<std::vector<double>> latencies(client_count);
    std::vector<int> failures(client_count, 0);
    std::vector<std::thread> clients;
    const auto until = steady::now() + duration;
    for (int c = 0; c < client_count; ++c) {
        clients.emplace_back([&, c] {
            http_connection conn(port, 5s);
            for (long long i = 0; steady::now() < until; ++i) {
                const auto started = steady::now();
                try {
                    const auto r = i % 2 == 0
                                       ? conn.request("GET", "/health")
                                       : conn.request("POST", "/api/metrics",
                                                      metric_body("slow.normal", i, now_rfc3339()));
                    failures[c] += r.status == 200 || r.status == 201 ? 0 : 1;
                } catch (const std::exception&) {
                    ++failures[c];
                    return;
                }
                latencies[c].push_back(ms_between(started, steady::now()));
            }
        });
    }
    for (auto& t : clients) {
        t.join();
    }
    normal_traffic all;
    for (int c = 0; c < client_count; ++c) {
        all.latencies_ms.insert(all.latencies_ms.end(), latencies[c].begin(), latencies[c].end());
        all.failures += failures[c];
    }
    return all;
}

TEST(slow_clients_chaos, five_hundred_half_sent_requests_do_not_slow_normal_traffic)
{
    redis_process redis;
    service_process svc(
        chaos_env(redis.port(), {{"HTTP_READ_TIMEOUT_SECONDS", std::to_string(read_timeout_s)}}));

    // The same traffic without slow clients, on this machine, now: what "not slower" compares to.
    const auto unhindered = send_normal_traffic(svc.port(), 1500ms);
    ASSERT_EQ(unhindered.failures, 0);
    const double unhindered_p99 = percentile(unhindered.latencies_ms, 99);
    report("slow.unhindered_p99", unhindered_p99, "ms");

    std::vector<std::unique_ptr<raw_client>> slow;
    const auto opened = steady::now();
    for (int i = 0; i < slow_count; ++i) {
        auto c = std::make_unique<raw_client>(svc.port());
        ASSERT_TRUE(c->connected()) << "slow client " << i;
        ASSERT_TRUE(c->send(half_request(i)));
        slow.push_back(std::move(c));
    }
    report("slow.connections_opened_in", ms_between(opened, steady::now()), "ms");

    std::atomic<bool> stop{false};
    std::thread trickle([&] {
        while (!stop.load()) {
            for (int i = 0; i < slow_count; i += 5) {
                slow[static_cast<std::size_t>(i)]->send("a");
            }
            std::this_thread::sleep_for(200ms);
        }
    });

    // Normal traffic for three seconds, well inside the read timeout, so every slow connection
    // is held open all along.
    const auto hindered = send_normal_traffic(svc.port(), 3s);

    // Still held: none of them was closed early (they had sent nothing wrong).
    int still_open = 0;
    for (auto& c : slow) {
        still_open += c->closed_within(0ms) ? 0 : 1;
    }
    stop = true;
    trickle.join();

    const auto& all = hindered.latencies_ms;
    report("slow.normal_requests", static_cast<double>(all.size()), "requests");
    report("slow.normal_p50", percentile(all, 50), "ms");
    report("slow.normal_p99", percentile(all, 99), "ms");
    report("slow.normal_max", percentile(all, 100), "ms");
    report("slow.held_open_during_traffic", still_open, "connections");
    EXPECT_EQ(hindered.failures, 0);
    EXPECT_GT(all.size(), 200U);
    EXPECT_LT(percentile(all, 99), 5 * unhindered_p99 + 50.0)
        << "p99 without the slow clients was " << unhindered_p99 << " ms";
    EXPECT_EQ(still_open, slow_count);

    // The read deadline covers the whole request: every slow connection is closed at
    // HTTP_READ_TIMEOUT_SECONDS after its first byte, trickling or not.
    const auto limit = opened + std::chrono::seconds(read_timeout_s) + 3s;
    int closed = 0;
    for (auto& c : slow) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(limit - steady::now());
        closed += c->closed_within(std::max(left, 0ms)) ? 1 : 0;
    }
    report("slow.closed_by_read_timeout", closed, "connections");
    report("slow.all_closed_after", ms_between(opened, steady::now()), "ms");
    EXPECT_EQ(closed, slow_count);
    EXPECT_EQ(http_request(svc.port(), "GET", "/health").status, 200U);
}

}  // namespace
}  // namespace analytics::test
