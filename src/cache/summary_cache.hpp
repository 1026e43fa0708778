#pragma once
// The read-through cache of summaries in Redis. docs/contract.md, Summary: key
// `summary:<type>:<period>` literally, set with SETEX and CACHE_TTL_SECONDS. Next to it a
// longer-lived copy, `stale:summary:<type>:<period>` (CACHE_STALE_TTL_SECONDS), serves
// stale-if-error when the upstream fails or the breaker is open; a summary of nothing
// (count 0) gets none, so asking for unknown types leaves one short-lived key each.
//
// Concurrent misses on one key compute once across every worker of every instance: a lease,
// `lease:{summary:<type>:<period>}` holding its owner's token, taken with SET NX PX by the
// first miss and released (compare-and-delete) by its owner only. Its hash tag is the whole
// cache key, so on a Redis Cluster the lease and the key it guards share a slot and the lookup
// script, which touches both, runs there.
//
// Thread safety: one per worker, on that worker's thread.

#include "common/asio.hpp"
#include "config/settings.hpp"
#include "redis/client.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace analytics::cache {

template <class T>
using result = boost::system::result<T>;

class summary_cache {
public:
    summary_cache(redis::client& redis, const config::cache_options& options,
                  std::chrono::milliseconds timeout);

    /// `summary:<type>:<period>`.
    static std::string fresh_key(std::string_view type, std::string_view period);
    /// `stale:summary:<type>:<period>`.
    static std::string stale_key(std::string_view type, std::string_view period);
    /// `lease:{summary:<type>:<period>}`.
    static std::string lease_key(std::string_view type, std::string_view period);

    /// The cached body, nullopt on a miss; an error when Redis could not answer.
    net::awaitable<result<std::optional<std::string>>> get(std::string_view key);

    struct lookup_result {
        enum class kind { found, leased, held };
        kind outcome = kind::held;
        std::string body;               // found: the cached summary
        std::chrono::milliseconds ttl;  // found: what is left of the key's life (0 when unknown)
    };
    /// In one atomic step: the body cached under `key` (found) or, on a miss, the lease on it
    /// for `lease_ttl` (leased: the caller computes and must fill() or release()), or neither
    /// because another caller holds the lease (held).
    net::awaitable<result<lookup_result>> lookup(std::string_view key, std::string_view lease,
                                                 std::string_view token,
                                                 std::chrono::milliseconds lease_ttl);

    /// Stores `body` under the fresh key (SETEX) and, when `keep_stale`, its stale copy; then
    /// releases the lease if `token` still holds it. One round trip.
    net::awaitable<result<void>> fill(std::string_view type, std::string_view period,
                                      std::string_view body, bool keep_stale,
                                      std::string_view token);

    /// Deletes `lease` if `token` still holds it.
    net::awaitable<result<void>> release(std::string_view lease, std::string_view token);

    const config::cache_options& options() const noexcept { return options_; }
    std::chrono::milliseconds timeout() const noexcept { return timeout_; }

private:
    redis::client& redis_;
    config::cache_options options_;
    std::chrono::milliseconds timeout_;
};

}  // namespace analytics::cache
