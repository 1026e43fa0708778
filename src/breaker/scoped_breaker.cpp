#include "breaker/scoped_breaker.hpp"

#include <boost/asio/this_coro.hpp>

#include <utility>

namespace analytics::breaker {

// ---- permit ---------------------------------------------------------------------------------

permit permit::local(ticket t)
{
    permit p;
    p.shared_ = t.allowed() ? call_claim<scoped_breaker>(nullptr, 0, t.is_trial())
                            : call_claim<scoped_breaker>(t.retry_after());
    p.local_ = std::move(t);
    return p;
}

permit permit::shared(scoped_breaker& owner, std::uint64_t generation, bool trial)
{
    permit p;
    p.shared_ = call_claim<scoped_breaker>(&owner, generation, trial);
    return p;
}

permit permit::rejected(std::chrono::seconds retry_after)
{
    permit p;
    p.shared_ = call_claim<scoped_breaker>(retry_after);
    return p;
}

net::awaitable<void> permit::record_success()
{
    return record(true, {});
}

net::awaitable<void> permit::record_failure(std::string_view reason)
{
    return record(false, reason);
}

net::awaitable<void> permit::record(bool success, std::string_view reason)
{
    if (auto* owner = shared_.report_to()) {
        co_await owner->report(shared_.generation, shared_.trial, success, reason);
        co_return;
    }
    if (success) {
        local_.record_success();
    } else {
        local_.record_failure(reason);
    }
}

// ---- scoped_breaker -------------------------------------------------------------------------

scoped_breaker::scoped_breaker(circuit_breaker& local) : local_(local)
{
}

scoped_breaker::scoped_breaker(circuit_breaker& local, fleet_view& view, cluster_store& store)
    : local_(local), view_(&view), store_(&store)
{
}

config::breaker_scope scoped_breaker::scope() const noexcept
{
    return view_ != nullptr ? config::breaker_scope::cluster : config::breaker_scope::instance;
}

bool scoped_breaker::take(const boost::system::result<fleet_state>& answer)
{
    if (!answer) {
        // A client stopped for shutdown is not an outage worth a warning.
        if (answer.error() != redis::make_error_code(redis::errc::stopped)) {
            view_->lost(answer.error().message());
        }
        return false;
    }
    view_->regained();
    view_->update(*answer);
    return true;
}

net::awaitable<permit> scoped_breaker::acquire()
{
    if (view_ == nullptr || !view_->available()) {
        co_return permit::local(local_.try_acquire());
    }
    const auto verdict = view_->decide();
    switch (verdict.what) {
    case fleet_view::verdict::kind::allow:
        co_return permit::shared(*this, verdict.generation, false);
    case fleet_view::verdict::kind::reject:
        co_return permit::rejected(verdict.retry_after);
    case fleet_view::verdict::kind::ask_redis:
        break;
    }
    auto answer = co_await store_->acquire();
    if (!take(answer)) {
        co_return permit::local(local_.try_acquire());
    }
    if (answer->trial_granted) {
        co_return permit::shared(*this, answer->generation, true);
    }
    if (answer->current == state::closed) {
        co_return permit::shared(*this, answer->generation, false);
    }
    co_return permit::rejected(whole_seconds_at_least_one(answer->wait));
}

net::awaitable<void> scoped_breaker::report(std::uint64_t generation, bool trial, bool success,
                                            std::string_view reason)
{
    const auto answer = co_await store_->report(generation, trial, success);
    if (take(answer)) {
        co_return;
    }
    // The fleet did not hear of this outcome; the breaker that decides while Redis is away
    // counts it, so an outage of Redis and of the upstream together still opens a breaker.
    auto counted = local_.try_acquire();
    if (success) {
        counted.record_success();
    } else {
        counted.record_failure(reason);
    }
}

net::awaitable<scoped_status> scoped_breaker::status()
{
    if (view_ == nullptr) {
        co_return current();
    }
    const auto answer = co_await store_->read();
    take(answer);
    co_return current();
}

scoped_status scoped_breaker::current() const
{
    if (view_ == nullptr) {
        return {local_.status(), config::breaker_scope::instance, false};
    }
    if (!view_->available()) {
        return {local_.status(), config::breaker_scope::cluster, true};
    }
    return {view_->status(), config::breaker_scope::cluster, false};
}

net::awaitable<void> scoped_breaker::watch(std::chrono::milliseconds interval)
{
    if (view_ == nullptr) {
        co_return;
    }
    net::steady_timer timer(co_await net::this_coro::executor);
    watch_timer_ = &timer;
    while (!stopped_) {
        if (store_->has_connected()) {
            take(co_await store_->read());
        }
        if (stopped_) {
            break;
        }
        timer.expires_after(interval);
        co_await timer.async_wait(common::use_nothrow);
    }
    watch_timer_ = nullptr;
}

void scoped_breaker::stop()
{
    stopped_ = true;
    if (watch_timer_ != nullptr) {
        watch_timer_->cancel();
    }
}

}  // namespace analytics::breaker
