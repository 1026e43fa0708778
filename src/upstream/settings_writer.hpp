#pragma once
// Where a change of the simulated upstream's settings (PUT /api/admin/external-service) is
// written: simulation_settings applies it to this process alone, shared_settings stores it in
// Redis so that every instance sharing the Redis applies it (docs/contract.md, Admin). The
// admin handler sees only this interface.
//
// Thread safety: as the implementation says.

#include "common/asio.hpp"

#include <boost/system/result.hpp>

#include <chrono>
#include <optional>

namespace analytics::upstream {

/// The two knobs of the simulated upstream.
struct simulation_values {
    double failure_rate = 0.0;
    std::chrono::milliseconds latency{0};

    bool operator==(const simulation_values&) const = default;
};

/// The values before and after one change.
struct simulation_change {
    simulation_values before;
    simulation_values after;
};

class settings_writer {
public:
    virtual ~settings_writer() = default;

    /// Sets whichever values are given (validated by the caller) and answers the values before
    /// and now in force; an error when nothing was applied.
    virtual net::awaitable<boost::system::result<simulation_change>> write(
        std::optional<double> failure_rate, std::optional<std::chrono::milliseconds> latency) = 0;
};

}  // namespace analytics::upstream
