#include "breaker/fleet_view.hpp"

#include "common/logging.hpp"

namespace analytics::breaker {

fleet_view::fleet_view(const common::clock& clock) : clock_(clock)
{
}

fleet_view::verdict fleet_view::decide() const
{
    std::lock_guard lock(mu_);
    if (!known_) {
        return {};
    }
    const auto now = clock_.steady_now();
    switch (state_.current) {
    case state::closed:
        return {verdict::kind::allow, state_.generation, {}};
    case state::open:
        if (now < wait_until_) {
            return {verdict::kind::reject, 0, whole_seconds_at_least_one(wait_until_ - now)};
        }
        return {};
    case state::half_open:
        if (state_.trial_in_flight && now < wait_until_) {
            return {verdict::kind::reject, 0, whole_seconds_at_least_one(wait_until_ - now)};
        }
        return {};
    }
    return {};
}

void fleet_view::update(const fleet_state& s)
{
    {
        std::lock_guard lock(mu_);
        for (const auto& c : s.changes) {
            ++transitions_total_;
            ++transitions_[static_cast<std::size_t>(c.from)][static_cast<std::size_t>(c.to)];
        }
        // Answers to different workers may arrive in another order than Redis gave them: one
        // from an earlier generation must not undo a newer state (it would let calls through a
        // breaker another instance has just opened). Twice in a row, though, it means the
        // shared state itself went back (deleted, or Redis restarted without it).
        if (known_ && s.generation < state_.generation && !older_seen_) {
            older_seen_ = true;
        } else {
            older_seen_ = false;
            replace(s);
        }
    }
    log_changes(s);
}

void fleet_view::replace(const fleet_state& s)
{
    known_ = true;
    state_.current = s.current;
    state_.failure_count = s.failure_count;
    state_.success_count = s.success_count;
    state_.generation = s.generation;
    state_.wait = s.wait;
    state_.opened_at = s.opened_at;
    state_.trial_in_flight = s.trial_in_flight;
    wait_until_ = clock_.steady_now() + s.wait;
}

void fleet_view::log_changes(const fleet_state& s)
{
    for (const auto& c : s.changes) {
        // As the in-process breaker logs its own: opening is a degraded mode, so a warning.
        log::write(c.to == state::open ? log::level::warning : log::level::info,
                   "breaker.state_change",
                   {{"scope", "cluster"},
                    {"from", to_string(c.from)},
                    {"to", to_string(c.to)},
                    {"reason", c.reason},
                    {"failure_count", s.failure_count},
                    {"generation", s.generation}});
    }
}

snapshot fleet_view::status() const
{
    snapshot out;
    std::lock_guard lock(mu_);
    const auto now = clock_.steady_now();
    out.current = state_.current;
    out.failure_count = state_.failure_count;
    out.success_count = state_.success_count;
    out.opened_at = state_.current == state::closed ? std::nullopt : state_.opened_at;
    out.transitions = transitions_total_;
    out.transitions_by_state = transitions_;
    if (state_.current == state::open && now >= wait_until_) {
        // The script makes it HALF_OPEN on the next call; say so now, as circuit_breaker does.
        out.current = state::half_open;
        out.success_count = 0;
    } else if (state_.current == state::open || (state_.trial_in_flight && now < wait_until_)) {
        out.trial_in_flight = state_.trial_in_flight;
        out.retry_after = whole_seconds_at_least_one(wait_until_ - now);
    }
    return out;
}

void fleet_view::lost(std::string_view error)
{
    available_.store(false, std::memory_order_release);
    outage_.occurred({{"fallback", "instance"}, {"error", error}});
}

void fleet_view::regained() noexcept
{
    available_.store(true, std::memory_order_release);
    outage_.recovered();
}

}  // namespace analytics::breaker
