#pragma once
// Builds the service from `settings` and runs it: one worker per thread, each with its own
// io_context, acceptor (SO_REUSEPORT), Redis connection and handlers (shared-nothing); the
// process-wide pieces (connection limits, shutdown flag) are shared. It owns the telemetry
// registry that GET /metrics scrapes and hands each worker a shard of it to record into (no
// global registry: two applications in one process count apart). The main thread waits for
// SIGTERM/SIGINT and runs the graceful shutdown: on SIGTERM a drain of SHUTDOWN_DRAIN_SECONDS
// (http::listener::drain), then no new connections, then requests in flight finish within
// HTTP_SHUTDOWN_TIMEOUT_SECONDS; SIGINT skips the drain period.
//
// Thread safety: construct, start() and run() from the main thread; shutdown() from anywhere.

#include "api/health_handlers.hpp"
#include "common/asio.hpp"
#include "config/settings.hpp"
#include "http/router.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

namespace analytics::app {

class application {
public:
    explicit application(config::settings settings);
    ~application();

    application(const application&) = delete;
    application& operator=(const application&) = delete;

    /// Binds every worker's listener (throws when the address cannot be bound) and starts
    /// the workers' threads.
    void start();

    /// Every (method, path) the workers route; valid right after construction.
    std::vector<http::router::route_info> routes() const;

    /// The port the listeners are bound to (after start()).
    std::uint16_t port() const;

    /// Waits for SIGTERM/SIGINT or shutdown(), drains, stops. Returns the exit code.
    int run();

    /// True while every worker's Redis connection is up (any thread).
    bool redis_connected() const;

    /// Every worker's Redis connections, for /health and /ready (any thread).
    api::redis_health redis_health() const;

    /// Asks run() to shut down gracefully.
    void shutdown();

private:
    struct worker;
    struct metrics_endpoint;

    void register_telemetry();

    void drain_and_stop(std::chrono::seconds drain);
    net::awaitable<void> shutdown_sequence(std::chrono::seconds drain);
    /// Runs `action(listener)` on every listener's own thread.
    template <class Action>
    void for_each_listener(Action action);

    config::settings settings_;
    double started_;  // Unix time in seconds, for process_start_time_seconds
    std::atomic<bool> shutting_down_{false};
    struct shared_state;
    std::unique_ptr<shared_state> shared_;
    std::vector<std::unique_ptr<worker>> workers_;
    std::unique_ptr<metrics_endpoint> metrics_endpoint_;
    std::uint16_t port_ = 0;
};

}  // namespace analytics::app
