#pragma once
// The limiter's answer for one request, as a value: whether it may pass, and the quota figures
// the X-RateLimit-* and RateLimit fields report. Times are kept in milliseconds, exact; the
// HTTP edge rounds them up to whole seconds.
//
// Thread safety: a value type.

#include <chrono>
#include <cstdint>
#include <string_view>

namespace analytics::ratelimit {

/// Who decided.
enum class decision_source {
    redis,               // the shared count in Redis (the normal case)
    remembered_refusal,  // this worker refused the client recently; no Redis call was made
    fail_open,           // Redis failed and RATE_LIMIT_FAILURE_MODE=open: allowed, not counted
    local_backstop,      // Redis failed: this process's own sliding window decided
};

std::string_view to_string(decision_source s) noexcept;

struct decision {
    bool allowed = true;
    std::uint32_t limit = 0;                   // requests per window
    std::uint32_t remaining = 0;               // requests that would pass right now
    std::chrono::milliseconds reset{0};        // until `remaining` next grows
    std::chrono::milliseconds retry_after{0};  // refused: until the same request would pass
    std::chrono::seconds window{0};
    decision_source source = decision_source::redis;

    /// Allowed without counting (Redis failed, RATE_LIMIT_FAILURE_MODE=open).
    static decision fail_open(std::uint32_t limit, std::chrono::seconds window) noexcept;

    /// Whether limit/remaining/reset mean anything: false when nothing was counted (fail_open),
    /// so no quota figures are reported rather than invented ones.
    bool has_quota() const noexcept { return source != decision_source::fail_open; }

    /// X-RateLimit-Reset: whole seconds until the count next drops, rounded up.
    std::int64_t reset_seconds() const noexcept;

    /// Retry-After: whole seconds after which the same request would pass, rounded up so that a
    /// request sent then does pass; at least 1 (docs/contract.md, Rate limiting).
    std::int64_t retry_after_seconds() const noexcept;
};

}  // namespace analytics::ratelimit
