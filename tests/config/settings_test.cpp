#include "config/settings.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <thread>

namespace analytics::config {
namespace {

using namespace std::chrono_literals;
using vars = std::map<std::string, std::string, std::less<>>;

// Every variable the service reads, written out independently of settings.cpp's table so that a
// variable dropped from the table fails here.
const std::vector<std::string> k_all_variables = {
    "APP_HOST",
    "APP_PORT",
    "METRICS_PORT",
    "APP_THREADS",
    "HTTP_MAX_CONNECTIONS",
    "HTTP_READ_TIMEOUT_SECONDS",
    "HTTP_IDLE_TIMEOUT_SECONDS",
    "HTTP_SHUTDOWN_TIMEOUT_SECONDS",
    "HTTP_HEADER_LIMIT_BYTES",
    "HTTP_BODY_LIMIT_BYTES",
    "HTTP_BATCH_BODY_LIMIT_BYTES",
    "TRUSTED_PROXIES",
    "HTTP_MAX_CONNECTIONS_PER_CLIENT",
    "HTTP_MAX_BUFFERED_BODY_BYTES",
    "SHUTDOWN_DRAIN_SECONDS",
    "REDIS_HOST",
    "REDIS_PORT",
    "REDIS_DB",
    "REDIS_PASSWORD",
    "REDIS_TIMEOUT_MS",
    "REDIS_CLUSTER_NODES",
    "REDIS_USERNAME",
    "REDIS_TLS",
    "REDIS_TLS_CA_FILE",
    "REDIS_TLS_CERT_FILE",
    "REDIS_TLS_KEY_FILE",
    "REDIS_TLS_SERVER_NAME",
    "REDIS_TLS_VERIFY",
    "REDIS_WAIT_REPLICAS",
    "CACHE_TTL_SECONDS",
    "CACHE_STALE_TTL_SECONDS",
    "RATE_LIMIT_ENABLED",
    "RATE_LIMIT_REQUESTS",
    "RATE_LIMIT_WINDOW_SECONDS",
    "RATE_LIMIT_FAILURE_MODE",
    "RATE_LIMIT_IPV6_PREFIX",
    "CIRCUIT_BREAKER_FAILURE_THRESHOLD",
    "CIRCUIT_BREAKER_RESET_TIMEOUT",
    "CIRCUIT_BREAKER_SCOPE",
    "EXTERNAL_SERVICE_FAILURE_RATE",
    "EXTERNAL_SERVICE_TIMEOUT",
    "EXTERNAL_SERVICE_LATENCY_MS",
    "EXTERNAL_SERVICE_URL",
    "EXTERNAL_SERVICE_CA_FILE",
    "METRICS_RETENTION_SECONDS",
    "METRICS_MAX_POINTS_PER_TYPE",
    "METRICS_MAX_FUTURE_SECONDS",
    "METRICS_MAX_TYPES",
    "METRICS_TYPE_IDLE_SECONDS",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "ADMIN_TOKEN",
    "INSTANCE_ID",
};

env_lookup lookup_in(vars v)
{
    return [v = std::move(v)](std::string_view name) -> std::optional<std::string> {
        if (const auto it = v.find(name); it != v.end()) {
            return it->second;
        }
        return std::nullopt;
    };
}

settings parse(vars v)
{
    return from_env(lookup_in(std::move(v)));
}

// The config_error message for these variables, or "" when they were accepted.
std::string error_for(vars v)
{
    try {
        parse(std::move(v));
    } catch (const config_error& e) {
        return e.what();
    }
    return {};
}

// The same for one variable.
std::string error_for(const std::string& name, const std::string& value)
{
    return error_for(vars{{name, value}});
}

std::string json_of(vars v)
{
    return to_log_json(parse(std::move(v)));
}

// ----- defaults ------------------------------------------------------------------------------

TEST(from_env, keeps_every_default_when_nothing_is_set)
{
    const settings s = parse({});
    EXPECT_EQ(s.http.host, "0.0.0.0");
    EXPECT_EQ(s.http.port, 8000);
    EXPECT_GE(s.http.threads, 1u);
    EXPECT_EQ(s.http.max_connections, 10000u);
    EXPECT_EQ(s.http.read_timeout, 10s);
    EXPECT_EQ(s.http.idle_timeout, 60s);
    EXPECT_EQ(s.http.shutdown_timeout, 8s);
    EXPECT_EQ(s.http.header_limit, 8u * 1024);
    EXPECT_EQ(s.http.body_limit, 64u * 1024);
    EXPECT_EQ(s.http.trusted_proxies, default_trusted_proxies());
    EXPECT_EQ(s.redis.host, "localhost");
    EXPECT_EQ(s.redis.port, 6379);
    EXPECT_EQ(s.redis.db, 0);
    EXPECT_EQ(s.redis.password, "");
    EXPECT_EQ(s.redis.timeout, 100ms);
    EXPECT_EQ(s.cache.ttl, 300s);
    EXPECT_EQ(s.cache.stale_ttl, 3600s);
    EXPECT_TRUE(s.ratelimit.enabled);
    EXPECT_EQ(s.ratelimit.requests, 10u);
    EXPECT_EQ(s.ratelimit.window, 60s);
    EXPECT_EQ(s.ratelimit.on_redis_failure, failure_mode::local);
    EXPECT_EQ(s.breaker.failure_threshold, 5u);
    EXPECT_EQ(s.breaker.reset_timeout, 30s);
    EXPECT_DOUBLE_EQ(s.upstream.failure_rate, 0.1);
    EXPECT_EQ(s.upstream.timeout, 5s);
    EXPECT_EQ(s.upstream.latency, 0ms);
    EXPECT_EQ(s.upstream.url, "");
    EXPECT_EQ(s.metrics.retention, std::chrono::seconds(7 * 24 * 3600));
    EXPECT_EQ(s.metrics.max_points_per_type, 100000u);
    EXPECT_EQ(s.log.level, log_level::info);
    EXPECT_EQ(s.log.format, log_format::json);
    EXPECT_EQ(s.admin_token, "");
}

TEST(from_env, treats_empty_and_blank_values_as_unset)
{
    vars v;
    for (const auto& name : k_all_variables) {
        v[name] = name.size() % 2 == 0 ? "" : "   ";
    }
    // Secrets are verbatim, so only the empty string leaves them unset.
    v["REDIS_PASSWORD"] = "";
    v["ADMIN_TOKEN"] = "";
    const settings s = parse(v);
    EXPECT_EQ(to_log_json(s), json_of({}));
}

TEST(from_env, resolves_zero_threads_to_the_number_of_cores)
{
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    EXPECT_EQ(parse({}).http.threads, cores);
    EXPECT_EQ(parse({{"APP_THREADS", "0"}}).http.threads, cores);
}

// ----- overrides -----------------------------------------------------------------------------

struct override_case {
    std::string name;
    std::string value;
    std::function<bool(const settings&)> holds;
    vars with = {};  // other variables the value is only valid with
};

TEST(from_env, applies_a_valid_override_of_every_variable)
{
    const std::vector<override_case> cases = {
        {"APP_HOST", "127.0.0.1", [](const settings& s) { return s.http.host == "127.0.0.1"; }},
        {"APP_PORT", "9000", [](const settings& s) { return s.http.port == 9000; }},
        {"METRICS_PORT", "9100", [](const settings& s) { return s.http.metrics_port == 9100; }},
        {"APP_THREADS", "3", [](const settings& s) { return s.http.threads == 3; }},
        {"HTTP_MAX_CONNECTIONS", "500",
         [](const settings& s) { return s.http.max_connections == 500; }},
        {"HTTP_READ_TIMEOUT_SECONDS", "7",
         [](const settings& s) { return s.http.read_timeout == 7s; }},
        {"HTTP_IDLE_TIMEOUT_SECONDS", "120",
         [](const settings& s) { return s.http.idle_timeout == 120s; }},
        {"HTTP_SHUTDOWN_TIMEOUT_SECONDS", "3",
         [](const settings& s) { return s.http.shutdown_timeout == 3s; }},
        {"HTTP_HEADER_LIMIT_BYTES", "16384",
         [](const settings& s) { return s.http.header_limit == 16384; }},
        {"HTTP_BODY_LIMIT_BYTES", "1048576",
         [](const settings& s) { return s.http.body_limit == 1048576; }},
        {"HTTP_BATCH_BODY_LIMIT_BYTES", "2097152",
         [](const settings& s) { return s.http.batch_body_limit == 2097152; }},
        {"TRUSTED_PROXIES", "10.0.0.0/8, fd00::/8",
         [](const settings& s) {
             return s.http.trusted_proxies == *parse_cidr_list("10.0.0.0/8,fd00::/8");
         }},
        {"HTTP_MAX_CONNECTIONS_PER_CLIENT", "16",
         [](const settings& s) { return s.http.max_connections_per_client == 16; }},
        {"HTTP_MAX_BUFFERED_BODY_BYTES", "1000000",
         [](const settings& s) { return s.http.max_buffered_body_bytes == 1000000; }},
        {"SHUTDOWN_DRAIN_SECONDS", "0",
         [](const settings& s) { return s.http.shutdown_drain == 0s; }},
        {"REDIS_HOST", "redis", [](const settings& s) { return s.redis.host == "redis"; }},
        {"REDIS_PORT", "6380", [](const settings& s) { return s.redis.port == 6380; }},
        {"REDIS_DB", "15", [](const settings& s) { return s.redis.db == 15; }},
        {"REDIS_PASSWORD", " s3cret ",
         [](const settings& s) { return s.redis.password == " s3cret "; }},
        {"REDIS_TIMEOUT_MS", "250", [](const settings& s) { return s.redis.timeout == 250ms; }},
        {"REDIS_CLUSTER_NODES", "redis-1:7000",
         [](const settings& s) {
             return s.redis.cluster_nodes == std::vector<redis_node>{{"redis-1", 7000}};
         }},
        {"REDIS_USERNAME", "analytics",
         [](const settings& s) { return s.redis.username == "analytics"; },
         {{"REDIS_PASSWORD", "s3cret"}}},
        {"REDIS_TLS", "true", [](const settings& s) { return s.redis.tls; }},
        {"REDIS_TLS_CA_FILE", "/etc/redis/ca.pem",
         [](const settings& s) { return s.redis.tls_ca_file == "/etc/redis/ca.pem"; },
         {{"REDIS_TLS", "true"}}},
        {"REDIS_TLS_CERT_FILE", "/etc/redis/client.pem",
         [](const settings& s) { return s.redis.tls_cert_file == "/etc/redis/client.pem"; },
         {{"REDIS_TLS", "true"}, {"REDIS_TLS_KEY_FILE", "/etc/redis/client.key"}}},
        {"REDIS_TLS_KEY_FILE", "/etc/redis/client.key",
         [](const settings& s) { return s.redis.tls_key_file == "/etc/redis/client.key"; },
         {{"REDIS_TLS", "true"}, {"REDIS_TLS_CERT_FILE", "/etc/redis/client.pem"}}},
        {"REDIS_TLS_SERVER_NAME", "redis.internal",
         [](const settings& s) { return s.redis.tls_server_name == "redis.internal"; },
         {{"REDIS_TLS", "true"}}},
        {"REDIS_TLS_VERIFY", "false", [](const settings& s) { return !s.redis.tls_verify; },
         {{"REDIS_TLS", "true"}}},
        {"REDIS_WAIT_REPLICAS", "1", [](const settings& s) { return s.redis.wait_replicas == 1; }},
        {"CACHE_TTL_SECONDS", "600", [](const settings& s) { return s.cache.ttl == 600s; }},
        {"CACHE_STALE_TTL_SECONDS", "7200",
         [](const settings& s) { return s.cache.stale_ttl == 7200s; }},
        {"RATE_LIMIT_ENABLED", "false", [](const settings& s) { return !s.ratelimit.enabled; }},
        {"RATE_LIMIT_REQUESTS", "20", [](const settings& s) { return s.ratelimit.requests == 20; }},
        {"RATE_LIMIT_WINDOW_SECONDS", "1",
         [](const settings& s) { return s.ratelimit.window == 1s; }},
        {"RATE_LIMIT_FAILURE_MODE", "open",
         [](const settings& s) { return s.ratelimit.on_redis_failure == failure_mode::open; }},
        {"RATE_LIMIT_IPV6_PREFIX", "48",
         [](const settings& s) { return s.ratelimit.ipv6_prefix == 48; }},
        {"CIRCUIT_BREAKER_FAILURE_THRESHOLD", "3",
         [](const settings& s) { return s.breaker.failure_threshold == 3; }},
        {"CIRCUIT_BREAKER_RESET_TIMEOUT", "0.5",
         [](const settings& s) { return s.breaker.reset_timeout == 500ms; }},
        {"CIRCUIT_BREAKER_SCOPE", "Cluster",
         [](const settings& s) { return s.breaker.scope == breaker_scope::cluster; }},
        {"EXTERNAL_SERVICE_FAILURE_RATE", "0.25",
         [](const settings& s) { return s.upstream.failure_rate == 0.25; }},
        {"EXTERNAL_SERVICE_TIMEOUT", "1.5",
         [](const settings& s) { return s.upstream.timeout == 1500ms; }},
        {"EXTERNAL_SERVICE_LATENCY_MS", "40",
         [](const settings& s) { return s.upstream.latency == 40ms; }},
        {"EXTERNAL_SERVICE_URL", "http://upstream:8080/summary",
         [](const settings& s) { return s.upstream.url == "http://upstream:8080/summary"; }},
        {"EXTERNAL_SERVICE_CA_FILE", "/etc/upstream/ca.pem",
         [](const settings& s) { return s.upstream.ca_file == "/etc/upstream/ca.pem"; }},
        {"METRICS_RETENTION_SECONDS", "86400",
         [](const settings& s) { return s.metrics.retention == 86400s; }},
        {"METRICS_MAX_POINTS_PER_TYPE", "50",
         [](const settings& s) { return s.metrics.max_points_per_type == 50; }},
        {"METRICS_MAX_FUTURE_SECONDS", "0",
         [](const settings& s) { return s.metrics.max_future == 0s; }},
        {"METRICS_MAX_TYPES", "7", [](const settings& s) { return s.metrics.max_types == 7; }},
        {"METRICS_TYPE_IDLE_SECONDS", "864000",
         [](const settings& s) { return s.metrics.type_idle == 864000s; }},
        {"LOG_LEVEL", "debug", [](const settings& s) { return s.log.level == log_level::debug; }},
        {"LOG_FORMAT", "TEXT", [](const settings& s) { return s.log.format == log_format::text; }},
        {"ADMIN_TOKEN", "t0ken-of-16-chars",
         [](const settings& s) { return s.admin_token == "t0ken-of-16-chars"; }},
        {"INSTANCE_ID", "api-7.eu:8000",
         [](const settings& s) { return s.instance_id == "api-7.eu:8000"; }},
    };
    std::vector<std::string> covered;
    for (const auto& c : cases) {
        vars v = c.with;
        v[c.name] = c.value;
        EXPECT_TRUE(c.holds(parse(v))) << c.name << "=" << c.value;
        EXPECT_FALSE(c.holds(parse({}))) << c.name << ": the override equals the default";
        covered.push_back(c.name);
    }
    EXPECT_EQ(covered, k_all_variables);
}

TEST(from_env, trims_whitespace_around_ordinary_values)
{
    EXPECT_EQ(parse({{"APP_PORT", "  8080\t"}}).http.port, 8080);
    EXPECT_EQ(parse({{"REDIS_HOST", " redis "}}).redis.host, "redis");
    EXPECT_EQ(parse({{"LOG_LEVEL", " warn "}}).log.level, log_level::warning);
}

TEST(from_env, accepts_port_zero_to_pick_a_free_port)
{
    EXPECT_EQ(parse({{"APP_PORT", "0"}}).http.port, 0);
    EXPECT_EQ(parse({{"APP_PORT", "65535"}}).http.port, 65535);
}

TEST(from_env, accepts_every_log_level_in_any_case)
{
    EXPECT_EQ(parse({{"LOG_LEVEL", "DEBUG"}}).log.level, log_level::debug);
    EXPECT_EQ(parse({{"LOG_LEVEL", "Info"}}).log.level, log_level::info);
    EXPECT_EQ(parse({{"LOG_LEVEL", "WARNING"}}).log.level, log_level::warning);
    EXPECT_EQ(parse({{"LOG_LEVEL", "warn"}}).log.level, log_level::warning);
    EXPECT_EQ(parse({{"LOG_LEVEL", "error"}}).log.level, log_level::error);
    EXPECT_EQ(parse({{"LOG_FORMAT", "Json"}}).log.format, log_format::json);
    EXPECT_EQ(parse({{"RATE_LIMIT_FAILURE_MODE", "LOCAL"}}).ratelimit.on_redis_failure,
              failure_mode::local);
}

TEST(from_env, accepts_every_boolean_spelling)
{
    for (const char* yes : {"true", "TRUE", "1", "yes", "Yes", "on", "ON"}) {
        EXPECT_TRUE(parse({{"RATE_LIMIT_ENABLED", yes}}).ratelimit.enabled) << yes;
    }
    for (const char* no : {"false", "False", "0", "no", "NO", "off", "Off"}) {
        EXPECT_FALSE(parse({{"RATE_LIMIT_ENABLED", no}}).ratelimit.enabled) << no;
    }
}

TEST(from_env, reads_decimal_seconds_as_milliseconds)
{
    EXPECT_EQ(parse({{"CIRCUIT_BREAKER_RESET_TIMEOUT", "30"}}).breaker.reset_timeout, 30s);
    EXPECT_EQ(parse({{"CIRCUIT_BREAKER_RESET_TIMEOUT", "0.001"}}).breaker.reset_timeout, 1ms);
    EXPECT_EQ(parse({{"CIRCUIT_BREAKER_RESET_TIMEOUT", ".25"}}).breaker.reset_timeout, 250ms);
    EXPECT_EQ(parse({{"CIRCUIT_BREAKER_RESET_TIMEOUT", "2."}}).breaker.reset_timeout, 2s);
    EXPECT_EQ(parse({{"EXTERNAL_SERVICE_TIMEOUT", "0.1234"}}).upstream.timeout, 123ms);
}

TEST(from_env, accepts_failure_rates_from_zero_to_one)
{
    EXPECT_EQ(parse({{"EXTERNAL_SERVICE_FAILURE_RATE", "0"}}).upstream.failure_rate, 0.0);
    EXPECT_EQ(parse({{"EXTERNAL_SERVICE_FAILURE_RATE", "1"}}).upstream.failure_rate, 1.0);
    EXPECT_EQ(parse({{"EXTERNAL_SERVICE_FAILURE_RATE", "1.0"}}).upstream.failure_rate, 1.0);
}

TEST(from_env, accepts_ipv6_hosts_and_urls)
{
    EXPECT_EQ(parse({{"APP_HOST", "::"}}).http.host, "::");
    EXPECT_EQ(parse({{"REDIS_HOST", "::1"}}).redis.host, "::1");
    EXPECT_EQ(parse({{"EXTERNAL_SERVICE_URL", "http://[::1]:9000"}}).upstream.url,
              "http://[::1]:9000");
    EXPECT_EQ(parse({{"EXTERNAL_SERVICE_URL", "http://example.com"}}).upstream.url,
              "http://example.com");
}

TEST(from_env, accepts_https_upstream_urls)
{
    EXPECT_EQ(parse({{"EXTERNAL_SERVICE_URL", "https://upstream"}}).upstream.url,
              "https://upstream");
    EXPECT_EQ(parse({{"EXTERNAL_SERVICE_URL", "HTTPS://[::1]:8443/v1/check"}}).upstream.url,
              "HTTPS://[::1]:8443/v1/check");
}

TEST(from_env, accepts_host_names_and_ipv4_literals)
{
    for (const std::string host : {"localhost", "127.0.0.1", "0.0.0.0", "redis", "cache-1.internal",
                                   "1password.example.", "10.0.0.255"}) {
        EXPECT_EQ(parse({{"APP_HOST", host}}).http.host, host);
        EXPECT_EQ(parse({{"REDIS_HOST", host}}).redis.host, host);
    }
}

TEST(from_env, refuses_a_metrics_port_equal_to_the_api_port_naming_both)
{
    const std::string expected =
        "METRICS_PORT: must differ from APP_PORT (both are 9100); "
        "unset METRICS_PORT to serve /metrics on APP_PORT";
    try {
        parse({{"APP_PORT", "9100"}, {"METRICS_PORT", "9100"}});
        FAIL() << "no config_error";
    } catch (const config_error& e) {
        EXPECT_EQ(e.what(), expected);
    }
    // APP_PORT keeps its default of 8000 when unset.
    EXPECT_NE(error_for("METRICS_PORT", "8000").find("(both are 8000)"), std::string::npos);
}

TEST(from_env, refuses_a_rate_limit_whose_arithmetic_would_not_stay_exact_naming_both)
{
    EXPECT_EQ(
        error_for({{"RATE_LIMIT_REQUESTS", "2000000000"}, {"RATE_LIMIT_WINDOW_SECONDS", "86400"}}),
        "RATE_LIMIT_REQUESTS x RATE_LIMIT_WINDOW_SECONDS: 2000000000 x 86400 is too large "
        "(the product must stay below 9007199254740)");
    const auto largest = parse(
        {{"RATE_LIMIT_REQUESTS", "104249991"}, {"RATE_LIMIT_WINDOW_SECONDS", "86400"}});
    EXPECT_EQ(largest.ratelimit.requests, 104'249'991U);
}

TEST(from_env, accepts_port_zero_for_both_listeners_and_distinct_ports)
{
    const auto any = parse({{"APP_PORT", "0"}, {"METRICS_PORT", "0"}});
    EXPECT_EQ(any.http.port, 0);
    EXPECT_EQ(any.http.metrics_port, 0);
    const auto apart = parse({{"APP_PORT", "8000"}, {"METRICS_PORT", "9100"}});
    EXPECT_EQ(apart.http.metrics_port, 9100);
}

TEST(from_env, reads_redis_cluster_seeds_with_ipv6_addresses_in_brackets)
{
    const auto s =
        parse({{"REDIS_CLUSTER_NODES", "10.0.0.1:7000, redis-2:7001 ,[::1]:7002"}}).redis;
    const std::vector<redis_node> expected{{"10.0.0.1", 7000}, {"redis-2", 7001}, {"::1", 7002}};
    EXPECT_EQ(s.cluster_nodes, expected);
    EXPECT_NE(json_of({{"REDIS_CLUSTER_NODES", "10.0.0.1:7000, redis-2:7001 ,[::1]:7002"}})
                  .find(R"("REDIS_CLUSTER_NODES":"10.0.0.1:7000,redis-2:7001,[::1]:7002")"),
              std::string::npos);
}

TEST(from_env, refuses_a_redis_database_other_than_zero_on_a_cluster)
{
    try {
        parse({{"REDIS_CLUSTER_NODES", "redis-1:7000"}, {"REDIS_DB", "3"}});
        ADD_FAILURE() << "REDIS_DB=3 with REDIS_CLUSTER_NODES was accepted";
    } catch (const config_error& e) {
        EXPECT_EQ(std::string(e.what()),
                  R"(REDIS_DB: must be 0 with REDIS_CLUSTER_NODES (a Redis Cluster has one )"
                  R"(database), got "3")");
    }
    EXPECT_EQ(parse({{"REDIS_CLUSTER_NODES", "redis-1:7000"}, {"REDIS_DB", "0"}}).redis.db, 0);
    EXPECT_EQ(parse({{"REDIS_DB", "3"}}).redis.db, 3);
}

// ----- malformed values ----------------------------------------------------------------------

TEST(from_env, refuses_redis_access_settings_that_only_work_together_naming_the_variable)
{
    const auto error_of = [](vars v) -> std::string {
        try {
            parse(std::move(v));
        } catch (const config_error& e) {
            return e.what();
        }
        return {};
    };
    const std::vector<std::pair<vars, std::string>> cases = {
        {{{"REDIS_USERNAME", "analytics"}}, "REDIS_USERNAME: needs REDIS_PASSWORD"},
        {{{"REDIS_TLS", "true"}, {"REDIS_TLS_CERT_FILE", "/c.pem"}},
         "REDIS_TLS_KEY_FILE: must be set with REDIS_TLS_CERT_FILE"},
        {{{"REDIS_TLS", "true"}, {"REDIS_TLS_KEY_FILE", "/c.key"}},
         "REDIS_TLS_CERT_FILE: must be set with REDIS_TLS_KEY_FILE"},
        {{{"REDIS_TLS_CA_FILE", "/ca.pem"}}, "REDIS_TLS_CA_FILE: set while REDIS_TLS is off"},
        {{{"REDIS_TLS", "false"}, {"REDIS_TLS_SERVER_NAME", "redis.internal"}},
         "REDIS_TLS_SERVER_NAME: set while REDIS_TLS is off"},
        {{{"REDIS_TLS_VERIFY", "false"}}, "REDIS_TLS_VERIFY: set while REDIS_TLS is off"},
        {{{"REDIS_TLS_CERT_FILE", "/c.pem"}, {"REDIS_TLS_KEY_FILE", "/c.key"}},
         "REDIS_TLS_CERT_FILE: set while REDIS_TLS is off"},
    };
    for (const auto& [v, expected] : cases) {
        const auto message = error_of(v);
        EXPECT_EQ(message.rfind(expected, 0), 0u) << message;
    }
    // Together they are accepted.
    const settings s = parse({{"REDIS_USERNAME", "analytics"},
                              {"REDIS_PASSWORD", "s3cret"},
                              {"REDIS_TLS", "on"},
                              {"REDIS_TLS_CERT_FILE", "/c.pem"},
                              {"REDIS_TLS_KEY_FILE", "/c.key"}});
    EXPECT_EQ(s.redis.username, "analytics");
    EXPECT_TRUE(s.redis.tls);
    EXPECT_TRUE(s.redis.tls_verify);
}

TEST(from_env, rejects_a_port_above_65535)
{
    EXPECT_EQ(error_for("APP_PORT", "70000"), R"(APP_PORT: expected a port 0..65535, got "70000")");
}

TEST(from_env, rejects_a_non_numeric_rate_limit)
{
    EXPECT_EQ(error_for("RATE_LIMIT_REQUESTS", "abc"),
              R"(RATE_LIMIT_REQUESTS: expected an integer >= 1, got "abc")");
}

TEST(from_env, rejects_a_prefix_length_out_of_range)
{
    EXPECT_EQ(error_for("TRUSTED_PROXIES", "10.0.0.0/33"),
              R"(TRUSTED_PROXIES: expected a comma-separated list of CIDR networks, )"
              R"(got "10.0.0.0/33")");
}

TEST(from_env, rejects_an_admin_token_shorter_than_16_characters_without_printing_it)
{
    EXPECT_EQ(error_for("ADMIN_TOKEN", "t"), "ADMIN_TOKEN: expected at least 16 characters, got 1");
    const auto fifteen = error_for("ADMIN_TOKEN", "secret-15-chars");
    EXPECT_EQ(fifteen, "ADMIN_TOKEN: expected at least 16 characters, got 15");
    EXPECT_EQ(fifteen.find("secret"), std::string::npos);
    EXPECT_EQ(error_for("ADMIN_TOKEN", "secret-16-chars!"), "");
}

TEST(from_env, limits_the_ipv6_prefix_to_1_through_128)
{
    EXPECT_EQ(parse({{"RATE_LIMIT_IPV6_PREFIX", "128"}}).ratelimit.ipv6_prefix, 128U);
    EXPECT_EQ(error_for("RATE_LIMIT_IPV6_PREFIX", "0"),
              R"(RATE_LIMIT_IPV6_PREFIX: expected an integer 1..128, got "0")");
    EXPECT_EQ(error_for("RATE_LIMIT_IPV6_PREFIX", "129"),
              R"(RATE_LIMIT_IPV6_PREFIX: expected an integer 1..128, got "129")");
}

TEST(from_env, quotes_the_value_as_given_before_trimming)
{
    EXPECT_EQ(error_for("REDIS_PORT", " 0 "), R"(REDIS_PORT: expected a port 1..65535, got " 0 ")");
}

TEST(from_env, keeps_the_error_on_one_line_whatever_the_value)
{
    const auto message = error_for("APP_PORT", "80\n81\"x");
    EXPECT_EQ(message, R"(APP_PORT: expected a port 0..65535, got "80\n81\"x")");
    EXPECT_EQ(message.find('\n'), std::string::npos);
}

TEST(from_env, rejects_every_kind_of_malformed_value_naming_variable_and_value)
{
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"APP_HOST", "bad host"},
        {"APP_HOST", "fe80::1%eth0"},
        {"APP_HOST", "::zz"},
        {"APP_HOST", "999.1.1.1"},
        {"APP_HOST", "1.2.3"},
        {"APP_HOST", "10.0.0.256"},
        {"APP_HOST", "host.42"},
        {"APP_PORT", "12abc"},
        {"APP_PORT", "+80"},
        {"APP_PORT", "-1"},
        {"APP_PORT", "8 0"},
        {"APP_PORT", "0x50"},
        {"APP_PORT", "80.0"},
        {"APP_PORT", "65536"},
        {"APP_PORT", "99999999999999999999999"},
        {"APP_THREADS", "-2"},
        {"APP_THREADS", "1025"},
        {"APP_THREADS", "many"},
        {"HTTP_MAX_CONNECTIONS", "0"},
        {"HTTP_READ_TIMEOUT_SECONDS", "0"},
        {"HTTP_READ_TIMEOUT_SECONDS", "1.5"},
        {"HTTP_IDLE_TIMEOUT_SECONDS", "0"},
        {"HTTP_SHUTDOWN_TIMEOUT_SECONDS", "0"},
        {"HTTP_HEADER_LIMIT_BYTES", "0"},
        {"HTTP_BODY_LIMIT_BYTES", "0"},
        {"HTTP_BODY_LIMIT_BYTES", "64KiB"},
        {"TRUSTED_PROXIES", "10.0.0.0/8,,::1"},
        {"TRUSTED_PROXIES", "10.0.0.0/8,"},
        {"TRUSTED_PROXIES", "localhost"},
        {"TRUSTED_PROXIES", "::/129"},
        {"REDIS_HOST", "redis:6379"},
        {"REDIS_HOST", "re/dis"},
        {"REDIS_HOST", "999.1.1.1"},
        {"REDIS_PORT", "0"},
        {"REDIS_PORT", "65536"},
        {"REDIS_DB", "16"},
        {"REDIS_DB", "-1"},
        {"REDIS_TIMEOUT_MS", "0"},
        {"REDIS_TIMEOUT_MS", "1s"},
        {"REDIS_CLUSTER_NODES", "redis"},
        {"REDIS_CLUSTER_NODES", "redis:0"},
        {"REDIS_CLUSTER_NODES", "redis:70000"},
        {"REDIS_CLUSTER_NODES", ":7000"},
        {"REDIS_WAIT_REPLICAS", "-1"},
        {"REDIS_WAIT_REPLICAS", "65"},
        {"REDIS_CLUSTER_NODES", "::1:7000"},
        {"REDIS_CLUSTER_NODES", "[redis]:7000"},
        {"REDIS_CLUSTER_NODES", "re dis:7000"},
        {"REDIS_CLUSTER_NODES", "a:7000,,b:7001"},
        {"REDIS_CLUSTER_NODES", "a:7000,"},
        {"REDIS_USERNAME", "ana lytics"},
        {"REDIS_USERNAME", std::string(257, 'u')},
        {"REDIS_TLS", "tls"},
        {"REDIS_TLS_SERVER_NAME", "redis:6380"},
        {"REDIS_TLS_VERIFY", "insecure"},
        {"CACHE_TTL_SECONDS", "0"},
        {"CACHE_TTL_SECONDS", "5m"},
        {"CACHE_STALE_TTL_SECONDS", "0"},
        {"RATE_LIMIT_ENABLED", "maybe"},
        {"RATE_LIMIT_ENABLED", "2"},
        {"RATE_LIMIT_REQUESTS", "0"},
        {"RATE_LIMIT_REQUESTS", "3000000000"},
        {"RATE_LIMIT_WINDOW_SECONDS", "0"},
        {"RATE_LIMIT_FAILURE_MODE", "closed"},
        {"CIRCUIT_BREAKER_FAILURE_THRESHOLD", "0"},
        {"CIRCUIT_BREAKER_RESET_TIMEOUT", "0"},
        {"CIRCUIT_BREAKER_RESET_TIMEOUT", "0.0001"},
        {"CIRCUIT_BREAKER_RESET_TIMEOUT", "-1"},
        {"CIRCUIT_BREAKER_RESET_TIMEOUT", "1e3"},
        {"CIRCUIT_BREAKER_RESET_TIMEOUT", "30s"},
        {"CIRCUIT_BREAKER_RESET_TIMEOUT", "."},
        {"CIRCUIT_BREAKER_RESET_TIMEOUT", "1.2.3"},
        {"CIRCUIT_BREAKER_RESET_TIMEOUT", "inf"},
        {"CIRCUIT_BREAKER_RESET_TIMEOUT", "99999999999999999999"},
        {"CIRCUIT_BREAKER_SCOPE", "global"},
        {"CIRCUIT_BREAKER_SCOPE", "instances"},
        {"EXTERNAL_SERVICE_FAILURE_RATE", "1.5"},
        {"EXTERNAL_SERVICE_FAILURE_RATE", "-0.1"},
        {"EXTERNAL_SERVICE_FAILURE_RATE", "nan"},
        {"EXTERNAL_SERVICE_FAILURE_RATE", "1e-1"},
        {"EXTERNAL_SERVICE_FAILURE_RATE", "10%"},
        {"EXTERNAL_SERVICE_TIMEOUT", "0"},
        {"EXTERNAL_SERVICE_TIMEOUT", "abc"},
        {"EXTERNAL_SERVICE_LATENCY_MS", "-5"},
        {"EXTERNAL_SERVICE_LATENCY_MS", "1.5"},
        {"EXTERNAL_SERVICE_URL", "ftp://upstream"},
        {"EXTERNAL_SERVICE_URL", "https://user@upstream"},
        {"EXTERNAL_SERVICE_URL", "https://upstream:0/"},
        {"EXTERNAL_SERVICE_URL", "upstream:8080"},
        {"EXTERNAL_SERVICE_URL", "http://"},
        {"EXTERNAL_SERVICE_URL", "http:///path"},
        {"EXTERNAL_SERVICE_URL", "http://user:pw@upstream"},
        {"EXTERNAL_SERVICE_URL", "http://upstream:0"},
        {"EXTERNAL_SERVICE_URL", "http://upstream:70000"},
        {"EXTERNAL_SERVICE_URL", "http://upstream/path?q=1"},
        {"EXTERNAL_SERVICE_URL", "http://upstream/#frag"},
        {"EXTERNAL_SERVICE_URL", "http://up stream"},
        {"METRICS_RETENTION_SECONDS", "0"},
        {"METRICS_MAX_POINTS_PER_TYPE", "0"},
        {"LOG_LEVEL", "TRACE"},
        {"LOG_LEVEL", "WARNINGS"},
        {"LOG_FORMAT", "xml"},
        {"INSTANCE_ID", "api 1"},
        {"INSTANCE_ID", "api/1"},
        {"INSTANCE_ID", std::string(129, 'a')},
    };
    for (const auto& [name, value] : cases) {
        const auto message = error_for(name, value);
        EXPECT_EQ(message.rfind(name + ": expected ", 0), 0u)
            << name << "=" << value << ": " << message;
        EXPECT_NE(message.find("got \"" + value + "\""), std::string::npos)
            << name << "=" << value << ": " << message;
        EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    }
}

TEST(from_env, names_the_expected_form_in_its_errors)
{
    EXPECT_EQ(error_for("REDIS_DB", "16"), R"(REDIS_DB: expected an integer 0..15, got "16")");
    EXPECT_EQ(error_for("RATE_LIMIT_ENABLED", "maybe"),
              R"(RATE_LIMIT_ENABLED: expected a boolean (true/false, 1/0, yes/no, on/off), )"
              R"(got "maybe")");
    EXPECT_EQ(error_for("LOG_LEVEL", "trace"),
              R"(LOG_LEVEL: expected one of DEBUG, INFO, WARNING, WARN, ERROR, got "trace")");
    EXPECT_EQ(error_for("LOG_FORMAT", "xml"),
              R"(LOG_FORMAT: expected one of json, text, got "xml")");
    EXPECT_EQ(error_for("RATE_LIMIT_FAILURE_MODE", "closed"),
              R"(RATE_LIMIT_FAILURE_MODE: expected one of local, open, got "closed")");
    EXPECT_EQ(error_for("CIRCUIT_BREAKER_RESET_TIMEOUT", "0"),
              R"(CIRCUIT_BREAKER_RESET_TIMEOUT: expected a number of seconds 0.001..86400, )"
              R"(got "0")");
    EXPECT_EQ(error_for("EXTERNAL_SERVICE_FAILURE_RATE", "2"),
              R"(EXTERNAL_SERVICE_FAILURE_RATE: expected a number 0..1, got "2")");
    EXPECT_EQ(error_for("EXTERNAL_SERVICE_URL", "ftp://x"),
              R"(EXTERNAL_SERVICE_URL: expected a URL of the form http[s]://host[:port][/path], )"
              R"(got "ftp://x")");
}

TEST(from_env, throws_on_the_first_malformed_variable_in_table_order)
{
    try {
        parse({{"LOG_FORMAT", "xml"}, {"APP_PORT", "x"}});
        FAIL() << "no config_error";
    } catch (const config_error& e) {
        EXPECT_EQ(std::string(e.what()).rfind("APP_PORT: ", 0), 0u) << e.what();
    }
}

// ----- .env files ----------------------------------------------------------------------------

class dotenv : public ::testing::Test {
protected:
    dotenv()
    {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        dir_ = std::filesystem::temp_directory_path() /
               ("analytics-dotenv-" + std::to_string(::getpid()) + "-" + info->name());
        std::filesystem::create_directories(dir_);
        path_ = (dir_ / ".env").string();
    }

    ~dotenv() override
    {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
        for (const auto& name : set_) {
            ::unsetenv(name.c_str());
        }
    }

    void write(const std::string& text)
    {
        std::ofstream out(path_, std::ios::binary);
        out << text;
    }

    // Names are unique to these tests so that the real environment cannot interfere.
    void set_env(const std::string& name, const std::string& value)
    {
        ::setenv(name.c_str(), value.c_str(), 1);
        set_.push_back(name);
    }

    std::string error_of(const std::string& text)
    {
        write(text);
        try {
            process_env_with_dotenv(path_);
        } catch (const config_error& e) {
            return e.what();
        }
        return {};
    }

    std::filesystem::path dir_;
    std::string path_;
    std::vector<std::string> set_;
};

TEST_F(dotenv, is_optional)
{
    const auto lookup = process_env_with_dotenv((dir_ / "missing.env").string());
    EXPECT_FALSE(lookup("ANALYTICS_TEST_NOT_SET_ANYWHERE"));
}

TEST_F(dotenv, reads_key_value_lines)
{
    write("ANALYTICS_TEST_A=1\nANALYTICS_TEST_B = two words \n");
    const auto lookup = process_env_with_dotenv(path_);
    EXPECT_EQ(lookup("ANALYTICS_TEST_A"), "1");
    EXPECT_EQ(lookup("ANALYTICS_TEST_B"), "two words");
    EXPECT_FALSE(lookup("ANALYTICS_TEST_C"));
}

TEST_F(dotenv, lets_the_real_environment_win)
{
    write("ANALYTICS_TEST_WIN=file\nANALYTICS_TEST_EMPTY=file\n");
    set_env("ANALYTICS_TEST_WIN", "env");
    set_env("ANALYTICS_TEST_EMPTY", "");
    const auto lookup = process_env_with_dotenv(path_);
    EXPECT_EQ(lookup("ANALYTICS_TEST_WIN"), "env");
    EXPECT_EQ(lookup("ANALYTICS_TEST_EMPTY"), "");
}

TEST_F(dotenv, falls_back_to_the_environment_for_variables_not_in_the_file)
{
    write("# nothing here\n");
    set_env("ANALYTICS_TEST_ONLY_ENV", "env");
    EXPECT_EQ(process_env_with_dotenv(path_)("ANALYTICS_TEST_ONLY_ENV"), "env");
}

TEST_F(dotenv, skips_comments_and_blank_lines)
{
    write("# Application\n\n   \n  # indented comment\r\nANALYTICS_TEST_A=8000\r\n");
    const auto lookup = process_env_with_dotenv(path_);
    EXPECT_EQ(lookup("ANALYTICS_TEST_A"), "8000");
}

TEST_F(dotenv, strips_inline_comments_from_unquoted_values_only)
{
    write(
        "ANALYTICS_TEST_A=8000 # the port\n"
        "ANALYTICS_TEST_B=pass#word\n"
        "ANALYTICS_TEST_C=\"quoted # kept\" # comment\n");
    const auto lookup = process_env_with_dotenv(path_);
    EXPECT_EQ(lookup("ANALYTICS_TEST_A"), "8000");
    EXPECT_EQ(lookup("ANALYTICS_TEST_B"), "pass#word");
    EXPECT_EQ(lookup("ANALYTICS_TEST_C"), "quoted # kept");
}

TEST_F(dotenv, accepts_an_export_prefix)
{
    write("export ANALYTICS_TEST_A=1\nexport\tANALYTICS_TEST_B=2\nexported_C=3\n");
    const auto lookup = process_env_with_dotenv(path_);
    EXPECT_EQ(lookup("ANALYTICS_TEST_A"), "1");
    EXPECT_EQ(lookup("ANALYTICS_TEST_B"), "2");
    EXPECT_EQ(lookup("exported_C"), "3");
}

TEST_F(dotenv, removes_single_or_double_quotes)
{
    write(
        "ANALYTICS_TEST_A=\"double quoted\"\n"
        "ANALYTICS_TEST_B='single quoted'\n"
        "ANALYTICS_TEST_C=\"a \\\"b\\\" c\\\\d\"\n"
        "ANALYTICS_TEST_D='no \\n escapes'\n"
        "ANALYTICS_TEST_E=\"\"\n"
        "ANALYTICS_TEST_F=\"  padded  \"\n"
        "ANALYTICS_TEST_G=it's\n");
    const auto lookup = process_env_with_dotenv(path_);
    EXPECT_EQ(lookup("ANALYTICS_TEST_A"), "double quoted");
    EXPECT_EQ(lookup("ANALYTICS_TEST_B"), "single quoted");
    EXPECT_EQ(lookup("ANALYTICS_TEST_C"), "a \"b\" c\\d");
    EXPECT_EQ(lookup("ANALYTICS_TEST_D"), "no \\n escapes");
    EXPECT_EQ(lookup("ANALYTICS_TEST_E"), "");
    EXPECT_EQ(lookup("ANALYTICS_TEST_F"), "  padded  ");
    EXPECT_EQ(lookup("ANALYTICS_TEST_G"), "it's");
}

TEST_F(dotenv, ignores_a_byte_order_mark)
{
    write(
        "\xEF\xBB\xBF"
        "ANALYTICS_TEST_A=1\n");
    EXPECT_EQ(process_env_with_dotenv(path_)("ANALYTICS_TEST_A"), "1");
}

TEST_F(dotenv, keeps_the_last_of_repeated_keys)
{
    write("ANALYTICS_TEST_A=1\nANALYTICS_TEST_A=2\n");
    EXPECT_EQ(process_env_with_dotenv(path_)("ANALYTICS_TEST_A"), "2");
}

TEST_F(dotenv, keeps_equals_signs_inside_the_value)
{
    write("ANALYTICS_TEST_A=a=b=c\n");
    EXPECT_EQ(process_env_with_dotenv(path_)("ANALYTICS_TEST_A"), "a=b=c");
}

TEST_F(dotenv, rejects_a_line_without_equals_naming_file_and_line)
{
    EXPECT_EQ(error_of("# comment\nANALYTICS_TEST_A=1\nhunter2\n"),
              path_ + ":3: expected KEY=VALUE");
}

TEST_F(dotenv, rejects_an_invalid_key_naming_file_and_line)
{
    EXPECT_EQ(error_of("1ABC=x\n"),
              path_ + R"(:1: invalid variable name "1ABC" (letters, digits and '_', )"
                      R"(not starting with a digit))");
    EXPECT_NE(error_of("A-B=x\n").find(":1: invalid variable name \"A-B\""), std::string::npos);
    EXPECT_NE(error_of("\n=x\n").find(":2: invalid variable name \"\""), std::string::npos);
}

TEST_F(dotenv, rejects_an_unterminated_quote)
{
    EXPECT_EQ(error_of("ANALYTICS_TEST_A=\"open\n"), path_ + ":1: unterminated quoted value");
    EXPECT_EQ(error_of("ANALYTICS_TEST_A='a' b\n"),
              path_ + ":1: unexpected text after the closing quote");
}

TEST_F(dotenv, rejects_a_directory)
{
    EXPECT_THROW(process_env_with_dotenv(dir_.string()), config_error);
}

TEST_F(dotenv, feeds_from_env)
{
    // Only variables absent from the test environment are asserted on.
    if (!std::getenv("RATE_LIMIT_REQUESTS")) {
        write("RATE_LIMIT_REQUESTS=25\n");
        EXPECT_EQ(from_env(process_env_with_dotenv(path_)).ratelimit.requests, 25u);
    }
}

TEST(from_env, refuses_a_retention_longer_than_a_types_idle_lifetime)
{
    try {
        parse({{"METRICS_RETENTION_SECONDS", "100"}, {"METRICS_TYPE_IDLE_SECONDS", "50"}});
        ADD_FAILURE() << "accepted";
    } catch (const config_error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("METRICS_RETENTION_SECONDS"), std::string::npos) << what;
        EXPECT_NE(what.find("METRICS_TYPE_IDLE_SECONDS"), std::string::npos) << what;
    }
    EXPECT_EQ(parse({{"METRICS_RETENTION_SECONDS", "50"}, {"METRICS_TYPE_IDLE_SECONDS", "50"}})
                  .metrics.type_idle,
              50s);
}

// ----- help and logging ----------------------------------------------------------------------

TEST(help_text, names_every_variable_on_its_own_line)
{
    const auto help = help_text();
    std::size_t lines = 0;
    for (const char c : help) {
        lines += c == '\n' ? 1 : 0;
    }
    EXPECT_EQ(lines, k_all_variables.size());
    for (const auto& name : k_all_variables) {
        EXPECT_NE(help.find(name + " "), std::string::npos) << name;
    }
}

TEST(help_text, shows_the_defaults)
{
    const auto help = help_text();
    for (const std::string_view expected : {"APP_PORT", "8000", "127.0.0.1/32,::1/128", "INFO",
                                            "0.1", "30", "localhost", "json", "local"}) {
        EXPECT_NE(help.find(expected), std::string::npos) << expected;
    }
}

TEST(to_log_json, lists_every_variable)
{
    const auto json = json_of({});
    for (const auto& name : k_all_variables) {
        EXPECT_NE(json.find("\"" + name + "\":"), std::string::npos) << name;
    }
    EXPECT_EQ(json.front(), '{');
    EXPECT_EQ(json.back(), '}');
}

TEST(to_log_json, writes_values_in_json_syntax)
{
    const auto json = json_of({{"APP_PORT", "9000"},
                               {"CIRCUIT_BREAKER_RESET_TIMEOUT", "0.5"},
                               {"RATE_LIMIT_ENABLED", "off"},
                               {"LOG_LEVEL", "warn"},
                               {"APP_THREADS", "2"}});
    EXPECT_NE(json.find(R"("APP_HOST":"0.0.0.0")"), std::string::npos) << json;
    EXPECT_NE(json.find(R"("APP_PORT":9000)"), std::string::npos) << json;
    EXPECT_NE(json.find(R"("APP_THREADS":2)"), std::string::npos) << json;
    EXPECT_NE(json.find(R"("CIRCUIT_BREAKER_RESET_TIMEOUT":0.5)"), std::string::npos) << json;
    EXPECT_NE(json.find(R"("EXTERNAL_SERVICE_FAILURE_RATE":0.1)"), std::string::npos) << json;
    EXPECT_NE(json.find(R"("RATE_LIMIT_ENABLED":false)"), std::string::npos) << json;
    EXPECT_NE(json.find(R"("LOG_LEVEL":"WARNING")"), std::string::npos) << json;
    EXPECT_NE(json.find(R"("TRUSTED_PROXIES":"127.0.0.1/32,::1/128")"), std::string::npos) << json;
}

TEST(to_log_json, says_only_whether_secrets_are_set)
{
    const auto unset = json_of({});
    EXPECT_NE(unset.find(R"("REDIS_PASSWORD":"unset")"), std::string::npos) << unset;
    EXPECT_NE(unset.find(R"("ADMIN_TOKEN":"unset")"), std::string::npos) << unset;

    const auto set =
        json_of({{"REDIS_PASSWORD", "hunter2-redis"}, {"ADMIN_TOKEN", "t0ken-xyz-0123456789"}});
    EXPECT_NE(set.find(R"("REDIS_PASSWORD":"set")"), std::string::npos) << set;
    EXPECT_NE(set.find(R"("ADMIN_TOKEN":"set")"), std::string::npos) << set;
    EXPECT_EQ(set.find("hunter2"), std::string::npos) << set;
    EXPECT_EQ(set.find("t0ken"), std::string::npos) << set;
}

TEST(to_log_json, escapes_string_values)
{
    settings s;
    s.redis.host = "a\"b";
    EXPECT_NE(to_log_json(s).find(R"("REDIS_HOST":"a\"b")"), std::string::npos);
}

}  // namespace
}  // namespace analytics::config
