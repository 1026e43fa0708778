#pragma once
// The circuit breaker around the external service: a state machine with no I/O, driven by an
// injected clock (docs/contract.md, Circuit breaker).
//
//     CLOSED    counts consecutive failures (a success resets the count); at
//               `failure_threshold` it opens.
//     OPEN      rejects every call at once for `reset_timeout`.
//     HALF_OPEN once `reset_timeout` has passed: exactly one trial call is let through, every
//               other call is rejected meanwhile. The trial has its own deadline
//               (`trial_timeout`); a trial not reported by then counts as failed, so a hung
//               trial cannot keep the breaker half-open. Trial success: CLOSED with the counters
//               reset. Trial failure: OPEN again.
//
// Time-driven changes (OPEN -> HALF_OPEN, a trial past its deadline -> OPEN) are applied lazily
// by whichever call looks at the breaker next; there is no timer. Every change of state writes
// one `breaker.state_change` log line with the old and new state and the reason.
//
// A call goes through a `ticket`: `try_acquire()` hands one out, the caller reports the outcome
// on it, and a ticket dropped without a report counts as a failure. Each ticket remembers the
// state it was issued in; an outcome reported after the breaker has changed state since (a slow
// call of an earlier CLOSED period, a trial that already timed out) is ignored, so late reports
// cannot corrupt the counters of the current state.
//
// Owns: the state, the counters and a mutex. Holds a reference to the clock.
//
// Thread safety: process-wide; every member function may be called from any thread. The mutex
// guards a few integers and is never held while logging. A `ticket` itself belongs to one
// caller (not thread-safe), and the breaker must outlive its tickets.

#include "breaker/call_claim.hpp"
#include "common/clock.hpp"
#include "config/settings.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string_view>

namespace analytics::breaker {

enum class state { closed, open, half_open };

/// "CLOSED", "OPEN" or "HALF_OPEN", as the status endpoint shows them.
std::string_view to_string(state s) noexcept;

/// `d` rounded up to whole seconds, and at least one: a Retry-After never asks for an
/// immediate retry.
std::chrono::seconds whole_seconds_at_least_one(std::chrono::steady_clock::duration d) noexcept;

/// What the status endpoint shows, read in one critical section.
struct snapshot {
    state current = state::closed;
    /// Consecutive failed calls since the last success (a trial success resets it to 0).
    std::uint64_t failure_count = 0;
    /// Successful calls since the breaker last changed state.
    std::uint64_t success_count = 0;
    /// When the breaker last opened (wall clock); set while OPEN or HALF_OPEN.
    std::optional<common::clock::wall_time> opened_at;
    /// Whole seconds (>= 1) until a call may be let through again; set while OPEN, and while
    /// HALF_OPEN with the trial in flight. Unset when a call would be let through now.
    std::optional<std::chrono::seconds> retry_after;
    /// True while HALF_OPEN with the trial call outstanding.
    bool trial_in_flight = false;
    /// State changes since construction.
    std::uint64_t transitions = 0;
    /// The same, by [from][to] state (indexed by `state`).
    std::array<std::array<std::uint64_t, 3>, 3> transitions_by_state{};
};

class circuit_breaker;

/// Permission for one call, handed out by `circuit_breaker::try_acquire()`. Move-only.
///
/// When `allowed()`, report the outcome exactly once with `record_success()` or
/// `record_failure()`; a ticket destroyed without a report records a failure ("abandoned").
/// When rejected, `retry_after()` says how long to wait (the Retry-After of a 503 CIRCUIT_OPEN).
class ticket {
public:
    ticket() = default;
    ticket(ticket&& other) noexcept = default;
    ticket& operator=(ticket&& other) noexcept;
    ticket(const ticket&) = delete;
    ticket& operator=(const ticket&) = delete;
    ~ticket();

    /// True when the call may go ahead.
    bool allowed() const noexcept { return claim_.allowed; }
    explicit operator bool() const noexcept { return claim_.allowed; }

    /// True when this call is the HALF_OPEN trial.
    bool is_trial() const noexcept { return claim_.trial; }

    /// For a rejected ticket: whole seconds (>= 1) until the next call may be let through.
    /// Zero for an allowed ticket.
    std::chrono::seconds retry_after() const noexcept { return claim_.retry_after; }

    /// Reports that the call succeeded. Later reports on this ticket are ignored.
    void record_success();

    /// Reports that the call failed (error, bad answer or timeout); `reason` goes into the log
    /// line when this failure changes the state. Later reports on this ticket are ignored.
    void record_failure(std::string_view reason = "call_failed");

private:
    friend class circuit_breaker;

    explicit ticket(call_claim<circuit_breaker> claim) noexcept : claim_(std::move(claim)) {}

    call_claim<circuit_breaker> claim_;
};

class circuit_breaker {
public:
    /// `opts.failure_threshold` is clamped to at least 1. `trial_timeout` is the trial's own
    /// deadline; pass the external call's timeout (EXTERNAL_SERVICE_TIMEOUT).
    circuit_breaker(const config::breaker_options& opts, std::chrono::milliseconds trial_timeout,
                    const common::clock& clock);

    circuit_breaker(const circuit_breaker&) = delete;
    circuit_breaker& operator=(const circuit_breaker&) = delete;

    /// Asks to make one call: allowed in CLOSED; the single trial in HALF_OPEN; else rejected
    /// with the seconds until the next trial. Discarding an allowed ticket records a failure.
    [[nodiscard]] ticket try_acquire();

    /// The current state and counters (applies any time-driven change first).
    snapshot status();

private:
    friend class ticket;

    enum class outcome { success, failure };

    // A state change to log once the mutex is released.
    struct change {
        state from;
        state to;
        std::string_view reason;  // why the state changed, e.g. "trial_timed_out"
        std::string_view cause;   // the failure reported by the caller, when one did it
        std::uint64_t seq;
        std::uint64_t failure_count;
    };

    // At most three changes happen in one call: a timed-out trial reopens the breaker, a long
    // wait makes it half-open again, and the report itself may close or reopen it.
    struct change_log {
        change items[3];
        int size = 0;
    };

    void report(std::uint64_t generation, bool trial, outcome o, std::string_view reason);

    // Applies the outcome of a current (not stale) ticket. Called with mu_ held.
    void apply(bool trial, outcome o, std::string_view reason, common::clock::mono_time now,
               change_log& changes);
    // Applies the time-driven changes due at `now`. Called with mu_ held.
    void advance(common::clock::mono_time now, change_log& changes);
    // Moves to `to`, resets success_count_ and records the change. Called with mu_ held.
    void move_to(state to, std::string_view reason, std::string_view cause, change_log& changes);
    // Opens the breaker as of `at` (<= now). Called with mu_ held.
    void open_at(common::clock::mono_time at, common::clock::mono_time now, std::string_view reason,
                 std::string_view cause, change_log& changes);
    // Whole seconds (>= 1) until the next call may pass. Called with mu_ held, state not CLOSED.
    std::chrono::seconds retry_after_locked(common::clock::mono_time now) const;

    static void write_log(const change_log& changes);

    const std::uint32_t failure_threshold_;
    const std::chrono::milliseconds reset_timeout_;
    const std::chrono::milliseconds trial_timeout_;
    const common::clock& clock_;

    std::mutex mu_;
    state state_ = state::closed;
    std::uint64_t failure_count_ = 0;
    std::uint64_t success_count_ = 0;
    // Bumped on every change of state; a ticket from an earlier generation is stale.
    std::uint64_t generation_ = 0;
    common::clock::mono_time opened_mono_{};
    common::clock::wall_time opened_wall_{};
    bool trial_in_flight_ = false;
    std::array<std::array<std::uint64_t, 3>, 3> transitions_{};
    common::clock::mono_time trial_deadline_{};
};

}  // namespace analytics::breaker
