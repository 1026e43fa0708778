#include "breaker/circuit_breaker.hpp"

#include "common/logging.hpp"

#include <algorithm>
#include <cassert>
#include <utility>

namespace analytics::breaker {

using std::chrono::duration_cast;

std::chrono::seconds whole_seconds_at_least_one(std::chrono::steady_clock::duration d) noexcept
{
    // Retry-After is whole seconds and at least 1, so a client never retries at once.
    const auto secs = std::chrono::ceil<std::chrono::seconds>(d);
    return std::max(secs, std::chrono::seconds(1));
}

std::string_view to_string(state s) noexcept
{
    switch (s) {
    case state::closed:
        return "CLOSED";
    case state::open:
        return "OPEN";
    case state::half_open:
        return "HALF_OPEN";
    }
    return "CLOSED";
}

// ---- ticket ---------------------------------------------------------------------------------

ticket& ticket::operator=(ticket&& other) noexcept
{
    if (this != &other) {
        // The ticket being overwritten is dropped: like destruction, that is a failure.
        ticket dropped(std::move(*this));
        claim_ = std::move(other.claim_);
    }
    return *this;
}

ticket::~ticket()
{
    auto* owner = claim_.report_to();
    if (owner == nullptr) {
        return;
    }
    // A call whose outcome nobody reported (its coroutine was destroyed, or an exception skipped
    // the report) must still end: above all a trial, or the breaker would wait for the trial's
    // deadline. Not knowing the outcome, count it as failed. Destructors must not throw.
    try {
        owner->report(claim_.generation, claim_.trial, circuit_breaker::outcome::failure,
                      "abandoned");
    } catch (...) {
        // Locking or logging failed; the trial deadline still ends a trial.
    }
}

void ticket::record_success()
{
    if (auto* owner = claim_.report_to()) {
        owner->report(claim_.generation, claim_.trial, circuit_breaker::outcome::success, {});
    }
}

void ticket::record_failure(std::string_view reason)
{
    if (auto* owner = claim_.report_to()) {
        owner->report(claim_.generation, claim_.trial, circuit_breaker::outcome::failure, reason);
    }
}

// ---- circuit_breaker ------------------------------------------------------------------------

circuit_breaker::circuit_breaker(const config::breaker_options& opts,
                                 std::chrono::milliseconds trial_timeout,
                                 const common::clock& clock)
    : failure_threshold_(std::max<std::uint32_t>(opts.failure_threshold, 1)),
      reset_timeout_(std::max(opts.reset_timeout, std::chrono::milliseconds(0))),
      trial_timeout_(std::max(trial_timeout, std::chrono::milliseconds(0))),
      clock_(clock)
{
}

ticket circuit_breaker::try_acquire()
{
    change_log changes;
    ticket out;
    {
        std::lock_guard lock(mu_);
        const auto now = clock_.steady_now();
        advance(now, changes);
        switch (state_) {
        case state::closed:
            out = ticket({this, generation_, false});
            break;
        case state::half_open:
            if (!trial_in_flight_) {
                trial_in_flight_ = true;
                trial_deadline_ = now + trial_timeout_;
                out = ticket({this, generation_, true});
                break;
            }
            out = ticket(call_claim<circuit_breaker>(retry_after_locked(now)));
            break;
        case state::open:
            out = ticket(call_claim<circuit_breaker>(retry_after_locked(now)));
            break;
        }
    }
    write_log(changes);
    return out;
}

snapshot circuit_breaker::status()
{
    change_log changes;
    snapshot s;
    {
        std::lock_guard lock(mu_);
        const auto now = clock_.steady_now();
        advance(now, changes);
        s.current = state_;
        s.failure_count = failure_count_;
        s.success_count = success_count_;
        s.trial_in_flight = trial_in_flight_;
        s.transitions = generation_;
        s.transitions_by_state = transitions_;
        if (state_ != state::closed) {
            s.opened_at = opened_wall_;
        }
        if (state_ == state::open || trial_in_flight_) {
            s.retry_after = retry_after_locked(now);
        }
    }
    write_log(changes);
    return s;
}

void circuit_breaker::report(std::uint64_t generation, bool trial, outcome o,
                             std::string_view reason)
{
    change_log changes;
    {
        std::lock_guard lock(mu_);
        const auto now = clock_.steady_now();
        // Time-driven changes first: a trial reported after its deadline has already been
        // counted as failed, and its report is then stale.
        advance(now, changes);
        // A ticket issued before the last change of state (a slow call of an earlier CLOSED
        // period, a trial that timed out) says nothing about the present: it is ignored.
        if (generation == generation_) {
            apply(trial, o, reason, now, changes);
        }
    }
    write_log(changes);
}

void circuit_breaker::apply(bool trial, outcome o, std::string_view reason,
                            common::clock::mono_time now, change_log& changes)
{
    if (trial) {
        assert(state_ == state::half_open && trial_in_flight_);
        trial_in_flight_ = false;
        if (o == outcome::success) {
            // docs/contract.md, Circuit breaker: trial success closes the breaker with the counters
            // reset.
            failure_count_ = 0;
            move_to(state::closed, "trial_succeeded", {}, changes);
        } else {
            ++failure_count_;
            open_at(now, now, "trial_failed", reason, changes);
        }
        return;
    }
    assert(state_ == state::closed);
    if (o == outcome::success) {
        failure_count_ = 0;
        ++success_count_;
        return;
    }
    ++failure_count_;
    if (failure_count_ >= failure_threshold_) {
        open_at(now, now, "failure_threshold_reached", reason, changes);
    }
}

void circuit_breaker::advance(common::clock::mono_time now, change_log& changes)
{
    for (;;) {
        if (state_ == state::open && now - opened_mono_ >= reset_timeout_) {
            trial_in_flight_ = false;
            move_to(state::half_open, "reset_timeout_elapsed", {}, changes);
            continue;
        }
        if (state_ == state::half_open && trial_in_flight_ && now >= trial_deadline_) {
            // The trial's outcome did not arrive in time: it failed when its deadline passed,
            // and the reset timeout counts from then.
            trial_in_flight_ = false;
            ++failure_count_;
            open_at(trial_deadline_, now, "trial_timed_out", {}, changes);
            continue;
        }
        return;
    }
}

void circuit_breaker::move_to(state to, std::string_view reason, std::string_view cause,
                              change_log& changes)
{
    const state from = state_;
    state_ = to;
    ++generation_;
    ++transitions_[static_cast<std::size_t>(from)][static_cast<std::size_t>(to)];
    // docs/contract.md, Circuit breaker: success_count counts successful calls since the breaker
    // last changed state.
    success_count_ = 0;
    assert(changes.size < static_cast<int>(std::size(changes.items)));
    if (changes.size < static_cast<int>(std::size(changes.items))) {
        changes.items[changes.size++] =
            change{from, to, reason, cause, generation_, failure_count_};
    }
}

void circuit_breaker::open_at(common::clock::mono_time at, common::clock::mono_time now,
                              std::string_view reason, std::string_view cause, change_log& changes)
{
    opened_mono_ = at;
    opened_wall_ = clock_.now() - duration_cast<common::clock::wall_time::duration>(now - at);
    move_to(state::open, reason, cause, changes);
}

std::chrono::seconds circuit_breaker::retry_after_locked(common::clock::mono_time now) const
{
    if (state_ == state::half_open && trial_in_flight_) {
        // The trial decides within its deadline; a success closes the breaker at once, so that
        // is the earliest moment a retry can pass.
        return whole_seconds_at_least_one(trial_deadline_ - now);
    }
    return whole_seconds_at_least_one(opened_mono_ + reset_timeout_ - now);
}

void circuit_breaker::write_log(const change_log& changes)
{
    for (int i = 0; i < changes.size; ++i) {
        const change& c = changes.items[i];
        // Opening is a degraded mode (summaries fail or go stale), so it is a warning.
        const auto lvl = c.to == state::open ? log::level::warning : log::level::info;
        if (c.cause.empty()) {
            log::write(lvl, "breaker.state_change",
                       {{"from", to_string(c.from)},
                        {"to", to_string(c.to)},
                        {"reason", c.reason},
                        {"failure_count", c.failure_count},
                        {"transition", c.seq}});
        } else {
            log::write(lvl, "breaker.state_change",
                       {{"from", to_string(c.from)},
                        {"to", to_string(c.to)},
                        {"reason", c.reason},
                        {"cause", c.cause},
                        {"failure_count", c.failure_count},
                        {"transition", c.seq}});
        }
    }
}

}  // namespace analytics::breaker
