// README.md, Failure behaviour, Redis killed while serving: ingest answers 503 and nothing
// acknowledged is lost. Redis (AOF, appendfsync always) is killed with SIGKILL while 16 clients
// ingest as fast as they can, and started again on the same port and files.
//
// Every metric is identifiable: client c posts type `chaos.crash.c<c>` with value = its
// sequence number, each exactly once (a client never retries). Afterwards every metric that got
// 201 must be among the type's points exactly once, and the all-time rollup must count exactly
// the points stored (a 503 may still have been applied: a command that timed out can run on
// the server later; those are reported, not lost).

#include "e2e/service_process.hpp"
#include "support/coro_helpers.hpp"
#include "support/redis_admin.hpp"
#include "support/stored_metrics.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "chaos/chaos_support.hpp"

namespace analytics::test {
namespace {

using namespace std::chrono_literals;

constexpr int client_count = 16;

struct attempt {
    long long seq = 0;
    unsigned status = 0;  // 0: no answer (connection dropped)
    std::string code;     // the error code of a non-2xx answer
    bool error_format = true;
    steady::time_point sent;
    steady::time_point answered;
};

std::string type_of(int client)
{
    return "chaos.crash.c" + std::to_string(client);
}

// Posts metrics on one keep-alive connection until `stop`, recording every attempt. A dropped
// connection is recorded and replaced, so one failure does not hide the rest.
void ingest_until(std::uint16_t port, int client, const std::atomic<bool>& stop,
                  std::vector<attempt>& out)
{
    const std::string type = type_of(client);
    auto conn = std::make_unique<http_connection>(port, 5s);
    for (long long seq = 1; !stop.load(); ++seq) {
        attempt a;
        a.seq = seq;
        a.sent = steady::now();
        std::optional<http_reply> r;
        try {
            r = conn->request("POST", "/api/metrics", metric_body(type, seq, now_rfc3339()));
        } catch (const std::exception&) {
            conn = std::make_unique<http_connection>(port, 5s);
        }
        if (r) {
            a.status = r->status;
            if (r->status != 201) {
                a.code = error_code_of(*r);
                a.error_format = is_error(*r, r->status, a.code);
            }
        }
        a.answered = steady::now();
        out.push_back(std::move(a));
    }
}

TEST(redis_crash_chaos, nothing_acknowledged_is_lost_when_redis_is_killed_under_load)
{
    redis_process redis({"--appendonly", "yes", "--appendfsync", "always"});
    service_process svc(chaos_env(redis.port()));

    std::atomic<bool> stop{false};
    std::vector<std::vector<attempt>> attempts(client_count);
    std::vector<std::thread> clients;
    for (int c = 0; c < client_count; ++c) {
        clients.emplace_back([&, c] { ingest_until(svc.port(), c, stop, attempts[c]); });
    }

    std::this_thread::sleep_for(1500ms);
    const auto killed = steady::now();
    redis.kill();
    std::this_thread::sleep_for(2s);
    redis.start();  // returns once the AOF is loaded and PING answers
    const auto back = steady::now();
    std::this_thread::sleep_for(2s);
    stop = true;
    for (auto& t : clients) {
        t.join();
    }

    // What the clients saw.
    long long acked = 0;
    long long refused = 0;
    long long refused_in_outage = 0;
    long long answered_in_outage = 0;
    long long dropped = 0;
    long long unexpected = 0;
    double slowest_resume_ms = 0;
    double first_resume_ms = -1;
    for (int c = 0; c < client_count; ++c) {
        std::optional<steady::time_point> resumed;
        for (const auto& a : attempts[c]) {
            const bool in_outage = a.sent >= killed && a.answered <= back;
            answered_in_outage += in_outage ? 1 : 0;
            if (a.status == 201) {
                ++acked;
                EXPECT_FALSE(in_outage) << "201 while Redis was down, client " << c;
                if (a.sent >= back && !resumed) {
                    resumed = a.answered;
                }
            } else if (a.status == 503 && a.code == "STORAGE_UNAVAILABLE" && a.error_format) {
                ++refused;
                refused_in_outage += in_outage ? 1 : 0;
            } else if (a.status == 0) {
                ++dropped;
            } else {
                ++unexpected;
                ADD_FAILURE() << "client " << c << " seq " << a.seq << ": status " << a.status
                              << " code " << a.code;
            }
        }
        ASSERT_TRUE(resumed.has_value())
            << "client " << c << " never got a 201 after Redis came back";
        const double ms = ms_between(back, *resumed);
        slowest_resume_ms = std::max(slowest_resume_ms, ms);
        first_resume_ms = first_resume_ms < 0 ? ms : std::min(first_resume_ms, ms);
    }

    // What Redis holds.
    admin_connection admin(redis.port());
    long long lost = 0;
    long long duplicated = 0;
    long long stored = 0;
    long long stored_unacknowledged = 0;
    for (int c = 0; c < client_count; ++c) {
        const std::string type = type_of(c);
        std::map<long long, int> copies;
        for (const auto& p : test::stored_points(admin, type)) {
            ++copies[static_cast<long long>(p.value)];
        }
        const auto total = test::stored_rollup(admin, type);
        const std::string count = total ? std::to_string(total->count) : "none";
        long long points = 0;
        std::set<long long> acked_here;
        for (const auto& a : attempts[c]) {
            if (a.status == 201) {
                acked_here.insert(a.seq);
                const auto it = copies.find(a.seq);
                lost += it == copies.end() ? 1 : 0;
            }
        }
        for (const auto& [value, n] : copies) {
            points += n;
            duplicated += n > 1 ? n - 1 : 0;
            stored_unacknowledged += acked_here.count(value) == 0 ? 1 : 0;
        }
        stored += points;
        EXPECT_EQ(count, std::to_string(points)) << "rollup count of " << type;
    }

    report("crash.acknowledged", static_cast<double>(acked), "metrics");
    report("crash.lost", static_cast<double>(lost), "metrics");
    report("crash.duplicated", static_cast<double>(duplicated), "metrics");
    report("crash.stored_without_ack", static_cast<double>(stored_unacknowledged), "metrics");
    report("crash.503", static_cast<double>(refused), "answers");
    report("crash.503_during_outage", static_cast<double>(refused_in_outage), "answers");
    report("crash.answers_during_outage", static_cast<double>(answered_in_outage), "answers");
    report("crash.dropped_connections", static_cast<double>(dropped), "requests");
    report("crash.first_client_resumed_after", first_resume_ms, "ms");
    report("crash.last_client_resumed_after", slowest_resume_ms, "ms");

    EXPECT_GT(acked, 1000) << "too little load to prove anything";
    EXPECT_EQ(lost, 0);
    EXPECT_EQ(duplicated, 0);
    EXPECT_EQ(stored, acked + stored_unacknowledged);
    EXPECT_EQ(dropped, 0);
    EXPECT_EQ(unexpected, 0);
    EXPECT_GT(answered_in_outage, 0);
    EXPECT_EQ(refused_in_outage, answered_in_outage) << "every answer in the outage is a 503";
    EXPECT_LT(slowest_resume_ms, 1000) << "ingest must resume within 1 s of Redis coming back";
}

}  // namespace
}  // namespace analytics::test
