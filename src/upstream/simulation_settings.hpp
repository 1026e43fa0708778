#pragma once
// The knobs of the simulated upstream, changeable at run time by the admin API: the failure
// probability (EXTERNAL_SERVICE_FAILURE_RATE) and the added latency
// (EXTERNAL_SERVICE_LATENCY_MS).
//
// Owns: two atomics and a mutex that serialises writers.
//
// Thread safety: process-wide. Readers (every simulated call, on any worker) load the atomics
// without locking; `update` may be called from any thread and returns a consistent pair even
// when two admins write at once.

#include "config/settings.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>

namespace analytics::upstream {

class simulation_settings {
public:
    struct values {
        double failure_rate = 0.0;
        std::chrono::milliseconds latency{0};

        bool operator==(const values&) const = default;
    };

    /// The values before and after one update.
    struct change {
        values before;
        values after;
    };

    /// Longest latency accepted, as for EXTERNAL_SERVICE_LATENCY_MS (ten minutes).
    static constexpr std::chrono::milliseconds max_latency{600'000};

    /// Starts from `opts.failure_rate` and `opts.latency` (clamped like `update`).
    explicit simulation_settings(const config::upstream_options& opts);

    simulation_settings(const simulation_settings&) = delete;
    simulation_settings& operator=(const simulation_settings&) = delete;

    /// Probability in [0, 1] that a simulated call fails.
    double failure_rate() const noexcept;

    /// Time a simulated call takes before it answers.
    std::chrono::milliseconds latency() const noexcept;

    /// Both values (each read atomically; a concurrent update may show between the two reads).
    values current() const noexcept;

    /// Sets whichever values are given and returns the pair before and after. Values outside
    /// the valid range are clamped (failure_rate to [0, 1], NaN to 0; latency to
    /// [0, max_latency]): validating input is the caller's job.
    change update(std::optional<double> failure_rate,
                  std::optional<std::chrono::milliseconds> latency);

private:
    std::atomic<double> failure_rate_;
    std::atomic<std::int64_t> latency_ms_;
    std::mutex write_mu_;
};

}  // namespace analytics::upstream
