// End-to-end test of the drain on SIGTERM, as Envoy drains: /ready turns 503 at once; for
// SHUTDOWN_DRAIN_SECONDS every answer carries `Connection: close` and idle keep-alive
// connections close between requests; then no new connections, requests in flight finish, exit 0.
// Keep-alive clients post all along: every request that was written is answered (or its
// connection had been closed by the server before it was written), and every 201 is stored.

#include "e2e/http_client.hpp"
#include "e2e/metric_bodies.hpp"
#include "e2e/service_process.hpp"
#include "support/redis_deployment.hpp"
#include "support/coro_helpers.hpp"
#include "support/redis_admin.hpp"
#include "support/redis_server.hpp"
#include "support/stored_metrics.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace analytics::test {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using env = std::map<std::string, std::string>;

struct client_tally {
    int written = 0;
    int answered = 0;
    int unanswered = 0;              // written, and no answer came: must stay 0
    int closed_before_writing = 0;   // the server had closed the connection: not written
    int kept_alive_after_drain = 0;  // answers well into the drain without Connection: close
    std::set<std::string> created;   // values of the metrics answered 201
};

std::string post(std::string_view type, const std::string& value)
{
    const std::string body = metric_body(now_rfc3339(), value, type);
    return "POST /api/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           "Content-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Posts on a kept-alive connection until the server stops taking connections.
client_tally keep_posting(std::uint16_t port, int client, const std::atomic<bool>& draining,
                          const std::atomic<steady::rep>& drain_started)
{
    client_tally t;
    const std::string type = "drain_" + std::to_string(client);
    std::unique_ptr<http_connection> c;
    for (int seq = 0; seq < 100000; ++seq) {
        if (c && (!c->open() || c->closed_by_server())) {
            ++t.closed_before_writing;
            c.reset();
        }
        if (!c) {
            try {
                c = std::make_unique<http_connection>(port, 5s);
            } catch (const std::exception&) {
                break;  // refused: the server has stopped accepting
            }
        }
        // Distinct per client and request, so that each 201 names one stored point.
        const std::string value = std::to_string(client * 1000000 + 2 * seq + 1);
        const auto sent = steady::now();
        c->send_raw(post(type, value));
        if (!c->open()) {
            // The write failed: the server had closed (reset) the connection before.
            ++t.closed_before_writing;
            c.reset();
            continue;
        }
        ++t.written;
        const auto r = c->read_reply();
        if (!r) {
            ++t.unanswered;
            c.reset();
            continue;
        }
        ++t.answered;
        if (r->status == 201) {
            t.created.insert(value);
        }
        const bool closes = r->header("connection") == "close";
        if (draining && !closes &&
            sent.time_since_epoch().count() > drain_started.load() + 200'000'000) {
            ++t.kept_alive_after_drain;
        }
        if (closes) {
            c.reset();
        }
    }
    return t;
}

TEST(drain_e2e, keep_alive_clients_lose_no_request_across_sigterm_and_every_201_is_stored)
{
    deployment_admin redis;  // one node or the cluster, as the service is given
    redis.flush();
    service_process svc(env{{"SHUTDOWN_DRAIN_SECONDS", "2"}, {"RATE_LIMIT_REQUESTS", "100000000"}});
    constexpr int clients = 6;
    std::atomic<bool> draining{false};
    std::atomic<steady::rep> drain_started{0};
    std::vector<client_tally> tallies(clients);
    std::vector<std::thread> threads;
    // The clients stop when connecting fails; if the test fails first, the service's end
    // (SIGKILL) stops them.
    struct joiner {
        std::vector<std::thread>& threads;
        ~joiner()
        {
            for (auto& t : threads) {
                if (t.joinable()) {
                    t.join();
                }
            }
        }
    };
    for (int i = 0; i < clients; ++i) {
        threads.emplace_back(
            [&, i] { tallies[i] = keep_posting(svc.port(), i, draining, drain_started); });
    }
    std::this_thread::sleep_for(700ms);

    drain_started = steady::now().time_since_epoch().count();
    draining = true;
    svc.signal(SIGTERM);
    {
        const joiner join_clients{threads};
        // /ready turns 503 at once, while connections are still accepted.
        std::this_thread::sleep_for(100ms);
        http_connection probe(svc.port(), 5s);
        probe.send_raw("GET /ready HTTP/1.1\r\nHost: x\r\n\r\n");
        const auto ready = probe.read_reply();
        ASSERT_TRUE(ready.has_value()) << "no answer to /ready during the drain";
        EXPECT_EQ(ready->status, 503U);
        EXPECT_EQ(ready->json().as_object().at("code").as_string(), "SHUTTING_DOWN");
        EXPECT_EQ(ready->header("connection"), "close");
    }
    const auto status = svc.wait_exit(20s);
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(*status, 0);

    int written = 0;
    int closed_before_writing = 0;
    std::size_t created = 0;
    for (int i = 0; i < clients; ++i) {
        const auto& t = tallies[i];
        written += t.written;
        closed_before_writing += t.closed_before_writing;
        created += t.created.size();
        EXPECT_EQ(t.unanswered, 0) << "client " << i << ": written requests left unanswered";
        EXPECT_EQ(t.kept_alive_after_drain, 0) << "client " << i;
        EXPECT_EQ(t.written, t.answered) << "client " << i;
        // Every 201 is stored: the type's points are exactly the acknowledged values.
        std::set<std::string> stored;
        for (const auto& p : stored_points(redis, "drain_" + std::to_string(i))) {
            stored.insert(std::to_string(static_cast<long long>(p.value)));
        }
        EXPECT_EQ(stored, t.created) << "client " << i;
    }
    report("drain.requests_written", written, "requests");
    report("drain.created", static_cast<double>(created), "metrics");
    report("drain.closed_by_the_server_before_a_request", closed_before_writing, "connections");
    EXPECT_GT(written, 100) << "too little traffic to show anything";
}

}  // namespace
}  // namespace analytics::test
