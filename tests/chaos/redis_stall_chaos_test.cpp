// docs/contract.md, Configuration, REDIS_TIMEOUT_MS: "no request waits on a stalled Redis longer
// than that plus its own work". Redis is stalled three ways while clients keep calling every
// endpoint: CLIENT PAUSE (commands queue up unanswered), DEBUG SLEEP (the server blocks) and
// SIGSTOP (the process freezes; the kernel still accepts connections). Every request must be
// answered, in time, and /health must stay responsive; afterwards ingest works again.
//
// A request makes up to `redis_round_trips` Redis calls one after another (ingest: the rate
// limiter's script, then the store's), each with its own REDIS_TIMEOUT_MS deadline, so the bound
// is that many timeouts plus slack for the work and for a loaded CI machine.

#include "e2e/service_process.hpp"
#include "support/coro_helpers.hpp"
#include "support/redis_admin.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "chaos/chaos_support.hpp"

namespace analytics::test {
namespace {

using namespace std::chrono_literals;

constexpr int redis_timeout_ms = 100;
constexpr double slack_ms = 250;
constexpr auto stall = 1500ms;

struct endpoint {
    std::string name;
    std::string method;
    std::function<std::string(long long)> target;
    bool posts_metric = false;
    int redis_round_trips = 0;
};

std::vector<endpoint> endpoints()
{
    return {
        {"ingest", "POST", [](long long) { return std::string("/api/metrics"); }, true, 2},
        // A fresh type each time: a miss goes to Redis (cache, then rollups).
        {"summary", "GET",
         [](long long i) { return "/api/metrics/summary?type=stall.s" + std::to_string(i); }, false,
         3},
        {"list", "GET", [](long long) { return std::string("/api/metrics/list?type=stall"); },
         false, 1},
        {"health", "GET", [](long long) { return std::string("/health"); }, false, 0},
        {"ready", "GET", [](long long) { return std::string("/ready"); }, false, 0},
    };
}

struct sample {
    std::string endpoint;
    unsigned status = 0;  // 0: no answer
    std::string code;
    double ms = 0;
};

// Calls every endpoint in turn, one request at a time, until `stop`.
void call_until(std::uint16_t port, int id, const std::atomic<bool>& stop, std::vector<sample>& out)
{
    const auto all = endpoints();
    auto conn = std::make_unique<http_connection>(port, 5s);
    for (long long i = 0; !stop.load(); ++i) {
        const auto& e = all[static_cast<std::size_t>(i) % all.size()];
        sample s;
        s.endpoint = e.name;
        const auto started = steady::now();
        try {
            const auto body =
                e.posts_metric ? metric_body("stall", id * 1'000'000 + i, now_rfc3339()) : "";
            const auto r = conn->request(e.method, e.target(id * 1'000'000 + i), body);
            s.status = r.status;
            s.code = r.status >= 400 ? error_code_of(r) : "";
        } catch (const std::exception&) {
            conn = std::make_unique<http_connection>(port, 5s);
        }
        s.ms = ms_between(started, steady::now());
        out.push_back(std::move(s));
    }
}

struct phase_result {
    std::map<std::string, double> worst_ms;
    std::map<std::string, int> answers;
    int refused = 0;  // 503
    int unanswered = 0;
    int server_errors = 0;  // 500
};

phase_result run_clients_while(std::uint16_t port, const std::function<void()>& stall_redis)
{
    std::atomic<bool> stop{false};
    constexpr int client_count = 4;
    std::vector<std::vector<sample>> samples(client_count);
    std::vector<std::thread> clients;
    for (int c = 0; c < client_count; ++c) {
        clients.emplace_back([&, c] { call_until(port, c, stop, samples[c]); });
    }
    stall_redis();
    stop = true;
    for (auto& t : clients) {
        t.join();
    }
    phase_result out;
    for (const auto& per_client : samples) {
        for (const auto& s : per_client) {
            out.worst_ms[s.endpoint] = std::max(out.worst_ms[s.endpoint], s.ms);
            ++out.answers[s.endpoint];
            out.refused += s.status == 503 ? 1 : 0;
            out.unanswered += s.status == 0 ? 1 : 0;
            out.server_errors += s.status >= 500 && s.status != 503 ? 1 : 0;
        }
    }
    return out;
}

void check_phase(const std::string& name, const phase_result& r)
{
    for (const auto& e : endpoints()) {
        const double bound = e.redis_round_trips * redis_timeout_ms + slack_ms;
        const double worst = r.worst_ms.count(e.name) != 0 ? r.worst_ms.at(e.name) : 0;
        report("stall." + name + "." + e.name + ".slowest", worst, "ms");
        EXPECT_GT(r.answers.count(e.name) != 0 ? r.answers.at(e.name) : 0, 0)
            << name << " " << e.name;
        EXPECT_LT(worst, bound) << name << ": " << e.name << " took longer than "
                                << e.redis_round_trips << " x REDIS_TIMEOUT_MS + slack";
    }
    report("stall." + name + ".503", r.refused, "answers");
    EXPECT_EQ(r.unanswered, 0) << name;
    EXPECT_EQ(r.server_errors, 0) << name;
    EXPECT_GT(r.refused, 0) << name << ": the stall was not noticed";
}

// After a stall the service works again: an ingest succeeds within a second.
void expect_ingest_recovers(std::uint16_t port, const std::string& name)
{
    const auto started = steady::now();
    unsigned status = 0;
    while (steady::now() - started < 3s) {
        status =
            http_request(port, "POST", "/api/metrics", metric_body("stall.after", 1, now_rfc3339()))
                .status;
        if (status == 201) {
            break;
        }
        std::this_thread::sleep_for(20ms);
    }
    report("stall." + name + ".ingest_recovered_after", ms_between(started, steady::now()), "ms");
    EXPECT_EQ(status, 201U) << name;
}

TEST(redis_stall_chaos, every_request_is_answered_in_time_while_redis_stalls)
{
    redis_process redis({"--enable-debug-command", "yes"});
    service_process svc(
        chaos_env(redis.port(), {{"REDIS_TIMEOUT_MS", std::to_string(redis_timeout_ms)}}));
    admin_connection admin(redis.port());

    const auto paused = run_clients_while(svc.port(), [&] {
        std::this_thread::sleep_for(300ms);
        const auto ms = std::to_string(std::chrono::milliseconds(stall).count());
        ASSERT_EQ(admin.command({"CLIENT", "PAUSE", ms, "ALL"}), "+OK");
        std::this_thread::sleep_for(stall + 100ms);
    });
    check_phase("client_pause", paused);
    expect_ingest_recovers(svc.port(), "client_pause");

    const auto slept = run_clients_while(svc.port(), [&] {
        std::this_thread::sleep_for(300ms);
        // DEBUG SLEEP blocks the connection that sends it, so it gets a thread of its own.
        std::thread sleeper([&] {
            admin_connection own(redis.port());
            own.command({"DEBUG", "SLEEP", "1.5"});
        });
        sleeper.join();
        std::this_thread::sleep_for(100ms);
    });
    check_phase("debug_sleep", slept);
    expect_ingest_recovers(svc.port(), "debug_sleep");

    const auto frozen = run_clients_while(svc.port(), [&] {
        std::this_thread::sleep_for(300ms);
        redis.freeze();
        std::this_thread::sleep_for(stall);
        redis.thaw();
        std::this_thread::sleep_for(100ms);
    });
    check_phase("sigstop", frozen);
    expect_ingest_recovers(svc.port(), "sigstop");
}

}  // namespace
}  // namespace analytics::test
