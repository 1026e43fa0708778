#include "upstream/simulation_settings.hpp"

#include <algorithm>
#include <cmath>

namespace analytics::upstream {

namespace {

double clamp_rate(double r) noexcept
{
    if (std::isnan(r)) {
        return 0.0;
    }
    return std::clamp(r, 0.0, 1.0);
}

std::int64_t clamp_latency(std::chrono::milliseconds d) noexcept
{
    return std::clamp<std::int64_t>(d.count(), 0, simulation_settings::max_latency.count());
}

}  // namespace

simulation_settings::simulation_settings(const config::upstream_options& opts)
    : failure_rate_(clamp_rate(opts.failure_rate)), latency_ms_(clamp_latency(opts.latency))
{
}

double simulation_settings::failure_rate() const noexcept
{
    return failure_rate_.load(std::memory_order_relaxed);
}

std::chrono::milliseconds simulation_settings::latency() const noexcept
{
    return std::chrono::milliseconds(latency_ms_.load(std::memory_order_relaxed));
}

simulation_settings::values simulation_settings::current() const noexcept
{
    return {failure_rate(), latency()};
}

simulation_settings::change simulation_settings::update(
    std::optional<double> failure_rate, std::optional<std::chrono::milliseconds> latency)
{
    // Readers never lock; the mutex only keeps two writers from interleaving, so each sees a
    // "before" and "after" that really followed one another.
    std::lock_guard lock(write_mu_);
    change c;
    c.before = current();
    if (failure_rate) {
        failure_rate_.store(clamp_rate(*failure_rate), std::memory_order_relaxed);
    }
    if (latency) {
        latency_ms_.store(clamp_latency(*latency), std::memory_order_relaxed);
    }
    c.after = current();
    return c;
}

}  // namespace analytics::upstream
