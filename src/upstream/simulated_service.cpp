#include "upstream/simulated_service.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <cstdint>
#include <random>

namespace analytics::upstream {

random_source default_random_source()
{
    return [] {
        thread_local std::mt19937_64 engine{std::random_device{}()};
        // The top 53 bits scaled by 2^-53: exactly uniform over [0, 1) and never 1.0, which
        // std::generate_canonical does not promise.
        return static_cast<double>(engine() >> 11) * 0x1.0p-53;
    };
}

simulated_service::simulated_service(const simulation_settings& settings, random_source random)
    : settings_(settings), random_(std::move(random))
{
}

net::awaitable<call_result> simulated_service::call(std::string_view /*what*/)
{
    // Both knobs are read once, so a call behaves as configured when it started even if an
    // admin changes them while it waits.
    const auto latency = settings_.latency();
    const double rate = settings_.failure_rate();
    // The ends are exact: 0 never fails and 1 always fails, whatever the random source says.
    const bool fail = rate >= 1.0 || (rate > 0.0 && random_() < rate);

    if (latency.count() > 0) {
        net::steady_timer timer(co_await net::this_coro::executor);
        timer.expires_after(latency);
        auto [ec] = co_await timer.async_wait(common::use_nothrow);
        if (ec) {
            // Cancelled (with_timeout's deadline won, or shutdown): nothing else to release.
            co_return call_result::failure("cancelled");
        }
    }
    if (fail) {
        co_return call_result::failure("simulated failure");
    }
    co_return call_result::success();
}

}  // namespace analytics::upstream
