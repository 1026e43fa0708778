// README.md, Failure behaviour, malformed HTTP: 4xx in the error format, and the server carries on.
// Eight clients flood the service with garbage: random bytes, broken request lines, huge
// headers, bad chunked encoding, NUL bytes, contradictory lengths and mangled copies of valid
// requests. Every answer is a 4xx (or the connection closes without one, for bytes that never
// became a request), never a 500 and never a hang; afterwards the service answers normally, and
// its resident memory after the flood is where it was after a warm-up round of the same garbage.
//
// Under AddressSanitizer freed memory waits in a quarantine (256 MB by default) before it is
// reused, which would look like growth; the service runs with a small quarantine here.

#include "e2e/service_process.hpp"
#include "support/coro_helpers.hpp"
#include "support/redis_admin.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <random>
#include <thread>

#include "chaos/chaos_support.hpp"

namespace analytics::test {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;

constexpr int read_timeout_s = 2;
constexpr int warm_up_per_client = 1000;  // eight clients
constexpr int flood_per_client = 1000;

const std::string valid_post =
    "POST /api/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    "Content-Length: 63\r\n\r\n"
    R"({"timestamp":"2026-02-19T10:00:00Z","value":1,"type":"garbage"})";

std::string random_bytes(std::mt19937& rng, std::size_t n)
{
    std::string out(n, '\0');
    for (auto& c : out) {
        c = static_cast<char>(rng() & 0xff);
    }
    return out;
}

// One piece of garbage; `kind` cycles through the families.
std::string garbage(std::mt19937& rng, int kind)
{
    switch (kind % 14) {
    case 0:
        return random_bytes(rng, 1 + rng() % 4096);
    case 1:
        return "GET\r\n\r\n";
    case 2:
        return "G\0T /health HTTP/1.1\r\nHost: x\r\n\r\n"s;
    case 3:
        return "GET /health HTTP/1.1 trailing\r\nHost: x\r\n\r\n";
    case 4:
        return "GET /" + std::string(20000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n";
    case 5:
        return "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(9000, 'b') + "\r\n\r\n";
    case 6: {
        std::string many = "GET /health HTTP/1.1\r\nHost: x\r\n";
        for (int i = 0; i < 300; ++i) {
            many += "X-H" + std::to_string(i) + ": " + std::string(40, 'h') + "\r\n";
        }
        return many + "\r\n";
    }
    case 7:
        return "POST /api/metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "zz\r\n{}\r\n0\r\n\r\n";
    case 8:
        return "POST /api/metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "ffffffffffffffffffff\r\nx\r\n";
    case 9:
        return "POST /api/metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
               "Content-Length: 7\r\n\r\n{\"a\":1}";
    case 10:
        return "POST /api/metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n{\"a\0\0\0\":}"s;
    case 11:
        return "POST /api/metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n{";
    case 12: {
        std::string chunks =
            "POST /api/metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
        for (int i = 0; i < 20; ++i) {
            chunks += "1000\r\n" + std::string(4096, 'c') + "\r\n";
        }
        return chunks + "0\r\n\r\n";
    }
    default: {
        // A valid request with a few bytes changed: sometimes still valid, mostly not.
        std::string mangled = valid_post;
        for (int i = 0; i < 3; ++i) {
            mangled[rng() % mangled.size()] = static_cast<char>(rng() & 0xff);
        }
        return mangled;
    }
    }
}

struct flood_result {
    std::map<unsigned, int> statuses;  // of the answers
    int answered = 0;                  // any status but 5xx
    int closed_silently = 0;
    int hung = 0;
    int server_errors = 0;
    int unexpected = 0;
};

flood_result flood(std::uint16_t port, int per_client, unsigned seed)
{
    constexpr int client_count = 8;
    std::vector<flood_result> results(client_count);
    std::vector<std::thread> clients;
    for (int c = 0; c < client_count; ++c) {
        clients.emplace_back([&, c] {
            std::mt19937 rng(seed + static_cast<unsigned>(c));
            auto& r = results[c];
            for (int i = 0; i < per_client; ++i) {
                raw_client conn(port);
                if (!conn.connected()) {
                    ++r.unexpected;
                    continue;
                }
                conn.send(garbage(rng, i + c));
                conn.finish_sending();
                const auto reply = conn.read_until_closed(std::chrono::seconds(read_timeout_s + 3));
                if (!reply) {
                    ++r.hung;
                    continue;
                }
                const unsigned status = first_status(*reply);
                ++r.statuses[status];
                if (status == 0) {
                    ++r.closed_silently;
                } else if (status >= 500) {
                    ++r.server_errors;
                } else if ((status >= 400 && status < 500) || status == 201 || status == 200) {
                    ++r.answered;
                } else {
                    ++r.unexpected;
                }
            }
        });
    }
    for (auto& t : clients) {
        t.join();
    }
    flood_result total;
    for (const auto& r : results) {
        for (const auto& [status, n] : r.statuses) {
            total.statuses[status] += n;
        }
        total.answered += r.answered;
        total.closed_silently += r.closed_silently;
        total.hung += r.hung;
        total.server_errors += r.server_errors;
        total.unexpected += r.unexpected;
    }
    return total;
}

void expect_normal_service(std::uint16_t port)
{
    http_connection c(port);
    EXPECT_EQ(c.request("GET", "/health").status, 200U);
    EXPECT_EQ(
        c.request("POST", "/api/metrics", metric_body("garbage.after", 1, now_rfc3339())).status,
        201U);
    EXPECT_EQ(c.request("GET", "/api/metrics/summary?type=garbage.after").status, 200U);
    EXPECT_TRUE(is_error(c.request("GET", "/nope"), 404, "NOT_FOUND"));
}

TEST(garbage_flood_chaos, garbage_gets_4xx_or_a_close_and_leaves_no_trace)
{
    redis_process redis;
    const char* parent = std::getenv("ASAN_OPTIONS");
    const std::string asan = std::string(parent != nullptr ? parent : "") +
                             ":quarantine_size_mb=1:thread_local_quarantine_size_kb=64";
    service_process svc(chaos_env(
        redis.port(),
        {{"HTTP_READ_TIMEOUT_SECONDS", std::to_string(read_timeout_s)}, {"ASAN_OPTIONS", asan}}));

    // Warm-up: the same garbage, so that buffers, allocator arenas and per-thread caches have
    // reached their working size before the measurement starts.
    const auto warm = flood(svc.port(), warm_up_per_client, 1);
    expect_normal_service(svc.port());
    std::this_thread::sleep_for(300ms);
    const long before = resident_kib(svc.pid());

    const auto started = steady::now();
    const auto r = flood(svc.port(), flood_per_client, 2);
    const double flood_ms = ms_between(started, steady::now());
    expect_normal_service(svc.port());
    std::this_thread::sleep_for(300ms);
    const long after = resident_kib(svc.pid());

    report("garbage.inputs", 8 * flood_per_client, "connections");
    report("garbage.flood_duration", flood_ms, "ms");
    report("garbage.answered", r.answered, "connections");
    report("garbage.closed_without_answer", r.closed_silently, "connections");
    for (const auto& [status, n] : r.statuses) {
        if (status != 0) {
            report("garbage.status_" + std::to_string(status), n, "answers");
        }
    }
    report("garbage.rss_after_warmup", static_cast<double>(before), "KiB");
    report("garbage.rss_after_flood", static_cast<double>(after), "KiB");
    report("garbage.rss_growth", static_cast<double>(after - before), "KiB");

    for (const auto& f : {warm, r}) {
        EXPECT_EQ(f.server_errors, 0);
        EXPECT_EQ(f.hung, 0);
        EXPECT_EQ(f.unexpected, 0);
    }
    EXPECT_GT(r.answered, 8 * flood_per_client / 2);
    ASSERT_GT(before, 0);
    // Nothing per connection stays behind: 8000 connections leaking 256 bytes each would show
    // as 2 MiB. Measured: a few hundred KiB of allocator noise after a same-sized warm-up, and
    // flat over further rounds.
    EXPECT_LT(after - before, 2048)
        << "resident memory grew from " << before << " to " << after << " KiB";
}

}  // namespace
}  // namespace analytics::test
