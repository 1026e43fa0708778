#pragma once
// The circuit breaker a worker's calls to the external service go through, in the scope
// CIRCUIT_BREAKER_SCOPE chooses (docs/contract.md, Circuit breaker):
//
//     instance  the process-wide circuit_breaker decides alone (each instance its own breaker)
//     cluster   every instance sharing the Redis shares one breaker: fleet_view decides what
//               it can from the last known shared state, cluster_store's script decides the
//               rest (the trial, and every outcome) atomically in Redis. While Redis does not
//               answer, the process-wide circuit_breaker decides instead (logged once per
//               outage by fleet_view), and the shared breaker takes over again with the first
//               Redis call that succeeds.
//
// In cluster scope a CLOSED breaker costs a call one Redis round trip, after the call: the
// outcome's report, whose answer refreshes the view. It is awaited before the caller answers
// its client, so a client that saw the failure which opened the breaker finds it open on every
// instance. `watch()` polls the shared state so that changes made elsewhere reach the view
// while this instance makes no calls.
//
// Owns: nothing but its poll timer; holds references to the process-wide breaker and view and
// to the worker's cluster_store.
//
// Thread safety: one per worker, used on that worker's thread (its cluster_store is). `current()`
// may be called from any thread.

#include "breaker/call_claim.hpp"
#include "breaker/circuit_breaker.hpp"
#include "breaker/cluster_store.hpp"
#include "breaker/fleet_view.hpp"
#include "common/asio.hpp"
#include "config/settings.hpp"

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <string_view>

namespace analytics::breaker {

class scoped_breaker;

/// What the status endpoint and /metrics show.
struct scoped_status {
    snapshot state;
    config::breaker_scope scope = config::breaker_scope::instance;
    /// Cluster scope only: true when Redis did not answer and `state` is this instance's own
    /// breaker, which decides meanwhile.
    bool fallback = false;
};

/// Permission for one call, from `scoped_breaker::acquire()`. Move-only.
///
/// When `allowed()`, report the outcome once with `co_await record_success()` or
/// `co_await record_failure()`. Dropped unreported, it counts as a failure in instance scope
/// (see `ticket`); in cluster scope a trial dropped unreported fails when its lease ends, and
/// any other call is not counted.
class permit {
public:
    permit() = default;
    permit(permit&& other) noexcept = default;
    permit& operator=(permit&& other) noexcept = default;
    permit(const permit&) = delete;
    permit& operator=(const permit&) = delete;
    ~permit() = default;

    bool allowed() const noexcept { return shared_.allowed; }
    explicit operator bool() const noexcept { return shared_.allowed; }

    /// True when this call is the HALF_OPEN trial.
    bool is_trial() const noexcept { return shared_.trial; }

    /// For a rejected permit: whole seconds (>= 1) until a call may pass; zero when allowed.
    std::chrono::seconds retry_after() const noexcept { return shared_.retry_after; }

    /// Reports that the call succeeded. Later reports on this permit are ignored.
    net::awaitable<void> record_success();

    /// Reports that the call failed; `reason` goes into the log line when this changes the
    /// state and must stay valid until the co_await completes. Later reports are ignored.
    net::awaitable<void> record_failure(std::string_view reason = "call_failed");

private:
    friend class scoped_breaker;

    static permit local(ticket t);
    static permit shared(scoped_breaker& owner, std::uint64_t generation, bool trial);
    static permit rejected(std::chrono::seconds retry_after);

    net::awaitable<void> record(bool success, std::string_view reason);

    ticket local_;  // instance scope, or cluster scope without Redis
    // What the caller sees in either scope; its owner is set in cluster scope until reported.
    call_claim<scoped_breaker> shared_;
};

class scoped_breaker {
public:
    /// Instance scope: `local` decides every call.
    explicit scoped_breaker(circuit_breaker& local);

    /// Cluster scope: `view` and `store` decide; `local` while Redis does not answer.
    scoped_breaker(circuit_breaker& local, fleet_view& view, cluster_store& store);

    scoped_breaker(const scoped_breaker&) = delete;
    scoped_breaker& operator=(const scoped_breaker&) = delete;

    config::breaker_scope scope() const noexcept;

    /// Asks to make one call: allowed (CLOSED, or the trial), or rejected with Retry-After.
    net::awaitable<permit> acquire();

    /// The state for the status endpoint; in cluster scope read from Redis first.
    net::awaitable<scoped_status> status();

    /// The state as known without I/O (for /metrics; any thread).
    scoped_status current() const;

    /// Cluster scope: refreshes the view from Redis every `interval` until stop(). Returns at
    /// once in instance scope. Spawn it on one worker per process.
    net::awaitable<void> watch(std::chrono::milliseconds interval);

    /// Ends watch() (on this worker's thread).
    void stop();

private:
    friend class permit;

    net::awaitable<void> report(std::uint64_t generation, bool trial, bool success,
                                std::string_view reason);
    // Takes the script's answer, or notes that Redis did not answer. True on an answer.
    bool take(const boost::system::result<fleet_state>& answer);

    circuit_breaker& local_;
    fleet_view* view_ = nullptr;
    cluster_store* store_ = nullptr;
    net::steady_timer* watch_timer_ = nullptr;
    bool stopped_ = false;
};

}  // namespace analytics::breaker
