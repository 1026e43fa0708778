#pragma once
// The per-client rate limit of API.md § Rate limiting: a sliding window counter kept in Redis,
// so every API instance shares one count, decided and counted atomically by a Lua script
// (EVALSHA) on the Redis server's clock, so instances with skewed clocks agree.
//
// The checks a worker makes during one turn of its event loop (or while its previous call is in
// Redis) are decided by one script call (common::coalescer): the script reads each client's
// counters once, decides the batch's requests in order, exactly as one call per request would
// have, and writes each admitted client's counters once. Batches mix clients, so the script
// names several keys. The same Lua function (script_function) also runs inside the metric
// store's ingest script, which decides a batch of metrics' checks before storing them: a check
// handed over as an `admission` costs no round trip of its own.
//
// Redis layout: one hash per client, `ratelimit:{<client>}` (hash-tagged, so it can live on a
// Redis Cluster), with fields w (a window index), c (that window's count) and p (the count of
// the window before it); it expires two windows after the first admitted request of the window
// it last counted, past the end of the next window, when neither count weighs anything any more.
// One key, named in KEYS, because Redis requires a script's keys to be declared (per-window keys
// would have to be derived inside the script).
//
// Fast paths, so that neither a refused flood nor a Redis outage costs a Redis round trip or a
// wait: a client Redis refused is refused from memory until its Retry-After has passed; when
// Redis fails (not connected: at once; slow: after `redis_timeout`) the limiter decides without
// it: RATE_LIMIT_FAILURE_MODE=local asks the process's local_backstop, `open` allows everything
// (API.md: fail open). An outage is logged once per process, through outage_log.
//
// Owns the refusal memory, the batch queue and the script's constant arguments; refers to the
// worker's Redis client and the process-wide backstop and outage log, which must outlive it.
// Call stop() (checks waiting for their batch then decide without Redis) and let the client's
// commands finish before destroying it.
//
// Thread safety: one instance per worker thread, used only from the thread that runs its Redis
// client's io_context; it takes no lock of its own.

#include "common/asio.hpp"
#include "common/clock.hpp"
#include "common/coalescer.hpp"
#include "config/settings.hpp"
#include "ratelimit/decision.hpp"
#include "ratelimit/local_backstop.hpp"
#include "ratelimit/outage_log.hpp"
#include "ratelimit/refusal_memory.hpp"
#include "ratelimit/window_math.hpp"
#include "redis/arg_buffer.hpp"
#include "redis/client.hpp"
#include "redis/reply.hpp"
#include "redis/script.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace analytics::ratelimit {

/// What the script answers: whether it admitted (and counted) the request, and the counters it
/// read before doing so.
struct script_answer {
    bool admitted = false;
    window_sample sample;
};

/// One request's share of a batch: the script's answer, or why there is none (a transport
/// error, an error reply, an unexpected reply).
struct batch_answer {
    std::optional<script_answer> answer;
    std::string error;
};

class sliding_window_limiter {
public:
    /// Checks decided by one script call at most.
    static constexpr std::size_t max_batch = 256;

    /// Throws config::config_error when the options are out of the arithmetic's range
    /// (window_policy::checked).
    sliding_window_limiter(redis::client& redis, const config::ratelimit_options& options,
                           std::chrono::milliseconds redis_timeout, local_backstop& backstop,
                           outage_log& outages, const common::clock& clock);
    ~sliding_window_limiter();

    sliding_window_limiter(const sliding_window_limiter&) = delete;
    sliding_window_limiter& operator=(const sliding_window_limiter&) = delete;

    /// RATE_LIMIT_ENABLED. check() does not look at it; ratelimit::limit() does, and leaves the
    /// route unwrapped when it is false.
    bool enabled() const noexcept { return options_.enabled; }

    const window_policy& policy() const noexcept { return policy_; }

    const common::clock& clock() const noexcept { return clock_; }

    /// Decides one request of `client` (an address as text) and counts it when allowed, in one
    /// script call with the other checks of its batch. Never fails: Redis errors turn into
    /// fail_open or local_backstop decisions. The string viewed by `client` must stay alive
    /// until the co_await completes. Equals remembered(), else the batch's answer settle()d.
    net::awaitable<decision> check(std::string_view client);

    /// The refusal this worker remembers for `client` at `now`: a decision made without Redis.
    std::optional<decision> remembered(std::string_view client, common::clock::mono_time now);

    /// The decision for a check of `client` begun at `now`, from the script's answer to it (or
    /// why there is none: then without Redis). Remembers a refusal, and tracks the outage.
    decision settle(std::string_view client, common::clock::mono_time now,
                    const batch_answer& outcome);

    /// Appends the arguments of rate_limit() (script_function()) deciding `clients` in order:
    /// each distinct client's key to `keys`; the limit, the window and "" (the server's clock),
    /// then each of those clients' number of checks, to `args`; and each check's client (its
    /// key's 0-based position) to `client_of_check`, for read_answers(). The viewed strings are
    /// copied.
    void append_batch(std::span<const std::string_view> clients, redis::arg_buffer& keys,
                      redis::arg_buffer& args, std::vector<std::uint32_t>& client_of_check);

    /// Checks still waiting for their batch decide without Redis, as do later ones.
    void stop();

    /// Script calls made by check() so far.
    std::uint64_t batches() const noexcept { return batches_.batches(); }

    /// The Lua script, deciding a batch of requests in order. KEYS = the batch's distinct
    /// key_for(client) keys; ARGV = limit, window in ms, the time in ms or "" for the server's
    /// TIME (a time is the tests' way to reach window boundaries), then per key the number of
    /// the batch's requests by its client, decided in the batch's order. Replies the batch's
    /// answers (read_answers).
    static const redis::script& script();

    /// The Lua function behind script(), for scripts that decide checks before their own
    /// writes: `local answers, all_admitted = rate_limit(kfirst, afirst)` reads the layout
    /// above from KEYS[kfirst] and ARGV[afirst] to the end.
    static std::string_view script_function();

    /// `ratelimit:{<client>}`.
    static std::string key_for(std::string_view client);

    /// Reads the answers to a batch of checks from `answers`, the elements of the script's
    /// reply that hold them: the window's elapsed ms; per client, in the order of KEYS, its
    /// previous and current counts as the batch found them; then per client how many of its
    /// checks were admitted: its first ones, in the batch's order. `client_of_check[i]` is
    /// check i's client (its 0-based position in KEYS), as append_batch() reports it. Writes
    /// check i's answer {admitted, previous, current as that check found it, elapsed} to
    /// out[i]. False, `out` unspecified, for any other shape: an error, a count that is negative
    /// or not an integer, more checks admitted than a client made, a wrong length.
    static bool read_answers(std::span<const redis::reply> answers,
                             std::span<const std::uint32_t> client_of_check,
                             std::span<script_answer> out);

    /// The answer in script()'s reply to a single check; nullopt for any other shape.
    static std::optional<script_answer> read_answer(const redis::reply& r);

private:
    using batch_queue = common::coalescer<std::string_view, batch_answer>;

    net::awaitable<void> decide_batch(std::span<const std::string_view> clients,
                                      std::span<batch_answer> answers,
                                      batch_queue::clock::time_point opened);
    decision without_redis(std::string_view client, std::string_view error);

    redis::client& redis_;
    config::ratelimit_options options_;
    window_policy policy_;
    std::chrono::milliseconds redis_timeout_;
    local_backstop& backstop_;
    outage_log& outages_;
    const common::clock& clock_;
    refusal_memory refusals_;
    bool failing_ = false;             // this worker's last Redis call failed
    std::array<std::string, 2> args_;  // limit, window in ms: formatted once
    // Scratch of a batch: each client's position among its keys, and its number of checks.
    std::unordered_map<std::string_view, std::uint32_t> key_positions_;
    std::vector<std::int64_t> checks_of_client_;
    batch_queue batches_;
};

/// A check that the limit middleware leaves to a handler, so that the handler can have it decided
/// by the same Redis call as its own write (metric_store::admit_and_add): one round trip instead
/// of two.
/// It is settled at most once: by that call, or by the middleware after the handler, when the
/// handler made no such call (which must then have changed nothing).
///
/// Thread safety: lives in the middleware's coroutine frame, on the worker's thread.
class admission {
public:
    admission(sliding_window_limiter& limiter, std::string_view client,
              common::clock::mono_time started) noexcept
        : limiter_(limiter), client_(client), started_(started)
    {
    }

    sliding_window_limiter& limiter() const noexcept { return limiter_; }
    /// The client's address as text; lives as long as the admission.
    std::string_view client() const noexcept { return client_; }

    bool settled() const noexcept { return decision_.has_value(); }
    /// The decision; only once settled().
    const decision& result() const noexcept { return *decision_; }

    /// Settles the check from the script's answer to it, or why there is none.
    void settle(const batch_answer& answer);

private:
    sliding_window_limiter& limiter_;
    std::string_view client_;
    common::clock::mono_time started_;
    std::optional<decision> decision_;
};

}  // namespace analytics::ratelimit
