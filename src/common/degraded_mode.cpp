#include "common/degraded_mode.hpp"

namespace analytics::common {

degraded_mode::degraded_mode(std::string event, std::chrono::milliseconds settle, const clock& time)
    : event_(std::move(event)),
      ended_event_(event_ + ".ended"),
      settle_ms_(settle.count()),
      clock_(time)
{
}

std::int64_t degraded_mode::now_ms() const noexcept
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               clock_.steady_now().time_since_epoch())
        .count();
}

void degraded_mode::occurred(std::initializer_list<log::field> fields)
{
    count_.fetch_add(1, std::memory_order_relaxed);
    if (settle_ms_ > 0) {
        latest_ms_.store(now_ms(), std::memory_order_relaxed);
    }
    if (!active_.exchange(true, std::memory_order_acq_rel)) {
        since_ms_.store(now_ms(), std::memory_order_relaxed);
        log::warn(event_, fields);
    }
}

void degraded_mode::recovered() noexcept
{
    if (!active_.load(std::memory_order_relaxed)) {
        return;
    }
    if (settle_ms_ > 0 && !settled()) {
        return;
    }
    if (!active_.exchange(false, std::memory_order_acq_rel)) {
        return;
    }
    const auto occurrences = count_.exchange(0, std::memory_order_relaxed);
    const auto lasted = now_ms() - since_ms_.load(std::memory_order_relaxed);
    try {
        log::info(ended_event_, {{"occurrences", occurrences}, {"duration_ms", lasted}});
    } catch (...) {
        // Logging must not turn a recovery into a failure.
    }
}

bool degraded_mode::settled() const noexcept
{
    return settle_ms_ > 0 && now_ms() - latest_ms_.load(std::memory_order_relaxed) >= settle_ms_;
}

}  // namespace analytics::common
