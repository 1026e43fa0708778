#pragma once
// The service's configuration: one aggregate whose member initialisers are the defaults
// (the seed's, where the seed names the variable), filled from environment variables.
//
// Thread safety: a `settings` value is built once at start-up and then only read.

#include "config/cidr.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace analytics::config {

/// Thrown at start-up for a malformed value; `what()` names the variable and the value,
/// e.g. `RATE_LIMIT_REQUESTS: expected an integer, got "abc"`.
class config_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class log_level { debug, info, warning, error };
enum class log_format { json, text };
enum class failure_mode { local, open };
enum class breaker_scope { instance, cluster };

struct http_options {
    std::string host = "0.0.0.0";                // APP_HOST
    std::uint16_t port = 8000;                   // APP_PORT
    std::uint16_t metrics_port = 0;              // METRICS_PORT (0: /metrics on APP_PORT)
    unsigned threads = 0;                        // APP_THREADS (0 until resolved: number of cores)
    std::size_t max_connections = 10000;         // HTTP_MAX_CONNECTIONS
    std::chrono::seconds read_timeout{10};       // HTTP_READ_TIMEOUT_SECONDS
    std::chrono::seconds idle_timeout{60};       // HTTP_IDLE_TIMEOUT_SECONDS
    std::chrono::seconds shutdown_timeout{8};    // HTTP_SHUTDOWN_TIMEOUT_SECONDS
    std::size_t header_limit = 8 * 1024;         // HTTP_HEADER_LIMIT_BYTES
    std::size_t body_limit = 64 * 1024;          // HTTP_BODY_LIMIT_BYTES
    std::size_t batch_body_limit = 1024 * 1024;  // HTTP_BATCH_BODY_LIMIT_BYTES
    std::size_t max_connections_per_client = 256;            // HTTP_MAX_CONNECTIONS_PER_CLIENT
    std::size_t max_buffered_body_bytes = 64 * 1024 * 1024;  // HTTP_MAX_BUFFERED_BODY_BYTES
    std::chrono::seconds shutdown_drain{5};                  // SHUTDOWN_DRAIN_SECONDS
    std::vector<cidr> trusted_proxies = default_trusted_proxies();  // TRUSTED_PROXIES
};

/// One node of a Redis Cluster, as REDIS_CLUSTER_NODES lists them.
struct redis_node {
    std::string host;
    std::uint16_t port = 0;

    bool operator==(const redis_node&) const = default;
};

struct redis_options {
    std::string host = "localhost";          // REDIS_HOST
    std::uint16_t port = 6379;               // REDIS_PORT
    int db = 0;                              // REDIS_DB
    std::string password;                    // REDIS_PASSWORD (never logged)
    std::chrono::milliseconds timeout{100};  // REDIS_TIMEOUT_MS
    // REDIS_CLUSTER_NODES: seed nodes of a Redis Cluster (empty: the one server at REDIS_HOST).
    std::vector<redis_node> cluster_nodes;
    std::string username;          // REDIS_USERNAME: an ACL user (needs REDIS_PASSWORD)
    bool tls = false;              // REDIS_TLS
    std::string tls_ca_file;       // REDIS_TLS_CA_FILE (empty: the system store)
    std::string tls_cert_file;     // REDIS_TLS_CERT_FILE (mutual TLS, with REDIS_TLS_KEY_FILE)
    std::string tls_key_file;      // REDIS_TLS_KEY_FILE
    std::string tls_server_name;   // REDIS_TLS_SERVER_NAME (empty: the host connected to)
    bool tls_verify = true;        // REDIS_TLS_VERIFY (false: any certificate is accepted)
    // REDIS_WAIT_REPLICAS: an ingest is acknowledged only once this many replicas hold it.
    std::uint32_t wait_replicas = 0;
};

struct cache_options {
    std::chrono::seconds ttl{300};         // CACHE_TTL_SECONDS
    std::chrono::seconds stale_ttl{3600};  // CACHE_STALE_TTL_SECONDS
};

struct ratelimit_options {
    bool enabled = true;                                  // RATE_LIMIT_ENABLED
    std::uint32_t requests = 10;                          // RATE_LIMIT_REQUESTS
    std::chrono::seconds window{60};                      // RATE_LIMIT_WINDOW_SECONDS
    failure_mode on_redis_failure = failure_mode::local;  // RATE_LIMIT_FAILURE_MODE
    unsigned ipv6_prefix = 64;                            // RATE_LIMIT_IPV6_PREFIX

    /// The limiter compares request counts multiplied by the window in milliseconds, and the
    /// products must stay exact integers in a Lua number (a double: exact below 2^53).
    static constexpr std::int64_t max_scaled_count = std::int64_t{1} << 53;

    /// True when limit >= 1, window >= 1 s and limit * window (in ms) stays within
    /// max_scaled_count; from_env refuses the rest.
    static constexpr bool fits(std::int64_t limit, std::chrono::seconds window) noexcept
    {
        // Divided rather than multiplied, so that no product can overflow.
        return limit >= 1 && window.count() >= 1 &&
               window.count() <= max_scaled_count / 1000 / limit;
    }
};

struct breaker_options {
    std::uint32_t failure_threshold = 5;  // CIRCUIT_BREAKER_FAILURE_THRESHOLD
    std::chrono::milliseconds reset_timeout{
        30000};  // CIRCUIT_BREAKER_RESET_TIMEOUT (seconds, decimals allowed)
    breaker_scope scope = breaker_scope::instance;  // CIRCUIT_BREAKER_SCOPE
};

struct upstream_options {
    double failure_rate = 0.1;  // EXTERNAL_SERVICE_FAILURE_RATE
    std::chrono::milliseconds timeout{
        5000};                             // EXTERNAL_SERVICE_TIMEOUT (seconds, decimals allowed)
    std::chrono::milliseconds latency{0};  // EXTERNAL_SERVICE_LATENCY_MS
    std::string url;                       // EXTERNAL_SERVICE_URL (empty: built-in simulator)
    std::string ca_file;                   // EXTERNAL_SERVICE_CA_FILE (empty: the system store)
};

struct metrics_options {
    std::chrono::seconds retention{7 * 24 * 3600};   // METRICS_RETENTION_SECONDS
    std::uint32_t max_points_per_type = 100000;      // METRICS_MAX_POINTS_PER_TYPE
    std::chrono::seconds max_future{300};            // METRICS_MAX_FUTURE_SECONDS
    std::uint32_t max_types = 10000;                 // METRICS_MAX_TYPES
    std::chrono::seconds type_idle{30 * 24 * 3600};  // METRICS_TYPE_IDLE_SECONDS
};

struct log_options {
    log_level level = log_level::info;     // LOG_LEVEL
    log_format format = log_format::json;  // LOG_FORMAT
};

struct settings {
    http_options http;
    redis_options redis;
    cache_options cache;
    ratelimit_options ratelimit;
    breaker_options breaker;
    upstream_options upstream;
    metrics_options metrics;
    log_options log;
    std::string admin_token;  // ADMIN_TOKEN (empty: admin API answers 403)
    std::string instance_id;  // INSTANCE_ID (empty: <hostname>:<port>, set once listening)
};

/// The shortest ADMIN_TOKEN accepted: a shorter one stops start-up.
inline constexpr std::size_t min_admin_token_length = 16;

/// Looks a variable up; returns nullopt when it is not set.
using env_lookup = std::function<std::optional<std::string>(std::string_view)>;

/// Builds settings from variables. Unset or empty variables keep their default.
/// Throws config_error naming the first malformed variable and its value.
settings from_env(const env_lookup& lookup);

/// A lookup over the process environment, falling back to the variables of a `.env` file
/// (KEY=VALUE lines, `#` comments, optional quotes); the environment wins.
/// A missing file is not an error; an unreadable or malformed line is (config_error).
env_lookup process_env_with_dotenv(const std::string& dotenv_path);

/// One line per variable: name, default, meaning. Printed by `analytics-api --help`.
std::string help_text();

/// The settings as one JSON object for the start-up log line, without secrets.
std::string to_log_json(const settings& s);

}  // namespace analytics::config
