// End-to-end tests of the summary cache across workers and instances (docs/contract.md,
// Summary): concurrent misses compute once across every worker of every instance sharing the
// Redis, a lease nobody fills costs a waiter at most EXTERNAL_SERVICE_TIMEOUT, no worker keeps
// a copy the Redis key no longer has (DEL, FLUSHALL, restart), and a summary of nothing gets no
// stale copy. The real binary, the test redis-server (or a private one to restart), and an HTTP
// upstream served by the test that counts its calls.

#include "e2e/http_client.hpp"
#include "e2e/metric_bodies.hpp"
#include "e2e/service_process.hpp"
#include "support/coro_helpers.hpp"
#include "support/redis_admin.hpp"
#include "support/redis_server.hpp"
#include "support/upstream_stub.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace analytics::test {
namespace {

using namespace std::chrono_literals;
using env = std::map<std::string, std::string>;
using steady_clock = std::chrono::steady_clock;

// Two workers per instance; the upstream is the test's stub; rate limiting out of the way.
env cache_env(const upstream_stub& upstream, env extra = {})
{
    extra.emplace("APP_THREADS", "2");
    extra.emplace("EXTERNAL_SERVICE_URL", upstream.url());
    extra.emplace("RATE_LIMIT_REQUESTS", "1000000");
    extra.emplace("HTTP_MAX_CONNECTIONS", "500");
    return extra;
}

// Waits until every worker of `svc` has Redis's invalidation reports on, so that the copies it
// keeps in process are copies that the tests below can catch out.
bool tracking_on(const service_process& svc)
{
    return svc.wait_for_lines("\"cache.tracking_enabled\"", 2, 10s);
}

// Sends `target` on `count` fresh connections at once (the kernel spreads them over the
// workers) and reads every answer; a connection that got none yields status 0.
std::vector<http_reply> at_once(std::uint16_t port, int count, const std::string& target)
{
    std::vector<std::unique_ptr<http_connection>> conns;
    for (int i = 0; i < count; ++i) {
        conns.push_back(std::make_unique<http_connection>(port));
    }
    for (auto& c : conns) {
        c->send_raw("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    std::vector<http_reply> out;
    for (auto& c : conns) {
        auto r = c->read_reply();
        out.push_back(r ? *r : http_reply{});
    }
    return out;
}

// Every answer is the same summary, a miss: one computation served them all.
void expect_one_miss_for_all(const std::vector<http_reply>& answers)
{
    for (const auto& r : answers) {
        ASSERT_EQ(r.status, 200U) << r.body;
        EXPECT_EQ(r.header("x-cache"), "MISS");
        EXPECT_EQ(r.body, answers.front().body);
    }
}

int count_of(const http_reply& r)
{
    return r.json().as_object().at("count").to_number<int>();
}

class cache_e2e : public ::testing::Test {
protected:
    cache_e2e() : admin_(redis_test_port()) { admin_.command({"FLUSHDB"}); }

    void post(std::uint16_t port, const std::string& type, const std::string& value)
    {
        const auto r =
            http_request(port, "POST", "/api/metrics", metric_body(now_rfc3339(), value, type));
        ASSERT_EQ(r.status, 201U) << r.body;
    }

    // Every answer of 16 fresh connections to each instance has `count`.
    bool all_answer(const std::vector<std::uint16_t>& ports, const std::string& target, int count)
    {
        for (const auto port : ports) {
            for (const auto& r : at_once(port, 16, target)) {
                if (r.status != 200 || count_of(r) != count) {
                    return false;
                }
            }
        }
        return true;
    }

    // Fills the key, then makes every worker of every instance serve it (and keep its copy)
    // with `count`.
    void warm(const std::vector<std::uint16_t>& ports, const std::string& target, int count)
    {
        const auto first = http_request(ports.front(), "GET", target);
        ASSERT_EQ(first.status, 200U) << first.body;
        ASSERT_EQ(count_of(first), count);
        ASSERT_TRUE(all_answer(ports, target, count));
    }

    // After a change of the Redis key: polls until every worker answers `count`, for at most
    // `limit`; returns the milliseconds it took, or -1.
    double seen_everywhere_after(const std::vector<std::uint16_t>& ports, const std::string& target,
                                 int count, std::chrono::milliseconds limit)
    {
        const auto start = steady_clock::now();
        while (steady_clock::now() - start < limit) {
            if (all_answer(ports, target, count)) {
                return elapsed_ms(start);
            }
            std::this_thread::sleep_for(10ms);
        }
        return -1;
    }

    admin_connection admin_;
    upstream_stub upstream_;
};

TEST_F(cache_e2e, twenty_concurrent_misses_on_two_workers_call_the_upstream_once)
{
    upstream_.set_latency(300ms);  // every request arrives while the first call runs
    service_process svc(cache_env(upstream_));
    EXPECT_TRUE(tracking_on(svc));
    expect_one_miss_for_all(at_once(svc.port(), 20, "/api/metrics/summary?type=burst"));
    EXPECT_EQ(upstream_.calls(), 1);
}

TEST_F(cache_e2e, twenty_concurrent_misses_on_two_instances_call_the_upstream_once)
{
    upstream_.set_latency(300ms);
    service_process a(cache_env(upstream_));
    service_process b(cache_env(upstream_));
    EXPECT_TRUE(tracking_on(a));
    EXPECT_TRUE(tracking_on(b));
    std::vector<http_reply> from_a;
    std::vector<http_reply> from_b;
    std::thread other([&] { from_b = at_once(b.port(), 10, "/api/metrics/summary?type=fleet"); });
    from_a = at_once(a.port(), 10, "/api/metrics/summary?type=fleet");
    other.join();
    from_a.insert(from_a.end(), from_b.begin(), from_b.end());
    ASSERT_EQ(from_a.size(), 20U);
    expect_one_miss_for_all(from_a);
    EXPECT_EQ(upstream_.calls(), 1);
}

TEST_F(cache_e2e, a_request_waits_for_the_lease_holder_and_answers_what_it_stored)
{
    service_process svc(cache_env(upstream_));
    // Another instance holds the lease, and fills the key a moment later.
    admin_.command({"SET", "lease:{summary:held:all}", "other-instance", "PX", "60000"});
    http_reply answer;
    std::thread request(
        [&] { answer = http_request(svc.port(), "GET", "/api/metrics/summary?type=held"); });
    std::this_thread::sleep_for(200ms);
    admin_.command({"SETEX", "summary:held:all", "300", R"({"filled":"elsewhere"})"});
    request.join();
    EXPECT_EQ(answer.status, 200U);
    EXPECT_EQ(answer.header("x-cache"), "MISS");
    EXPECT_EQ(answer.body, R"({"filled":"elsewhere"})");
    EXPECT_EQ(upstream_.calls(), 0);
}

TEST_F(cache_e2e, a_lease_whose_owner_died_delays_a_request_by_the_upstream_timeout_at_most)
{
    service_process svc(cache_env(upstream_, {{"EXTERNAL_SERVICE_TIMEOUT", "0.5"}}));
    admin_.command({"SET", "lease:{summary:orphan:all}", "dead-owner", "PX", "60000"});
    const auto start = steady_clock::now();
    const auto r = http_request(svc.port(), "GET", "/api/metrics/summary?type=orphan");
    const double took = elapsed_ms(start);
    report("orphaned_lease_request_took_ms", took, "ms");
    EXPECT_EQ(r.status, 200U) << r.body;
    EXPECT_EQ(r.header("x-cache"), "MISS");
    EXPECT_EQ(count_of(r), 0);
    // It respected the lease for EXTERNAL_SERVICE_TIMEOUT, then computed by itself.
    EXPECT_GE(took, 500.0);
    EXPECT_LT(took, 1500.0);
    EXPECT_EQ(upstream_.calls(), 1);
}

TEST_F(cache_e2e, a_del_of_the_redis_key_is_seen_by_every_worker_of_every_instance_within_a_second)
{
    service_process a(cache_env(upstream_));
    service_process b(cache_env(upstream_));
    EXPECT_TRUE(tracking_on(a));
    EXPECT_TRUE(tracking_on(b));
    const std::vector<std::uint16_t> ports{a.port(), b.port()};
    const std::string target = "/api/metrics/summary?type=deleted";
    post(a.port(), "deleted", "10");
    warm(ports, target, 1);
    post(a.port(), "deleted", "20");  // ingest does not invalidate: still 1 everywhere
    ASSERT_TRUE(all_answer(ports, target, 1));

    // The README's way of clearing the cache.
    admin_.command({"DEL", "summary:deleted:all"});
    const double took = seen_everywhere_after(ports, target, 2, 1000ms);
    report("del_seen_by_every_worker_after_ms", took, "ms");
    EXPECT_GE(took, 0.0) << "a worker still served the deleted summary after 1 s";
}

TEST_F(cache_e2e, a_flushall_is_seen_by_every_worker_within_a_second)
{
    service_process svc(cache_env(upstream_));
    EXPECT_TRUE(tracking_on(svc));
    const std::vector<std::uint16_t> ports{svc.port()};
    const std::string target = "/api/metrics/summary?type=flushed";
    post(svc.port(), "flushed", "10");
    warm(ports, target, 1);

    admin_.command({"FLUSHALL"});  // the metric goes too: the summary is now of nothing
    const double took = seen_everywhere_after(ports, target, 0, 1000ms);
    report("flushall_seen_by_every_worker_after_ms", took, "ms");
    EXPECT_GE(took, 0.0) << "a worker still served the flushed summary after 1 s";
}

TEST_F(cache_e2e, no_worker_serves_a_summary_from_before_a_redis_restart)
{
    redis_process redis;  // without persistence: a restart loses everything
    service_process svc(cache_env(upstream_, {{"REDIS_PORT", std::to_string(redis.port())}}));
    EXPECT_TRUE(tracking_on(svc));
    const std::vector<std::uint16_t> ports{svc.port()};
    const std::string target = "/api/metrics/summary?type=restarted";
    post(svc.port(), "restarted", "10");
    warm(ports, target, 1);

    redis.kill();
    std::this_thread::sleep_for(200ms);
    redis.start();
    const auto restarted = steady_clock::now();
    // From now on an answer is 503 (not reconnected yet) or the summary of nothing; never the
    // summary from before.
    int stale = 0;
    bool all_fresh = false;
    double took = -1;
    while (!all_fresh && steady_clock::now() - restarted < 3s) {
        all_fresh = true;
        for (const auto& r : at_once(svc.port(), 16, target)) {
            all_fresh = all_fresh && r.status == 200;
            stale += r.status == 200 && count_of(r) != 0 ? 1 : 0;
        }
        if (all_fresh) {
            took = elapsed_ms(restarted);
        } else {
            std::this_thread::sleep_for(10ms);
        }
    }
    report("restart_seen_by_every_worker_after_ms", took, "ms");
    EXPECT_EQ(stale, 0) << "answers from before the restart";
    EXPECT_TRUE(all_fresh);
}

TEST_F(cache_e2e, a_summary_of_nothing_is_cached_without_a_stale_copy)
{
    service_process svc(cache_env(upstream_));
    const auto r = http_request(svc.port(), "GET", "/api/metrics/summary?type=unknown_type");
    ASSERT_EQ(r.status, 200U);
    EXPECT_EQ(count_of(r), 0);
    const long long ttl = admin_.integer({"TTL", "summary:unknown_type:all"});
    EXPECT_GT(ttl, 0);
    EXPECT_LE(ttl, 300);
    EXPECT_EQ(admin_.command({"EXISTS", "stale:summary:unknown_type:all"}), ":0");
    // Only the cached answer is left: no lease, no stale copy.
    EXPECT_EQ(admin_.command({"DBSIZE"}), ":1");
}

}  // namespace
}  // namespace analytics::test
