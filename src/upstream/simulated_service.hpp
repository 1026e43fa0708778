#pragma once
// The built-in upstream (the seed's simulated external API): each call waits the configured
// latency on a timer of the calling coroutine's executor, then fails with the configured
// probability. Both are read from `simulation_settings` at the start of every call, so admin
// changes apply to the next call.
//
// Owns: the random source. Holds a reference to the process-wide settings.
//
// Thread safety: `call` may run concurrently on any number of threads provided the random
// source may too; the default one keeps a generator per thread.

#include "upstream/external_service.hpp"
#include "upstream/simulation_settings.hpp"

#include <functional>
#include <string_view>

namespace analytics::upstream {

/// Returns a number uniformly distributed in [0, 1). The test seam for the failure draw.
using random_source = std::function<double()>;

/// A source backed by a per-thread 64-bit Mersenne Twister seeded from std::random_device.
random_source default_random_source();

class simulated_service final : public external_service {
public:
    explicit simulated_service(const simulation_settings& settings,
                               random_source random = default_random_source());

    /// Waits `latency`, then answers ok or, with probability `failure_rate`, failed. Cancelled
    /// during the wait, it answers failed ("cancelled") at once.
    net::awaitable<call_result> call(std::string_view what) override;

private:
    const simulation_settings& settings_;
    random_source random_;
};

}  // namespace analytics::upstream
