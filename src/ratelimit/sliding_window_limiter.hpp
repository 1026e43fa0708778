#pragma once
// The per-client rate limit (docs/contract.md, Rate limiting): a sliding window counter kept in
// Redis, so every API instance shares one count, decided and counted atomically by a Lua script
// (scripts/rate_limit.lua) on the Redis server's clock, so instances with skewed clocks agree.
//
// The checks a worker makes during one turn of its event loop (or while its previous call is in
// Redis) are decided together (common::coalescer): one script call per hash tag among the
// batch's clients (keys of one call share a tag, so the limiter runs on a Redis Cluster), all
// issued at once. The script reads each client's counters once, decides the batch's requests
// in order, exactly as one call per request would have, and writes each admitted client's
// counters once.
//
// Redis layout: one hash per client, `ratelimit:{<tag>}:<client>` (redis/key_tags.hpp: the
// clients spread over 16 tags), with fields w (a window index), c (that window's count) and p
// (the count of the window before it); it expires two windows after the first admitted request
// of the window it last counted, past the end of the next window, when neither count weighs
// anything any more.
//
// Fast paths, so that neither a refused flood nor a Redis outage costs a Redis round trip or a
// wait: a client Redis refused is refused from memory until its Retry-After has passed; when
// Redis fails (not connected: at once; slow: after `redis_timeout`) the limiter decides without
// it: RATE_LIMIT_FAILURE_MODE=local asks the process's local_backstop, `open` allows everything
// (fail open). An outage is logged once per process, through outage_log.
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

    /// `options` are within the arithmetic's range (window_policy::fits; from_env checks it).
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

    /// Checks still waiting for their batch decide without Redis, as do later ones.
    void stop();

    /// Script calls made by check() so far.
    std::uint64_t batches() const noexcept { return batches_.batches(); }

    /// The Lua script, deciding a batch of requests in order (scripts/rate_limit.lua).
    static const redis::script& script();

    /// `ratelimit:{<tag>}:<client>`.
    static std::string key_for(std::string_view client);

    /// Reads the answers to a batch of checks from `answers`, the elements of the script's
    /// reply: the window's elapsed ms; per client, in the order of KEYS, its
    /// previous and current counts as the batch found them; then per client how many of its
    /// checks were admitted: its first ones, in the batch's order. `client_of_check[i]` is
    /// check i's client (its 0-based position in KEYS). Writes check i's answer {admitted,
    /// previous, current as that check found it, elapsed} to out[i]. False, `out` unspecified,
    /// for any other shape: an error, a count that is negative or not an integer, more checks
    /// admitted than a client made, a wrong length.
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
    // One call of the script for the checks `checks` (positions in `clients`), all of one tag.
    net::awaitable<void> decide_tag(std::span<const std::string_view> clients,
                                    std::span<const std::size_t> checks,
                                    std::span<batch_answer> answers,
                                    std::chrono::milliseconds timeout);

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
    batch_queue batches_;
};

}  // namespace analytics::ratelimit
