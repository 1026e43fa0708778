#pragma once
// The fleet's circuit breaker in Redis (CIRCUIT_BREAKER_SCOPE=cluster): one hash,
// `breaker:{fleet}`, read and changed only by one Lua script that applies circuit_breaker's
// rules atomically, with Redis's clock as the one clock of the fleet:
//
//     read     applies the changes time alone makes (OPEN -> HALF_OPEN after the reset timeout,
//              a trial whose lease ran out -> OPEN) and answers the state
//     acquire  the same, and while HALF_OPEN with no trial running hands the trial to this
//              caller: a lease of the trial's deadline, so exactly one caller of the fleet gets
//              it and a trial that never reports ends anyway
//     report   counts the outcome of a call let through in the current generation (a call of
//              an earlier one says nothing about the present and is ignored): in CLOSED a
//              failure adds to the consecutive failures and opens the breaker at the threshold,
//              a success resets them; the trial's success closes it, its failure reopens it
//
// Every operation answers the state after it (a fleet_state) in the same round trip, so the
// caller's fleet_view is refreshed by each of them. Every instance passes its own threshold and
// timeouts with each call; give every instance the same ones.
//
// Owns: copies of the script's arguments. Holds a reference to the worker's Redis client.
//
// Thread safety: one per worker, used on that worker's thread only (as its Redis client).

#include "breaker/fleet_view.hpp"
#include "common/asio.hpp"
#include "config/settings.hpp"
#include "redis/client.hpp"

#include <boost/system/result.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace analytics::breaker {

class cluster_store {
public:
    /// The key of the shared state: one key, so every operation is one slot on a Redis Cluster.
    static constexpr std::string_view key = "breaker:{fleet}";

    /// `trial_timeout` is the trial's lease; `redis_timeout` the deadline of each call.
    cluster_store(redis::client& redis, const config::breaker_options& opts,
                  std::chrono::milliseconds trial_timeout, std::chrono::milliseconds redis_timeout);

    cluster_store(const cluster_store&) = delete;
    cluster_store& operator=(const cluster_store&) = delete;

    /// The shared state now.
    net::awaitable<boost::system::result<fleet_state>> read();

    /// The shared state, with `trial_granted` set when this caller got the trial.
    net::awaitable<boost::system::result<fleet_state>> acquire();

    /// Reports the outcome of a call let through in `generation` (as the trial when `trial`).
    net::awaitable<boost::system::result<fleet_state>> report(std::uint64_t generation, bool trial,
                                                              bool success);

    /// True once the Redis client has connected at least once (before that a failed call says
    /// nothing about an outage).
    bool has_connected() const noexcept { return redis_.connects() > 0; }

    /// Reads the script's answer (exposed for tests); unexpected_reply when it is malformed.
    static boost::system::result<fleet_state> parse(const redis::reply& r);

private:
    net::awaitable<boost::system::result<fleet_state>> run(std::string_view operation,
                                                           std::string_view generation,
                                                           std::string_view trial,
                                                           std::string_view success);

    redis::client& redis_;
    std::string threshold_;
    std::string reset_ms_;
    std::string lease_ms_;
    std::chrono::milliseconds timeout_;
};

}  // namespace analytics::breaker
