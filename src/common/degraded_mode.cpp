#include "common/degraded_mode.hpp"

namespace analytics::common {

namespace {

std::int64_t now_ms() noexcept
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace

degraded_mode::degraded_mode(std::string event)
    : event_(std::move(event)), ended_event_(event_ + ".ended")
{
}

void degraded_mode::occurred(std::initializer_list<log::field> fields)
{
    count_.fetch_add(1, std::memory_order_relaxed);
    if (!active_.exchange(true, std::memory_order_acq_rel)) {
        since_ms_.store(now_ms(), std::memory_order_relaxed);
        log::warn(event_, fields);
    }
}

void degraded_mode::recovered() noexcept
{
    if (!active_.load(std::memory_order_relaxed) ||
        !active_.exchange(false, std::memory_order_acq_rel)) {
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

}  // namespace analytics::common
