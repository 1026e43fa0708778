#include "cache/summary_cache.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

namespace analytics::cache {

namespace {

result<void> as_status(const result<redis::reply>& r)
{
    if (!r) {
        return r.error();
    }
    if (r->is_error()) {
        return redis::make_error_code(redis::errc::server_error);
    }
    return {};
}

}  // namespace

summary_cache::summary_cache(redis::client& redis, const config::cache_options& options,
                             std::chrono::milliseconds timeout)
    : redis_(redis), options_(options), timeout_(timeout)
{
}

std::string summary_cache::fresh_key(std::string_view type, std::string_view period)
{
    std::string key;
    key.reserve(10 + type.size() + period.size());
    key.append("summary:").append(type).push_back(':');
    key.append(period);
    return key;
}

std::string summary_cache::stale_key(std::string_view type, std::string_view period)
{
    return "stale:" + fresh_key(type, period);
}

net::awaitable<result<std::optional<std::string>>> summary_cache::get(std::string_view key)
{
    auto r = co_await redis_.exec(redis::command("GET", key), timeout_);
    if (auto status = as_status(r); !status) {
        co_return status.error();
    }
    if (r->is_nil()) {
        co_return std::optional<std::string>{};
    }
    if (r->type != redis::reply::kind::string) {
        co_return redis::make_error_code(redis::errc::unexpected_reply);
    }
    co_return std::optional<std::string>(std::move(r->str));
}

net::awaitable<result<std::optional<summary_cache::entry>>> summary_cache::get_with_ttl(
    std::string_view key)
{
    using namespace boost::asio::experimental::awaitable_operators;
    auto [body, ttl] = co_await (redis_.exec(redis::command("GET", key), timeout_) &&
                                 redis_.exec(redis::command("PTTL", key), timeout_));
    if (auto status = as_status(body); !status) {
        co_return status.error();
    }
    if (body->is_nil()) {
        co_return std::optional<entry>{};
    }
    if (body->type != redis::reply::kind::string) {
        co_return redis::make_error_code(redis::errc::unexpected_reply);
    }
    // PTTL: milliseconds left, -1 without expiry, -2 when the key went in between.
    std::chrono::milliseconds left{0};
    if (ttl && ttl->type == redis::reply::kind::integer && ttl->integer > 0) {
        left = std::chrono::milliseconds(ttl->integer);
    }
    co_return std::optional<entry>(entry{std::move(body->str), left});
}

net::awaitable<result<void>> summary_cache::put(std::string_view type, std::string_view period,
                                                std::string_view body)
{
    using namespace boost::asio::experimental::awaitable_operators;
    const std::string fresh = fresh_key(type, period);
    const std::string stale = stale_key(type, period);
    const std::string ttl = std::to_string(options_.ttl.count());
    const std::string stale_ttl = std::to_string(options_.stale_ttl.count());
    // Both commands are issued in the same loop turn, so the client sends them in one write.
    auto [a, b] = co_await (redis_.exec(redis::command("SETEX", fresh, ttl, body), timeout_) &&
                            redis_.exec(redis::command("SETEX", stale, stale_ttl, body), timeout_));
    if (auto status = as_status(a); !status) {
        co_return status;
    }
    co_return as_status(b);
}

}  // namespace analytics::cache
