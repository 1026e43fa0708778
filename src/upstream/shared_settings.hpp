#pragma once
// The simulated upstream's settings as the fleet shares them (docs/contract.md, Admin): stored
// in Redis, in one hash `settings:{fleet}:external_service` with a version that every change
// increments, and put in force in this process's simulation_settings.
//
//     write    (PUT /api/admin/external-service) one script merges the given values into the
//              stored ones (a field never stored takes this instance's configured value), bumps
//              the version and answers the result, which is then put in force here at once.
//              Redis unreachable: an error, and nothing changes anywhere.
//     refresh  reads the hash (one HMGET) and puts a newer version in force. A version older
//              than the one in force is believed only when the next read says the same (the
//              data was flushed, or Redis restarted without it): once, it may just be an answer
//              that crossed a newer write. No hash at all means the configured values.
//     watch    refreshes every interval until stop(): one HMGET per interval per process.
//
// So every instance applies a change within one interval of its write, an instance that starts
// or reconnects takes the stored settings with its first refresh, and they outlive a restart of
// any instance (and of Redis, with its AOF). Stored settings win over EXTERNAL_SERVICE_* until the
// hash is deleted.
//
// Owns: the configured values, the last older version seen, an outage log. Holds references to
// the worker's Redis client and the process-wide simulation_settings.
//
// Thread safety: one per worker, used on that worker's thread (as its Redis client).

#include "common/asio.hpp"
#include "common/degraded_mode.hpp"
#include "config/settings.hpp"
#include "redis/client.hpp"
#include "upstream/settings_writer.hpp"
#include "upstream/simulation_settings.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace analytics::upstream {

class shared_settings final : public settings_writer {
public:
    /// The hash holding `version`, `failure_rate` and `latency_ms`.
    static constexpr std::string_view key = "settings:{fleet}:external_service";

    /// `configured` holds EXTERNAL_SERVICE_FAILURE_RATE and _LATENCY_MS; `timeout` is the
    /// deadline of each Redis call.
    shared_settings(redis::client& redis, simulation_settings& settings,
                    const config::upstream_options& configured, std::chrono::milliseconds timeout);

    shared_settings(const shared_settings&) = delete;
    shared_settings& operator=(const shared_settings&) = delete;

    /// Stores the given values for the fleet and puts them in force here.
    net::awaitable<boost::system::result<simulation_change>> write(
        std::optional<double> failure_rate,
        std::optional<std::chrono::milliseconds> latency) override;

    /// Reads the stored settings once and puts them in force when they are newer (see above).
    net::awaitable<boost::system::result<void>> refresh();

    /// Refreshes every `interval` until stop(). Spawn it on one worker per process.
    net::awaitable<void> watch(std::chrono::milliseconds interval);

    /// Ends watch() (on this worker's thread).
    void stop();

private:
    redis::client& redis_;
    simulation_settings& settings_;
    simulation_values configured_;
    std::chrono::milliseconds timeout_;
    std::optional<std::uint64_t> older_seen_;
    common::degraded_mode unreadable_{"upstream.settings_unavailable"};
    net::steady_timer* watch_timer_ = nullptr;
    bool stopped_ = false;
};

}  // namespace analytics::upstream
