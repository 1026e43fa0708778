#pragma once
// The knobs of the simulated upstream, changeable at run time by the admin API: the failure
// probability (EXTERNAL_SERVICE_FAILURE_RATE) and the added latency
// (EXTERNAL_SERVICE_LATENCY_MS), with the version of the fleet's stored settings they came from
// (shared_settings; 0 while none are stored and the configured values apply).
//
// As a settings_writer it applies a change to this process alone.
//
// Owns: three atomics and a mutex that serialises writers.
//
// Thread safety: process-wide. Readers (every simulated call, on any worker) load the atomics
// without locking; `update` and `adopt` may be called from any thread and return a consistent
// pair even when two writers write at once.

#include "config/settings.hpp"
#include "upstream/settings_writer.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>

namespace analytics::upstream {

class simulation_settings final : public settings_writer {
public:
    using values = simulation_values;
    using change = simulation_change;

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

    /// `update`, as a settings_writer: this process only; never fails.
    net::awaitable<boost::system::result<change>> write(
        std::optional<double> failure_rate,
        std::optional<std::chrono::milliseconds> latency) override;

    /// Puts `v`, the fleet's settings stored under `version` (0: none stored), in force, unless
    /// `only_if_newer` and a version at least as new is in force already. Returns the change,
    /// or nullopt when it was not applied. Values are clamped as by `update`.
    std::optional<change> adopt(const values& v, std::uint64_t version, bool only_if_newer);

    /// The version of the fleet's settings in force (0: none adopted).
    std::uint64_t version() const noexcept;

private:
    std::atomic<double> failure_rate_;
    std::atomic<std::int64_t> latency_ms_;
    std::atomic<std::uint64_t> version_{0};
    std::mutex write_mu_;
};

}  // namespace analytics::upstream
