#include "ratelimit/window_math.hpp"

#include <algorithm>
#include <cassert>

namespace analytics::ratelimit {

window_policy window_policy::of(std::uint32_t limit, std::chrono::seconds window) noexcept
{
    // The script compares products of counts and milliseconds in Lua doubles; past 2^53 they
    // would round and the limiter would admit or refuse by accident. config::from_env refuses
    // such settings, so reaching here with them is a bug.
    assert(fits(limit, window));
    return {limit, window.count() * 1000};
}

std::int64_t scaled_count(const window_sample& s, const window_policy& p) noexcept
{
    return s.previous * (p.window_ms - s.elapsed_ms) + s.current * p.window_ms;
}

bool admits(const window_sample& s, const window_policy& p) noexcept
{
    // previous * (window - elapsed) / window + current + 1 <= limit, multiplied by window.
    return s.previous * (p.window_ms - s.elapsed_ms) <= (p.limit - s.current - 1) * p.window_ms;
}

std::int64_t ms_until_scaled_count_at_most(const window_sample& s, const window_policy& p,
                                           std::int64_t target) noexcept
{
    assert(target >= 0 && s.previous >= 0 && s.current >= 0);
    const std::int64_t w = p.window_ms;
    const std::int64_t room = target - s.current * w;
    if (room >= 0) {
        // The current count fits on its own, so the target is reached within this window (or
        // exactly at its end) once previous * (window - elapsed - d) <= room.
        if (s.previous == 0) {
            return 0;
        }
        return std::max<std::int64_t>(0, w - s.elapsed_ms - room / s.previous);
    }
    // The current count alone exceeds the target until this window ends; in the next one it is
    // the previous count, weighted by (window - e'), so wait for current * (window - e') <=
    // target. room < 0 and target >= 0 imply current > 0.
    const std::int64_t into_next = std::max<std::int64_t>(0, w - target / s.current);
    return (w - s.elapsed_ms) + into_next;
}

decision decide(const window_sample& s, bool admitted, const window_policy& p,
                decision_source source) noexcept
{
    decision d;
    d.allowed = admitted;
    d.limit = static_cast<std::uint32_t>(p.limit);
    d.window = p.window();
    d.source = source;
    if (!admitted) {
        // docs/contract.md, Rate limiting: Retry-After is when the same request would pass, i.e.
        // when the scaled count drops to (limit - 1) * window. Until then nothing remains, so reset
        // is the same moment.
        const std::int64_t wait = ms_until_scaled_count_at_most(s, p, (p.limit - 1) * p.window_ms);
        d.remaining = 0;
        d.retry_after = std::chrono::milliseconds(std::max<std::int64_t>(wait, 1));
        d.reset = d.retry_after;
        return d;
    }
    window_sample after = s;
    after.current += 1;
    const std::int64_t free = p.limit * p.window_ms - scaled_count(after, p);
    const std::int64_t remaining = std::max<std::int64_t>(0, free / p.window_ms);
    d.remaining = static_cast<std::uint32_t>(remaining);
    // Reset: until `remaining` grows by one, i.e. the scaled count drops by the rest of a unit.
    d.reset = std::chrono::milliseconds(
        ms_until_scaled_count_at_most(after, p, (p.limit - remaining - 1) * p.window_ms));
    return d;
}

}  // namespace analytics::ratelimit
