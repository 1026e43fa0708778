// End-to-end tests of the service on Redis over TLS (REDIS_TLS and its settings): the real binary
// and private TLS redis-servers (support/redis_tls.hpp), certificates made by openssl at run time.
// Served over TLS with invalidations, mutual TLS, certificates that must be refused (and what the
// log and /health say then), a Redis restart, verification turned off, and the start-up checks.

#include "e2e/http_client.hpp"
#include "e2e/run_binary.hpp"
#include "e2e/service_process.hpp"
#include "support/coro_helpers.hpp"
#include "support/redis_admin.hpp"
#include "support/redis_tls.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>

namespace analytics::test {
namespace {

using namespace std::chrono_literals;
using env = std::map<std::string, std::string>;
using steady_clock = std::chrono::steady_clock;

constexpr int redis_timeout_ms = 200;

// The service's environment for `server` over TLS, plus `extra` (which wins).
env tls_env(const redis_process& server, const env& extra = {})
{
    env e = service_env_for(server);
    e["REDIS_TIMEOUT_MS"] = std::to_string(redis_timeout_ms);
    e["ADMIN_TOKEN"] = "tls-admin-token-16chars";
    for (const auto& [k, v] : extra) {
        e[k] = v;
    }
    return e;
}

// A server presenting `identity` instead of the good certificate.
std::vector<std::string> presenting(const tls_identity& identity)
{
    return {"--tls-cert-file", identity.cert_file, "--tls-key-file", identity.key_file};
}

std::string metric_body(const std::string& type, double value)
{
    return R"({"timestamp":"2026-02-19T10:00:00Z","value":)" + std::to_string(value) +
           R"(,"type":")" + type + R"("})";
}

http_reply post_metric(std::uint16_t port, const std::string& type, double value)
{
    return http_request(port, "POST", "/api/metrics", metric_body(type, value),
                        {{"Content-Type", "application/json"}});
}

std::string health_status(std::uint16_t port)
{
    return std::string(http_request(port, "GET", "/health").json().at("status").as_string());
}

// Polls /health until it says `status`; false when it did not within `limit`.
bool health_becomes(std::uint16_t port, const std::string& status,
                    std::chrono::milliseconds limit = 5s)
{
    const auto deadline = steady_clock::now() + limit;
    while (steady_clock::now() < deadline) {
        if (health_status(port) == status) {
            return true;
        }
        std::this_thread::sleep_for(20ms);
    }
    return false;
}

// Summaries of `type` until one answers X-Cache `wanted`; false when none did within `limit`.
bool summary_becomes(std::uint16_t port, const std::string& type, const std::string& wanted,
                     std::chrono::milliseconds limit = 3s)
{
    const auto deadline = steady_clock::now() + limit;
    while (steady_clock::now() < deadline) {
        const auto r = http_request(port, "GET", "/api/metrics/summary?type=" + type);
        if (r.status == 200 && r.header("x-cache") == wanted) {
            return true;
        }
        std::this_thread::sleep_for(20ms);
    }
    return false;
}

// Ingest, a list, a summary miss and a hit, an invalidation pushed by Redis over the TLS
// subscriber connection, the breaker status and an admin change.
void expect_every_endpoint_served(std::uint16_t port, const redis_process& server)
{
    EXPECT_EQ(health_status(port), "healthy");
    EXPECT_EQ(http_request(port, "GET", "/ready").status, 200U);
    EXPECT_EQ(post_metric(port, "tls_cpu", 61.5).status, 201U);
    const auto batch =
        http_request(port, "POST", "/api/metrics/batch",
                     "[" + metric_body("tls_cpu", 70) + "," + metric_body("tls_mem", 512) + "]",
                     {{"Content-Type", "application/json"}});
    EXPECT_EQ(batch.status, 201U) << batch.body;
    const auto list = http_request(port, "GET", "/api/metrics/list?type=tls_cpu");
    EXPECT_EQ(list.status, 200U);
    EXPECT_EQ(list.json().as_array().size(), 2U);
    const auto miss = http_request(port, "GET", "/api/metrics/summary?type=tls_cpu");
    EXPECT_EQ(miss.status, 200U);
    EXPECT_EQ(miss.header("x-cache"), "MISS");
    EXPECT_EQ(miss.json().at("count").as_int64(), 2);
    EXPECT_TRUE(summary_becomes(port, "tls_cpu", "HIT"));
    // Every worker's copy follows the key: Redis pushes the deletion to the subscribers.
    admin_connection(server.port()).command({"DEL", "summary:tls_cpu:all"});
    EXPECT_TRUE(summary_becomes(port, "tls_cpu", "MISS"));
    EXPECT_EQ(http_request(port, "GET", "/api/circuit-breaker/status").status, 200U);
    const auto admin =
        http_request(port, "PUT", "/api/admin/external-service", R"({"failure_rate":0})",
                     {{"Content-Type", "application/json"},
                      {"Authorization", "Bearer tls-admin-token-16chars"}});
    EXPECT_EQ(admin.status, 200U) << admin.body;
}

// While Redis cannot be reached, every Redis-backed request answers 503 within the Redis
// deadline (plus what a loaded machine adds), and /health stays 200 "degraded".
void expect_degraded_without_hanging(std::uint16_t port)
{
    EXPECT_TRUE(health_becomes(port, "degraded"));
    EXPECT_EQ(http_request(port, "GET", "/ready").status, 503U);
    double slowest_ms = 0;
    for (int i = 0; i < 5; ++i) {
        for (const auto& [method, target] :
             {std::pair<std::string, std::string>{"POST", "/api/metrics"},
              {"GET", "/api/metrics/list"},
              {"GET", "/api/metrics/summary?type=tls_cpu"}}) {
            const auto start = steady_clock::now();
            const auto r = method == "POST" ? post_metric(port, "tls_cpu", 1)
                                            : http_request(port, method, target);
            slowest_ms = std::max(
                slowest_ms,
                std::chrono::duration<double, std::milli>(steady_clock::now() - start).count());
            EXPECT_EQ(r.status, 503U) << method << " " << target << ": " << r.body;
        }
    }
    report("slowest_answer_while_tls_refused_ms", slowest_ms, "ms");
    EXPECT_LT(slowest_ms, redis_timeout_ms + 800.0);
}

// The first `redis.connect_failed` warning, parsed; empty when none came within 5 s.
boost::json::object connect_failure(const service_process& svc)
{
    const auto line = svc.wait_for_line("\"event\":\"redis.connect_failed\"", 5s);
    if (!line) {
        return {};
    }
    return boost::json::parse(*line).as_object();
}

std::string text_of(const boost::json::object& o, const char* field)
{
    const auto* v = o.if_contains(field);
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

TEST(redis_tls_e2e, serves_every_endpoint_over_tls_with_invalidations_over_tls)
{
    redis_process server({}, {}, true);
    service_process svc(tls_env(server));
    expect_every_endpoint_served(svc.port(), server);
    // The server listens with TLS only: a client and a subscriber per worker (APP_THREADS=2),
    // and this admin connection.
    const std::string clients = admin_connection(server.port()).command({"CLIENT", "LIST"});
    const std::string needle = " laddr=127.0.0.1:" + std::to_string(server.port()) + " ";
    std::size_t n = 0;
    for (auto at = clients.find(needle); at != std::string::npos;
         at = clients.find(needle, at + 1)) {
        ++n;
    }
    EXPECT_EQ(n, 5U) << clients;
}

TEST(redis_tls_e2e, mutual_tls_serves_with_the_client_certificate_and_is_refused_without)
{
    redis_process server({"--tls-auth-clients", "yes"}, {}, true);
    {
        service_process svc(
            tls_env(server, {{"REDIS_TLS_CERT_FILE", shared_pki().client().cert_file},
                             {"REDIS_TLS_KEY_FILE", shared_pki().client().key_file}}));
        expect_every_endpoint_served(svc.port(), server);
    }
    service_process svc(tls_env(server), false);
    expect_degraded_without_hanging(svc.port());
    const auto failure = connect_failure(svc);
    EXPECT_NE(text_of(failure, "error").find("certificate required"), std::string::npos)
        << boost::json::serialize(failure);
}

TEST(redis_tls_e2e, a_certificate_from_another_ca_is_refused_with_the_reason_in_the_log)
{
    redis_process server(presenting(shared_pki().untrusted()), {}, true);
    service_process svc(tls_env(server), false);
    expect_degraded_without_hanging(svc.port());
    const auto failure = connect_failure(svc);
    EXPECT_EQ(text_of(failure, "level"), "warning");
    const std::string error = text_of(failure, "error");
    EXPECT_NE(error.find("tls handshake: certificate rejected: unable to get local issuer"),
              std::string::npos)
        << error;
    EXPECT_NE(error.find("issuer CN=other-ca for tests"), std::string::npos) << error;
}

TEST(redis_tls_e2e, a_certificate_for_another_name_is_refused_with_the_reason_in_the_log)
{
    redis_process server({}, {}, true);
    service_process svc(tls_env(server, {{"REDIS_TLS_SERVER_NAME", "wrong.example"}}), false);
    expect_degraded_without_hanging(svc.port());
    const std::string error = text_of(connect_failure(svc), "error");
    EXPECT_NE(error.find("certificate rejected: hostname mismatch"), std::string::npos) << error;
}

TEST(redis_tls_e2e, reconnects_over_tls_after_a_redis_restart)
{
    redis_process server({}, {}, true);
    service_process svc(tls_env(server));
    EXPECT_EQ(post_metric(svc.port(), "tls_restart", 1).status, 201U);
    server.kill();
    EXPECT_TRUE(health_becomes(svc.port(), "degraded"));
    EXPECT_EQ(post_metric(svc.port(), "tls_restart", 2).status, 503U);
    server.start();
    EXPECT_TRUE(health_becomes(svc.port(), "healthy"));
    // The restarted server lost everything (no persistence here); serving starts afresh, and the
    // subscribers are back: a deletion still reaches the workers' copies.
    expect_every_endpoint_served(svc.port(), server);
}

TEST(redis_tls_e2e, verification_turned_off_accepts_any_certificate_and_warns_at_start)
{
    redis_process server(presenting(shared_pki().untrusted()), {}, true);
    service_process svc(tls_env(server, {{"REDIS_TLS_VERIFY", "false"}}));
    EXPECT_EQ(health_status(svc.port()), "healthy");
    EXPECT_EQ(post_metric(svc.port(), "tls_insecure", 1).status, 201U);
    const auto warning = svc.wait_for_line("\"event\":\"redis.tls_verification_disabled\"", 1s);
    ASSERT_TRUE(warning.has_value());
    EXPECT_EQ(boost::json::parse(*warning).at("level").as_string(), "warning");
}

TEST(redis_tls_startup, a_file_that_cannot_serve_stops_start_up_with_exit_2_naming_its_variable)
{
    const auto& pki = shared_pki();
    const env tls_on{{"REDIS_TLS", "true"}, {"APP_PORT", "0"}};
    struct bad_setting {
        env vars;
        std::string variable;
    };
    const bad_setting cases[] = {
        {{{"REDIS_TLS_CA_FILE", pki.path("missing.pem")}}, "REDIS_TLS_CA_FILE"},
        {{{"REDIS_TLS_CA_FILE", pki.path("")}}, "REDIS_TLS_CA_FILE"},
        {{{"REDIS_TLS_CERT_FILE", pki.client().cert_file}}, "REDIS_TLS_KEY_FILE"},
        {{{"REDIS_TLS_KEY_FILE", pki.client().key_file}}, "REDIS_TLS_CERT_FILE"},
        {{{"REDIS_TLS_CERT_FILE", pki.path("missing.pem")},
          {"REDIS_TLS_KEY_FILE", pki.client().key_file}},
         "REDIS_TLS_CERT_FILE"},
        {{{"REDIS_TLS_CERT_FILE", pki.client().cert_file},
          {"REDIS_TLS_KEY_FILE", pki.path("missing.key")}},
         "REDIS_TLS_KEY_FILE"},
        // The key of another certificate.
        {{{"REDIS_TLS_CERT_FILE", pki.client().cert_file},
          {"REDIS_TLS_KEY_FILE", pki.good().key_file}},
         "REDIS_TLS_KEY_FILE"},
    };
    for (const auto& c : cases) {
        env vars = tls_on;
        vars.insert(c.vars.begin(), c.vars.end());
        const auto r = run_binary({}, vars);
        EXPECT_EQ(r.exit_status, 2) << c.variable << ": " << r.err;
        EXPECT_NE(r.err.find("configuration error: " + c.variable + ":"), std::string::npos)
            << r.err;
    }
    // The same file settings without REDIS_TLS, and a user without a password.
    for (const auto& [vars, variable] :
         {std::pair<env, std::string>{{{"REDIS_TLS_CA_FILE", pki.ca_file()}}, "REDIS_TLS_CA_FILE"},
          {{{"REDIS_USERNAME", "analytics"}}, "REDIS_USERNAME"}}) {
        const auto r = run_binary({}, vars);
        EXPECT_EQ(r.exit_status, 2) << variable << ": " << r.err;
        EXPECT_NE(r.err.find("configuration error: " + variable + ":"), std::string::npos) << r.err;
    }
}

}  // namespace
}  // namespace analytics::test
