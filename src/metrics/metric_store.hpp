#pragma once
// Where metrics live in Redis, and the operations on them: add one, add a batch, list,
// summarize.
//
// Layout (store_call.hpp names the keys): every metric type belongs to one of 16 hash tags
// (redis/key_tags.hpp), and everything one store call writes shares that tag, so the store runs
// on a Redis Cluster with its load spread over the slots, and no key is written by every ingest.
// Points are kept as blocks (block.hpp): the points of one type that one call stores within one
// minute of their timestamps form one sorted-set member in the type's set and one in its tag's
// index, so Redis does per block, not per point, the work of keeping them. Rollups (rollup.hpp)
// of each type's all-time total and minute and hour buckets live in one hash per type, merged
// by the store script, so a summary reads a bounded number of fields whatever the volume.
//
// What is acknowledged is visible: a stored point is listed until its type's newest
// METRICS_MAX_POINTS_PER_TYPE points (by timestamp) push it out, or until
// METRICS_RETENTION_SECONDS after it arrived; it counts in the all-time summary until its type
// is forgotten, METRICS_TYPE_IDLE_SECONDS after the type's last point. At most
// METRICS_MAX_TYPES types are stored (type_registry.hpp). Lists are newest timestamp first; of
// equal timestamps the later arrival first (arrival: the service's clock when the store call was
// made, then the point's place in its request or batch of requests).
//
// Ingest is batched: the single metrics one worker adds during one turn of its event loop, or
// while its previous batch is in Redis (common::coalescer), are stored by one script call per
// tag. A batch request (add_batch) is stored by its own calls, all with one arrival time, so its
// points order among themselves by their place in the request.
//
// Idempotency-Key: a request that carries one leaves its answer in Redis, in the same script call
// that stores it (so both or neither are written) and in the tag of its points; a repeat within
// 24 hours stores nothing and gets that answer back.
//
// Lifetime: call stop() (it fails metrics still waiting for their batch) and let the client's
// commands finish before destroying the store; a batch in flight refers to it.
//
// Thread safety: one store per worker, on that worker's thread (it uses the worker's client).

#include "common/asio.hpp"
#include "common/clock.hpp"
#include "common/coalescer.hpp"
#include "config/settings.hpp"
#include "metrics/ingest_batch.hpp"
#include "metrics/metric.hpp"
#include "metrics/store_call.hpp"
#include "metrics/summary.hpp"
#include "metrics/type_registry.hpp"
#include "redis/client.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace analytics::metrics {

template <class T>
using result = boost::system::result<T>;

class metric_store {
public:
    /// Single metrics stored by one coalesced batch at most.
    static constexpr std::size_t max_batch = 256;

    /// Each Redis call may take `timeout`. With `wait_replicas` > 0 an ingest succeeds only
    /// once that many replicas acknowledged its writes (WAIT, on the client's write channel),
    /// so a failover right after a 201 loses nothing; fewer acknowledgements within the
    /// deadline fail it with redis::errc::too_few_replicas (the metrics are stored on the
    /// master all the same: a retry with the same Idempotency-Key is safe).
    metric_store(redis::client& redis, const config::metrics_options& options,
                 std::chrono::milliseconds timeout, const common::clock& clock,
                 unsigned wait_replicas = 0);

    metric_store(const metric_store&) = delete;
    metric_store& operator=(const metric_store&) = delete;

    /// What became of a request.
    struct outcome {
        enum class kind {
            stored,      // stored now
            repeated,    // its Idempotency-Key was seen before: nothing stored, `answer` is the
                         // answer recorded then
            type_limit,  // a new type past METRICS_MAX_TYPES: nothing stored
        };
        kind result = kind::stored;
        std::string answer;
    };

    /// Stores one validated metric. `idempotency_key` (may be empty) and `answer`, the body
    /// of the 201 the request gets, are recorded with it. An error (Redis unreachable, its
    /// deadline passed, an error reply) means nothing is acknowledged; the metric may still
    /// have been stored, which a retry with the same key makes harmless.
    net::awaitable<result<outcome>> add(const metric& m, std::string_view idempotency_key,
                                        std::string_view answer);

    /// Stores a validated batch (1..1000 metrics): all of it, or on a single Redis node nothing
    /// when a call fails (one MULTI/EXEC); on a cluster a failing shard leaves the other shards'
    /// parts stored, and a retry with the same `idempotency_key` stores only the rest.
    net::awaitable<result<outcome>> add_batch(std::span<const metric> batch,
                                              std::string_view idempotency_key,
                                              std::string_view answer);

    /// Fails the metrics still waiting for their batch with errc::stopped, and every later add.
    void stop();

    /// Coalesced batches stored so far.
    std::uint64_t ingest_batches() const noexcept { return ingest_.batches(); }

    /// The newest `limit` metrics (all types when `type` is empty) as a JSON array body.
    net::awaitable<result<std::string>> list_json(std::string_view type, unsigned limit);

    /// Aggregates `type` over `p`'s window at the current time from its rollups: one HMGET of a
    /// bounded number of fields whatever the number of stored metrics.
    net::awaitable<result<summary>> summarize(std::string_view type, period p);

    const store_settings& settings() const noexcept { return settings_; }

private:
    struct queued {
        metric m;
        std::string idempotency_key;
        std::string answer;
        std::int64_t added_ms = 0;
    };
    using ingest_queue = common::coalescer<queued, result<outcome>>;

    net::awaitable<void> store_queued(std::span<const queued> batch,
                                      std::span<result<outcome>> results,
                                      ingest_queue::clock::time_point opened);
    // Runs the calls of one ingest and gives each one's outcome. On one Redis node they go out
    // in one pipeline, inside MULTI/EXEC when `atomic` (a batch request is stored whole or not
    // at all); on a cluster each goes to the master of its tag, all at once. With
    // wait_replicas, each pipeline ends with a WAIT, and too few acknowledgements fail every
    // call of it.
    net::awaitable<std::vector<result<store_call::outcome>>> run_calls(
        std::span<store_call> calls, std::chrono::milliseconds timeout, bool atomic);
    net::awaitable<std::vector<result<store_call::outcome>>> run_pipelined(
        std::span<store_call> calls, std::chrono::milliseconds timeout, bool atomic);
    // One call (with its WAIT when replicas are required).
    net::awaitable<result<store_call::outcome>> run_call(store_call& call,
                                                         std::chrono::milliseconds timeout);
    static result<store_call::outcome> read_outcome(result<redis::reply> r);
    // Runs one round of a list's reads (ZREVRANGE of different sets): one read alone; on a
    // single Redis node all of them in one pipeline; on a cluster all at once, each on the
    // master of its set. A reply per command, in order.
    net::awaitable<std::vector<result<redis::reply>>> read_blocks(
        std::span<const std::array<std::string_view, 4>> commands);
    void renew(const std::vector<std::string_view>& types_of_call,
               const store_call::stored& stored);
    std::int64_t now_ms() const;
    // The clock's time in µs, but always later than the last arrival this store gave out, so
    // that the calls of one worker order as they were made even within one tick of the clock.
    std::int64_t next_arrival();

    redis::client& redis_;
    config::metrics_options options_;
    store_settings settings_;
    std::chrono::milliseconds timeout_;
    unsigned wait_replicas_;
    const common::clock& clock_;
    type_registry registry_;
    std::int64_t last_arrival_ = 0;
    std::mt19937_64 nonces_;  // makes each call's blocks unique, whoever else stores at once
    // The blocks that the last list reading a set (by its key: a type's, or a tag's index)
    // needed from it, and the points it showed.
    std::unordered_map<std::string, std::pair<std::size_t, std::size_t>> blocks_needed_;
    ingest_queue ingest_;
};

}  // namespace analytics::metrics
