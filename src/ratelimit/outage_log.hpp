#pragma once
// Keeps the logs of a Redis outage to two lines per process (one warning per outage, not per
// request, so that an outage does not flood the log): a warning when the first worker starts
// deciding without Redis, and one line with the number of requests so decided when the last worker
// has Redis back. Each worker has its own connection, so an outage is the time during which at
// least one of them is failing.
//
// Owns the counters behind those lines; the totals stay readable for diagnostics and tests.
//
// Thread safety: one instance per process; every member may be called from any thread (atomics).
// Each worker must pair its worker_failing() and worker_recovered() calls.

#include "common/clock.hpp"

#include <atomic>
#include <cstdint>
#include <string_view>

namespace analytics::ratelimit {

class outage_log {
public:
    explicit outage_log(const common::clock& clock) : clock_(clock) {}

    outage_log(const outage_log&) = delete;
    outage_log& operator=(const outage_log&) = delete;

    /// A worker's Redis calls started failing; the first such worker logs the warning.
    void worker_failing(std::string_view error, std::string_view mode);

    /// Counts one request decided without Redis.
    void count_request() noexcept;

    /// A failing worker's Redis calls succeed again; the last one logs the end of the outage.
    void worker_recovered();

    /// True while at least one worker is failing.
    bool active() const noexcept { return failing_workers_.load() > 0; }

    /// Outages begun since construction.
    std::uint64_t outages() const noexcept { return outages_.load(); }

    /// Requests decided without Redis since construction.
    std::uint64_t requests_without_redis() const noexcept { return total_requests_.load(); }

private:
    const common::clock& clock_;
    std::atomic<int> failing_workers_{0};
    std::atomic<std::uint64_t> outages_{0};
    std::atomic<std::uint64_t> outage_requests_{0};
    std::atomic<std::uint64_t> total_requests_{0};
    std::atomic<common::clock::mono_time::rep> started_{0};
};

}  // namespace analytics::ratelimit
