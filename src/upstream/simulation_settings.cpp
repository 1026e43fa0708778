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

net::awaitable<boost::system::result<simulation_settings::change>> simulation_settings::write(
    std::optional<double> failure_rate, std::optional<std::chrono::milliseconds> latency)
{
    co_return update(failure_rate, latency);
}

std::optional<simulation_settings::change> simulation_settings::adopt(const values& v,
                                                                      std::uint64_t version,
                                                                      bool only_if_newer)
{
    std::lock_guard lock(write_mu_);
    // Two answers from Redis may arrive in another order than Redis gave them; an older one
    // must not undo a newer one already in force.
    if (only_if_newer && version <= version_.load(std::memory_order_relaxed)) {
        return std::nullopt;
    }
    change c;
    c.before = current();
    failure_rate_.store(clamp_rate(v.failure_rate), std::memory_order_relaxed);
    latency_ms_.store(clamp_latency(v.latency), std::memory_order_relaxed);
    version_.store(version, std::memory_order_relaxed);
    c.after = current();
    return c;
}

std::uint64_t simulation_settings::version() const noexcept
{
    return version_.load(std::memory_order_relaxed);
}

}  // namespace analytics::upstream
