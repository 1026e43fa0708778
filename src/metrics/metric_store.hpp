#pragma once
// Where metrics live in Redis, and the three operations on them: add, list, summarize.
//
// Key layout (every per-type key carries the hash tag {<type>}, so one type's keys share a
// Redis Cluster slot):
//   metrics:{<type>}:points     sorted set, every member scored 0 and ordered by its text:
//                               <18-digit µs since 0001-01-01><16-digit first arrival number
//                               of its batch><3-digit place in the batch>|<type>|<value>|
//                               <timestamp as given, in UTC>; newest last (earlier builds wrote
//                               the point's own 16-digit arrival number, no place)
//   metrics:index:points        the same members across all types (the unfiltered list)
//   metrics:index:seq           arrival counter (ties on timestamp: later arrival first)
//   metrics:{<type>}:total      string, a rollup (rollup.hpp: count, sum, min, max and the
//                               newest point's value and timestamp) over everything ever
//                               stored (trimming does not change it)
//   metrics:{<type>}:m:<minute> the same for one minute since the epoch; expires when no daily
//                               window can reach it any more (about a day later)
//   metrics:{<type>}:h:<hour>   the same for one hour
// Raw points are trimmed by METRICS_RETENTION_SECONDS and METRICS_MAX_POINTS_PER_TYPE (the
// index by the same count) in the same script that adds them.
//
// Ingest is batched: the metrics added on one worker during one turn of its event loop, or while
// its previous batch was in Redis (up to max_batch; common::coalescer), are folded in C++
// (ingest_batch.hpp) and stored by one script call, which does per distinct key what storing
// them one by one did per point, with the same result in Redis. The same call decides the
// requests' rate-limit checks first (admit_and_add), so an ingest costs one round trip.
//
// Lifetime: call stop() (it fails metrics still waiting for their batch with errc::stopped) and
// let the client's commands finish before destroying the store; a batch in flight refers to it.
//
// Thread safety: one store per worker, on that worker's thread (it uses the worker's client).

#include "common/asio.hpp"
#include "common/clock.hpp"
#include "common/coalescer.hpp"
#include "config/settings.hpp"
#include "metrics/ingest_batch.hpp"
#include "metrics/metric.hpp"
#include "metrics/summary.hpp"
#include "ratelimit/sliding_window_limiter.hpp"
#include "redis/client.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace analytics::metrics {

template <class T>
using result = boost::system::result<T>;

class metric_store {
public:
    /// Metrics stored by one script call at most. Each adds at most about 200 bytes of script
    /// arguments (types are at most 64 characters), so a batch's command stays small.
    static constexpr std::size_t max_batch = 256;

    metric_store(redis::client& redis, const config::metrics_options& options,
                 std::chrono::milliseconds timeout, const common::clock& clock);

    metric_store(const metric_store&) = delete;
    metric_store& operator=(const metric_store&) = delete;

    /// Stores one validated metric and updates every rollup, in one atomic script call with the
    /// other metrics of its batch. Success means Redis applied the batch; any error (also a
    /// deadline of `timeout` from when the batch opened) fails every metric of the batch, and
    /// none of them is acknowledged.
    net::awaitable<result<void>> add(const metric& m);

    /// Decides `check` (the request's rate-limit check) and stores `m` only if it is allowed,
    /// in one script call with the other metrics of its batch: stored, refused (nothing
    /// stored), or why storing failed. `check` is settled when this
    /// completes. When Redis fails, the check is decided without it (as limiter.check() does).
    ///
    /// A batch stores only when every check in it passed (its rollups were folded for all of
    /// its metrics); the allowed metrics of a batch with a refusal are then stored again by a
    /// batch without checks, which costs them a second round trip.
    enum class admitted { stored, refused };
    net::awaitable<result<admitted>> admit_and_add(const metric& m, ratelimit::admission& check);

    /// Fails the metrics still waiting for their batch with errc::stopped, and every later add.
    void stop();

    /// Script calls made by add() and admit_and_add() so far.
    std::uint64_t ingest_batches() const noexcept
    {
        return ingest_.batches() + checked_ingest_.batches();
    }

    /// The newest `limit` metrics (all types when `type` is empty) as a JSON array body.
    /// Cost O(log n + limit).
    net::awaitable<result<std::string>> list_json(std::string_view type, unsigned limit);

    /// Aggregates `type` over `p`'s window at the current time from the rollups: one MGET of a
    /// bounded number of keys whatever the number of stored metrics.
    net::awaitable<result<summary>> summarize(std::string_view type, period p);

    /// The sortable 18-digit key of a timestamp (µs since 0001-01-01T00:00:00Z).
    static std::string order_key(std::int64_t unix_micros);

private:
    // One metric's share of its batch's script call.
    struct batch_share {
        boost::system::error_code error;  // the call failed: nothing is known to be written
        bool wrote = false;  // else false: nothing written, as a check of the batch was refused
        std::optional<ratelimit::batch_answer> check;  // the answer to its check, if it had one
    };
    using ingest_queue = common::coalescer<queued_metric, batch_share>;

    net::awaitable<void> store_batch(std::span<const queued_metric> batch,
                                     std::span<batch_share> results,
                                     ingest_queue::clock::time_point opened);
    ingest_queue make_queue();
    std::int64_t now_ms() const;  // Unix time, ms

    redis::client& redis_;
    config::metrics_options options_;
    std::chrono::milliseconds timeout_;
    const common::clock& clock_;
    ingest_queue ingest_;                    // metrics stored unconditionally
    ingest_queue checked_ingest_;            // metrics with a rate-limit check, all in one batch
    std::vector<std::string_view> clients_;  // scratch of store_batch
};

}  // namespace analytics::metrics
