#pragma once
// Redis refusing writes while it still answers reads: `OOM` (maxmemory reached under the
// noeviction policy), `READONLY` (the node is a replica, e.g. after a failover), `MISCONF`
// (snapshots fail and stop-writes-on-bgsave-error is on). Every write then fails with an error
// reply; logging each one flooded the log (13,042 lines in 6 s), and /health said healthy.
//
// One incident is logged twice, as common::degraded_mode logs an outage: `redis.writes_refused`
// with the first refusal when it starts, `redis.writes_refused.ended` with the count and the
// duration when it ends. Reads keep succeeding throughout, so a success alone ends nothing: the
// incident ends at the first successful command after `quiet` without a refusal. Until then
// refusing() names the kind of refusal, for /health; total() counts every refusal since start,
// for the Prometheus counter.
//
// Fed with the outcome of every command a caller sends, by each worker's redis::client
// (client_options::refusals); code that logs failed commands itself skips refusals
// (is_refusal()), which are logged here.
//
// Thread safety: process-wide; every function may be called from any thread. Observing a
// success outside an incident is one relaxed atomic load.

#include "common/clock.hpp"
#include "common/degraded_mode.hpp"
#include "redis/reply.hpp"

#include <boost/system/result.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace analytics::redis {

class write_refusals {
public:
    /// The kinds of refusal, in the order of kinds().
    enum class kind : unsigned { oom, readonly, misconf };
    static constexpr std::size_t kind_count = 3;

    explicit write_refusals(const common::clock& clock,
                            std::chrono::milliseconds quiet = std::chrono::seconds(2));

    write_refusals(const write_refusals&) = delete;
    write_refusals& operator=(const write_refusals&) = delete;

    /// True when `error` (an error reply's text) is Redis refusing a write.
    static bool is_refusal(std::string_view error) noexcept;

    /// "oom", "readonly", "misconf": label values and the words /health uses.
    static std::string_view name(kind k) noexcept;

    /// Feeds one command's outcome: a reply (error or not) or a transport error. Transport
    /// errors are neither refusals nor successes (Redis unreachable is another incident).
    void observe(const boost::system::result<reply>& outcome);

    /// Feeds the replies of one call (a pipeline, or a MULTI/EXEC whose commands' replies are
    /// the elements of EXEC's): a refusal when any reply is one (counted once per call), a
    /// success when no reply is an error, nothing otherwise.
    void observe(std::span<const reply> replies);

    /// The kind of the latest refusal while an incident is under way and the latest refusal is
    /// less than `quiet` old; nothing otherwise.
    std::optional<kind> refusing() const noexcept
    {
        if (!incident_.ongoing()) {
            return std::nullopt;
        }
        return static_cast<kind>(last_kind_.load(std::memory_order_relaxed));
    }

    /// Refusals of kind `k` since start.
    std::uint64_t total(kind k) const noexcept
    {
        return totals_[static_cast<std::size_t>(k)].load(std::memory_order_relaxed);
    }

private:
    common::degraded_mode incident_;
    std::atomic<unsigned> last_kind_{0};
    std::array<std::atomic<std::uint64_t>, kind_count> totals_{};
};

}  // namespace analytics::redis
