#pragma once
// One kind of degraded operation (storage unreachable, serving stale summaries, upstream
// failing), logged once per outage instead of once per request: the first occurrence writes a
// warning, later ones are only counted, and the first success afterwards writes one line with
// the count and the duration.
//
// With a `settle` time, a success ends the outage only once the latest occurrence is that old:
// where some calls fail and others succeed at the same time (Redis refusing writes but serving
// reads), the outage stays one outage instead of starting and ending with every request.
//
// Thread safety: process-wide; every function may be called from any thread.

#include "common/clock.hpp"
#include "common/logging.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace analytics::common {

class degraded_mode {
public:
    /// `event` names the warning (e.g. "metrics.storage_unavailable"); the end of an outage is
    /// logged as `<event>.ended`.
    explicit degraded_mode(std::string event, std::chrono::milliseconds settle = {},
                           const clock& time = system_clock());

    degraded_mode(const degraded_mode&) = delete;
    degraded_mode& operator=(const degraded_mode&) = delete;

    /// Counts one occurrence; the first of an outage is logged as a warning with `fields`.
    void occurred(std::initializer_list<log::field> fields);

    /// The dependency works again: ends the outage, if there was one and its latest occurrence
    /// is at least `settle` old (a relaxed load when there is none).
    void recovered() noexcept;

    /// Occurrences in the current outage (0 when none).
    std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }

    /// True while an outage is under way and, with a `settle` time, its latest occurrence is
    /// younger than that.
    bool ongoing() const noexcept { return active_.load(std::memory_order_relaxed) && !settled(); }

private:
    std::int64_t now_ms() const noexcept;
    bool settled() const noexcept;

    std::string event_;
    std::string ended_event_;
    std::int64_t settle_ms_;
    const clock& clock_;
    std::atomic<bool> active_{false};
    std::atomic<std::uint64_t> count_{0};
    std::atomic<std::int64_t> since_ms_{0};
    std::atomic<std::int64_t> latest_ms_{0};
};

}  // namespace analytics::common
