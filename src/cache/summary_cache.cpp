#include "cache/summary_cache.hpp"

#include "redis/script.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include <array>

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

// KEYS: the cache key, its lease. ARGV: token, lease milliseconds.
// Answers {body, pttl} on a hit, 1 when the caller now holds the lease, 0 when another does.
const redis::script& lookup_script()
{
    static const redis::script s(R"lua(
local body = redis.call('GET', KEYS[1])
if body then
  return {body, redis.call('PTTL', KEYS[1])}
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
return 0
)lua");
    return s;
}

// KEYS: a lease. ARGV: token.
const redis::script& release_script()
{
    static const redis::script s(R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
)lua");
    return s;
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

std::string summary_cache::lease_key(std::string_view type, std::string_view period)
{
    return "lease:{" + fresh_key(type, period) + "}";
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
    co_return std::optional<std::string>(r->str);
}

net::awaitable<result<summary_cache::lookup_result>> summary_cache::lookup(
    std::string_view key, std::string_view lease, std::string_view token,
    std::chrono::milliseconds lease_ttl)
{
    const std::string ms = std::to_string(lease_ttl.count());
    const std::array<std::string_view, 2> keys{key, lease};
    const std::array<std::string_view, 2> args{token, ms};
    auto r = co_await redis_.eval(lookup_script(), keys, args, timeout_);
    if (auto status = as_status(r); !status) {
        co_return status.error();
    }
    if (r->type == redis::reply::kind::integer) {
        co_return lookup_result{
            r->integer == 1 ? lookup_result::kind::leased : lookup_result::kind::held, {}, {}};
    }
    if (r->type != redis::reply::kind::array || r->elements.size() != 2 ||
        r->elements[0].type != redis::reply::kind::string) {
        co_return redis::make_error_code(redis::errc::unexpected_reply);
    }
    // PTTL: milliseconds left, -1 without expiry.
    std::chrono::milliseconds left{0};
    if (r->elements[1].type == redis::reply::kind::integer && r->elements[1].integer > 0) {
        left = std::chrono::milliseconds(r->elements[1].integer);
    }
    co_return lookup_result{lookup_result::kind::found, std::string(r->elements[0].str), left};
}

net::awaitable<result<void>> summary_cache::fill(std::string_view type, std::string_view period,
                                                 std::string_view body, bool keep_stale,
                                                 std::string_view token)
{
    using namespace boost::asio::experimental::awaitable_operators;
    const std::string fresh = fresh_key(type, period);
    const std::string lease = lease_key(type, period);
    const std::string ttl = std::to_string(options_.ttl.count());
    // The key is written by a plain SETEX, not inside the release script: Redis 7.0 reports a
    // script's writes to the tracking connection that ran it, NOLOOP or not, which would drop
    // the copy this worker keeps of what it just wrote. Issued in one loop turn, the commands
    // go out in one write, and the server runs them in order: the key is set before the lease
    // goes.
    auto written = redis_.exec(redis::command("SETEX", fresh, ttl, body), timeout_);
    auto released = release(lease, token);
    if (!keep_stale) {
        auto [a, b] = co_await (std::move(written) && std::move(released));
        if (auto status = as_status(a); !status) {
            co_return status;
        }
        co_return b;
    }
    const std::string stale = stale_key(type, period);
    const std::string stale_ttl = std::to_string(options_.stale_ttl.count());
    auto [a, b, c] =
        co_await (std::move(written) && std::move(released) &&
                  redis_.exec(redis::command("SETEX", stale, stale_ttl, body), timeout_));
    if (auto status = as_status(a); !status) {
        co_return status;
    }
    if (auto status = as_status(c); !status) {
        co_return status;
    }
    co_return b;
}

net::awaitable<result<void>> summary_cache::release(std::string_view lease, std::string_view token)
{
    const std::array<std::string_view, 1> keys{lease};
    const std::array<std::string_view, 1> args{token};
    co_return as_status(co_await redis_.eval(release_script(), keys, args, timeout_));
}

}  // namespace analytics::cache
