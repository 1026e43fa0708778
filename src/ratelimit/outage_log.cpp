#include "ratelimit/outage_log.hpp"

#include "common/logging.hpp"

namespace analytics::ratelimit {

void outage_log::worker_failing(std::string_view error, std::string_view mode)
{
    if (failing_workers_.fetch_add(1) == 0) {
        started_ = clock_.steady_now().time_since_epoch().count();
        outages_.fetch_add(1);
        // docs/contract.md, Rate limiting: Redis unreachable means fail open, with a warning.
        log::warn("ratelimit.fail_open", {{"error", error}, {"mode", mode}});
    }
}

void outage_log::count_request() noexcept
{
    outage_requests_.fetch_add(1, std::memory_order_relaxed);
    total_requests_.fetch_add(1, std::memory_order_relaxed);
}

void outage_log::worker_recovered()
{
    if (failing_workers_.fetch_sub(1) == 1) {
        const common::clock::mono_time started{common::clock::mono_time::duration{started_.load()}};
        const auto lasted =
            std::chrono::duration_cast<std::chrono::milliseconds>(clock_.steady_now() - started);
        log::info("ratelimit.fail_open_ended",
                  {{"requests_without_redis", outage_requests_.exchange(0)},
                   {"outage_ms", static_cast<long long>(lasted.count())}});
    }
}

}  // namespace analytics::ratelimit
