#pragma once
// The service's own metrics, exposed by GET /metrics in the Prometheus text format.
//
// The application owns one registry and hands every worker thread a `shard` of its own at
// start-up (add_shard()); the worker's components keep a reference to it and record through it,
// so nothing is global and two registries in one process count apart. Recording is
// allocation-free and lock-free: every thread writes only its own shard (plain relaxed loads
// and stores of its own counters, so no locked instructions on the hot path), and a scrape sums
// the registry's shards. Label sets are fixed at compile time or bounded at start-up (route
// templates, never raw paths), so a flood of distinct paths or types cannot grow the output.
// Values that already live elsewhere (breaker state, open connections, Redis connections,
// process figures) are read at scrape time through registered sources.
//
// Thread safety: a shard is written by one thread only (the worker it was handed to) and may be
// read by any; registry functions may be called from any thread.

#include "common/http_method.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace analytics::telemetry {

/// False in a build configured with -DANALYTICS_TELEMETRY=OFF: recording compiles to nothing
/// (GET /metrics still answers, with zeros). It exists to measure what recording costs
/// (bench/run.sh, scenario telemetry); production builds record.
#ifndef ANALYTICS_TELEMETRY_RECORDING
#define ANALYTICS_TELEMETRY_RECORDING 1
#endif
inline constexpr bool recording = ANALYTICS_TELEMETRY_RECORDING != 0;

enum class counter : unsigned {
    ratelimit_allowed,
    ratelimit_limited,
    ratelimit_fail_open,
    ratelimit_local_backstop,
    cache_hit,
    cache_miss,
    cache_stale,
    summary_computations,
    external_success,
    external_failure,
    external_timeout,
    external_rejected,
    redis_ok,
    redis_error_reply,
    redis_timeout,
    redis_not_connected,
    redis_connection_lost,
    redis_other_error,
    metrics_ingested,
    count_,
};

enum class histogram : unsigned { external_call, redis_command, count_ };

/// Upper bounds (seconds) of every latency histogram's buckets.
inline constexpr std::array<double, 14> latency_buckets{
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};

/// Route slots: the router's routes take the first ids; the last slot is "unmatched".
inline constexpr std::size_t max_routes = 48;
inline constexpr std::size_t unmatched_route = max_routes - 1;

/// The HTTP statuses counted one by one; anything else is counted as "other".
inline constexpr std::array<unsigned, 20> http_statuses{200, 201, 204, 304, 400, 401, 403,
                                                        404, 405, 408, 409, 413, 415, 422,
                                                        429, 431, 500, 502, 503, 504};

/// One thread's counters. Only the owning thread writes; any thread may read.
class shard {
public:
    void add(counter c, std::uint64_t n = 1) noexcept
    {
        if constexpr (recording) {
            bump(counters_[index(c)], n);
        }
    }
    void observe(histogram h, std::chrono::nanoseconds d) noexcept
    {
        if constexpr (recording) {
            histograms_[static_cast<std::size_t>(h)].observe(d);
        }
    }
    void http_request(std::size_t route_id, common::http_method m, unsigned status,
                      std::chrono::nanoseconds d) noexcept
    {
        if constexpr (recording) {
            record_http_request(route_id, m, status, d);
        }
    }

private:
    friend class registry;

    void record_http_request(std::size_t route_id, common::http_method m, unsigned status,
                             std::chrono::nanoseconds d) noexcept;

    static constexpr std::size_t methods = common::http_method_count;
    static constexpr std::size_t statuses = http_statuses.size() + 1;  // + "other"

    struct histogram_cells {
        std::array<std::atomic<std::uint64_t>, latency_buckets.size() + 1> buckets{};  // + +Inf
        std::atomic<std::uint64_t> sum_ns{0};
        std::atomic<std::uint64_t> count{0};

        void observe(std::chrono::nanoseconds d) noexcept;
    };

    static void bump(std::atomic<std::uint64_t>& cell, std::uint64_t n) noexcept
    {
        // Single writer: a plain load and store, no read-modify-write instruction.
        cell.store(cell.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    static constexpr std::size_t index(counter c) noexcept { return static_cast<std::size_t>(c); }
    static std::size_t status_index(unsigned status) noexcept;

    std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(counter::count_)> counters_{};
    std::array<std::atomic<std::uint64_t>, max_routes * methods * statuses> http_requests_{};
    std::array<histogram_cells, max_routes> http_durations_{};
    std::array<histogram_cells, static_cast<std::size_t>(histogram::count_)> histograms_{};
};

class registry {
public:
    registry() = default;
    registry(const registry&) = delete;
    registry& operator=(const registry&) = delete;

    /// A new shard, summed into this registry's scrapes and living as long as the registry.
    /// Give each thread that records a shard of its own (one per worker, taken at start-up).
    shard& add_shard();

    /// Names the route ids (the router's route templates, in id order). Called once at start-up;
    /// throws std::length_error for more than max_routes - 1 routes (the last slot is unmatched).
    void set_routes(std::vector<std::string> templates);

    /// Appends exposition text for values read at scrape time (gauges and counters owned by
    /// other components). A source lives as long as the registry: what it reads must too.
    using source = std::function<void(std::string& out)>;
    void add_source(source s);

    /// The whole exposition, in the Prometheus text format 0.0.4.
    std::string scrape() const;

    /// The sum of `c` over every shard: the value a scrape shows.
    std::uint64_t total(counter c) const;

private:
    std::uint64_t sum_of(std::size_t counter_index) const;  // with mu_ held

    mutable std::mutex mu_;
    std::vector<std::unique_ptr<shard>> shards_;
    std::vector<std::string> routes_;
    std::vector<source> sources_;
};

/// Exposition helpers for sources: `# HELP` and `# TYPE` lines, and one sample line.
void write_header(std::string& out, std::string_view name, std::string_view type,
                  std::string_view help);
void write_sample(std::string& out, std::string_view name, std::string_view labels, double value);

}  // namespace analytics::telemetry
