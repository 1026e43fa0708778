#pragma once
// The arithmetic of the sliding window counter, as pure functions over integers: whether a
// request is admitted, how many remain, and how long until the count drops. The Lua script in
// sliding_window_limiter.cpp mirrors `admits` line for line; the local backstop calls these
// functions directly, so both paths answer alike.
//
// docs/contract.md, Rate limiting: the weighted count is previous * (1 - elapsed/window) + current.
// Every comparison is made on that count multiplied by the window (in milliseconds), so it stays an
// exact integer: scaled = previous * (window - elapsed) + current * window. Exact integers matter
// twice: Lua numbers are doubles (exact below 2^53, which max_scaled_count guards), and Retry-After
// must be exact to the second, which a floating-point ceiling could miss by one.
//
// Thread safety: pure functions over values.

#include "config/settings.hpp"
#include "ratelimit/decision.hpp"

#include <chrono>
#include <cstdint>

namespace analytics::ratelimit {

/// The limit as the arithmetic sees it: `limit` requests per `window_ms` milliseconds.
struct window_policy {
    std::int64_t limit = 10;
    std::int64_t window_ms = 60'000;

    /// True when limit >= 1, window >= 1 s and limit * window (in ms) stays within 2^53, the
    /// largest integer a Lua number (a double) holds exactly. Configuration refuses the rest.
    static constexpr bool fits(std::int64_t limit, std::chrono::seconds window) noexcept
    {
        return config::ratelimit_options::fits(limit, window);
    }

    /// The policy for settings that `fits` (asserted).
    static window_policy of(std::uint32_t limit, std::chrono::seconds window) noexcept;

    std::chrono::seconds window() const
    {
        return std::chrono::duration_cast<std::chrono::seconds>(
            std::chrono::milliseconds(window_ms));
    }
};

/// Largest value of limit * window_ms that the arithmetic accepts (2^53).
inline constexpr std::int64_t max_scaled_count = config::ratelimit_options::max_scaled_count;

/// One client's counters as read before the current request; counts are never negative.
struct window_sample {
    std::int64_t previous = 0;    // requests counted in the previous window
    std::int64_t current = 0;     // requests counted so far in the current window
    std::int64_t elapsed_ms = 0;  // time since the current window began, in [0, window_ms)
};

/// The weighted count multiplied by the window: previous * (window - elapsed) + current * window.
std::int64_t scaled_count(const window_sample& sample, const window_policy& policy) noexcept;

/// True when the request fits: weighted count + 1 <= limit.
bool admits(const window_sample& sample, const window_policy& policy) noexcept;

/// Milliseconds from the sample's moment until its scaled count (with no further admissions)
/// is at most `target`, which must be >= 0. Zero when it already is. Looks into the next window
/// too, where `current` becomes the previous count and decays.
std::int64_t ms_until_scaled_count_at_most(const window_sample& sample, const window_policy& policy,
                                           std::int64_t target) noexcept;

/// The whole decision for a request that saw `sample` and was `admitted` (or not): remaining,
/// reset and retry-after follow from the window arithmetic. `admitted` is passed in rather than
/// recomputed because the Redis script decided it, atomically with counting.
decision decide(const window_sample& sample, bool admitted, const window_policy& policy,
                decision_source source) noexcept;

}  // namespace analytics::ratelimit
