#pragma once
// Where metrics live in Redis, and the three operations on them: add, list, summarize.
//
// Key layout (every per-type key carries the hash tag {<type>}, so one type's keys share a
// Redis Cluster slot):
//   metrics:{<type>}:points     sorted set, every member scored 0 and ordered by its text:
//                               <18-digit µs since 0001-01-01><16-digit arrival seq>|<type>|
//                               <value>|<timestamp as given, in UTC>; newest last
//   metrics:index:points        the same members across all types (the unfiltered list)
//   metrics:index:seq           arrival counter (ties on timestamp: later arrival first)
//   metrics:{<type>}:total      hash c,s,mn,mx,lt,lv: count, sum, min, max, newest timestamp
//                               key and its value, over everything ever stored (trimming does
//                               not change it)
//   metrics:{<type>}:m:<minute> the same hash for one minute since the epoch; expires when no
//                               daily window can reach it any more (about a day later)
//   metrics:{<type>}:h:<hour>   the same hash for one hour
// Raw points are trimmed by METRICS_RETENTION_SECONDS and METRICS_MAX_POINTS_PER_TYPE (the
// index by the same count) in the same script that adds them.
//
// Thread safety: one store per worker, on that worker's thread (it uses the worker's client).

#include "common/asio.hpp"
#include "common/clock.hpp"
#include "config/settings.hpp"
#include "metrics/metric.hpp"
#include "metrics/summary.hpp"
#include "redis/client.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace analytics::metrics {

template <class T>
using result = boost::system::result<T>;

class metric_store {
public:
    metric_store(redis::client& redis, const config::metrics_options& options,
                 std::chrono::milliseconds timeout, const common::clock& clock);

    /// Stores one validated metric and updates every rollup, atomically (one script). Success
    /// means Redis applied it; any error means nothing is acknowledged.
    net::awaitable<result<void>> add(const metric& m);

    /// The newest `limit` metrics (all types when `type` is empty) as a JSON array body.
    /// Cost O(log n + limit).
    net::awaitable<result<std::string>> list_json(std::string_view type, unsigned limit);

    /// Aggregates `type` over `p`'s window at the current time from the rollups: a bounded
    /// number of hash reads whatever the number of stored metrics.
    net::awaitable<result<summary>> summarize(std::string_view type, period p);

    /// The sortable 18-digit key of a timestamp (µs since 0001-01-01T00:00:00Z).
    static std::string order_key(std::int64_t unix_micros);

private:
    redis::client& redis_;
    config::metrics_options options_;
    std::chrono::milliseconds timeout_;
    const common::clock& clock_;
};

}  // namespace analytics::metrics
