#pragma once
// This process's view of the circuit breaker that every instance sharing a Redis shares
// (CIRCUIT_BREAKER_SCOPE=cluster; docs/contract.md, Circuit breaker). The shared state lives in
// Redis and changes only in cluster_store's script; the view keeps the script's last answer and
// when it arrived, so that most calls are decided without a Redis round trip:
//
//     CLOSED                          the call goes ahead (its outcome is then reported to Redis)
//     OPEN before the reset timeout,  rejected at once, Retry-After from the time left
//     HALF_OPEN with a trial running
//     anything else                   ask Redis: the reset timeout has passed (or the view knows
//                                     nothing yet), and the script hands the one trial of the
//                                     fleet to exactly one caller
//
// The view is refreshed by every answer of the script (each outcome reported, each trial asked
// for, each status read) and by a short poll, so a change made by another instance is seen here
// within the poll interval.
//
// The view also knows whether Redis answers. While it does not, callers use the instance's own
// breaker instead; the outage is logged once when it starts and once when it ends
// (`breaker.cluster_unavailable`).
//
// No I/O: fed with the script's answers, driven by the injected clock.
//
// Owns: the last known state, transition counters, a mutex, the outage log.
// Thread safety: process-wide; every member function may be called from any thread.

#include "breaker/circuit_breaker.hpp"
#include "common/clock.hpp"
#include "common/degraded_mode.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

namespace analytics::breaker {

/// One change of the shared state, made by the script call that reports it.
struct transition {
    state from = state::closed;
    state to = state::closed;
    std::string_view reason;  // "failure_threshold_reached", "trial_failed", ... (static text)
};

/// One answer of the breaker's script: the shared state after the call.
struct fleet_state {
    state current = state::closed;
    std::uint64_t failure_count = 0;
    std::uint64_t success_count = 0;
    /// Bumped by the script on every change of state; an outcome is counted only when it is
    /// reported with the generation its call was let through in.
    std::uint64_t generation = 0;
    /// OPEN: time left until the reset timeout has passed. HALF_OPEN with the trial running:
    /// time left of the trial's lease. Otherwise zero.
    std::chrono::milliseconds wait{0};
    /// When the breaker last opened, by Redis's clock (unset when it never opened).
    std::optional<common::clock::wall_time> opened_at;
    /// True when this call was handed the trial.
    bool trial_granted = false;
    /// True while HALF_OPEN with the trial's lease running.
    bool trial_in_flight = false;
    /// The changes this call made, in order (at most three).
    std::vector<transition> changes;
};

class fleet_view {
public:
    /// What to do with one call, decided from the view alone.
    struct verdict {
        enum class kind { allow, reject, ask_redis };

        kind what = kind::ask_redis;
        /// For allow: the generation to report the outcome with.
        std::uint64_t generation = 0;
        /// For reject: whole seconds (>= 1) until a call may pass.
        std::chrono::seconds retry_after{0};
    };

    explicit fleet_view(const common::clock& clock);

    fleet_view(const fleet_view&) = delete;
    fleet_view& operator=(const fleet_view&) = delete;

    /// Decides one call from the last known state (see the table above).
    verdict decide() const;

    /// Takes an answer of the script: its changes are logged (`breaker.state_change`, scope
    /// cluster) and counted, and it replaces the view, unless it is of an earlier generation
    /// than the view (an answer that crossed a newer one) and the previous answer was not.
    void update(const fleet_state& s);

    /// The state as the view knows it, in the in-process breaker's terms. An OPEN breaker whose
    /// reset timeout has passed is shown HALF_OPEN, as the script would make it on the next call.
    snapshot status() const;

    /// True unless the last Redis call failed.
    bool available() const noexcept { return available_.load(std::memory_order_acquire); }

    /// A call to Redis failed (`error` says how): until one succeeds, callers use the local
    /// breaker. The first failure of an outage is logged as a warning.
    void lost(std::string_view error);

    /// A call to Redis succeeded: ends the outage (logged with its length) if there was one.
    void regained() noexcept;

private:
    // Called with mu_ held.
    void replace(const fleet_state& s);
    static void log_changes(const fleet_state& s);

    const common::clock& clock_;

    mutable std::mutex mu_;
    bool known_ = false;       // false until the first answer: every call asks Redis
    bool older_seen_ = false;  // the last answer was of an earlier generation and set aside
    fleet_state state_;
    common::clock::mono_time wait_until_{};
    std::uint64_t transitions_total_ = 0;
    std::array<std::array<std::uint64_t, 3>, 3> transitions_{};

    std::atomic<bool> available_{true};
    common::degraded_mode outage_{"breaker.cluster_unavailable"};
};

}  // namespace analytics::breaker
