#pragma once
// The read-through cache of summaries in Redis. API.md: key `summary:<type>:<period>`
// literally, set with SETEX and CACHE_TTL_SECONDS. Next to it a longer-lived copy,
// `stale:summary:<type>:<period>` (CACHE_STALE_TTL_SECONDS), serves stale-if-error when the
// upstream fails or the breaker is open.
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

    /// The cached body, nullopt on a miss; an error when Redis could not answer.
    net::awaitable<result<std::optional<std::string>>> get(std::string_view key);

    struct entry {
        std::string body;
        std::chrono::milliseconds ttl;  // what is left of the key's life (0 when unknown)
    };
    /// As get(), with the key's remaining TTL (GET and PTTL pipelined: one round trip).
    net::awaitable<result<std::optional<entry>>> get_with_ttl(std::string_view key);

    /// Stores `body` under both keys (SETEX, pipelined: one round trip).
    net::awaitable<result<void>> put(std::string_view type, std::string_view period,
                                     std::string_view body);

    const config::cache_options& options() const noexcept { return options_; }

private:
    redis::client& redis_;
    config::cache_options options_;
    std::chrono::milliseconds timeout_;
};

}  // namespace analytics::cache
