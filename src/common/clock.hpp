#pragma once
// The time seam: production code asks a `clock` for the time; tests pass a fake one.
//
// Thread safety: `system_clock()` is stateless and safe from any thread.

#include <chrono>

namespace analytics::common {

class clock {
public:
    using wall_time = std::chrono::system_clock::time_point;
    using mono_time = std::chrono::steady_clock::time_point;

    virtual ~clock() = default;

    /// Wall-clock time, for timestamps and time buckets.
    virtual wall_time now() const = 0;

    /// Monotonic time, for durations and deadlines.
    virtual mono_time steady_now() const = 0;
};

/// The real clock, shared by the whole process.
clock& system_clock();

}  // namespace analytics::common
