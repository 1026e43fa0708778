#include "ratelimit/sliding_window_limiter.hpp"

#include <span>

namespace analytics::ratelimit {

namespace {

// Mirrors window_math.cpp: `admits` is the same comparison on the same integers (Lua numbers
// are doubles, exact below 2^53, which window_policy::checked guarantees). The time is the
// server's, in milliseconds, so every instance places a request in the same window. A refused
// request writes nothing, so a flood cannot push its own Retry-After further away.
constexpr std::string_view script_source = R"lua(
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if not now then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local index = math.floor(now / window)
local elapsed = now - index * window
local state = redis.call('HMGET', KEYS[1], 'w', 'c', 'p')
local seen = tonumber(state[1])
local previous, current = 0, 0
if seen == index then
    current = tonumber(state[2]) or 0
    previous = tonumber(state[3]) or 0
elseif seen == index - 1 then
    previous = tonumber(state[2]) or 0
end
local admitted = 0
if previous * (window - elapsed) <= (limit - current - 1) * window then
    admitted = 1
    redis.call('HSET', KEYS[1], 'w', index, 'c', current + 1, 'p', previous)
    redis.call('PEXPIRE', KEYS[1], 2 * window)
end
return {admitted, previous, current, elapsed}
)lua";

std::string_view mode_name(config::failure_mode m) noexcept
{
    return m == config::failure_mode::open ? "open" : "local";
}

}  // namespace

sliding_window_limiter::sliding_window_limiter(redis::client& redis,
                                               const config::ratelimit_options& options,
                                               std::chrono::milliseconds redis_timeout,
                                               local_backstop& backstop, outage_log& outages,
                                               const common::clock& clock)
    : redis_(redis),
      options_(options),
      policy_(window_policy::checked(options.requests, options.window)),
      redis_timeout_(redis_timeout),
      backstop_(backstop),
      outages_(outages),
      clock_(clock),
      args_{std::to_string(policy_.limit), std::to_string(policy_.window_ms)}
{
}

sliding_window_limiter::~sliding_window_limiter()
{
    // The outage log counts failing workers; a worker going away is no longer one of them.
    if (failing_) {
        outages_.worker_recovered();
    }
}

const redis::script& sliding_window_limiter::script()
{
    static const redis::script s{std::string(script_source)};
    return s;
}

std::string sliding_window_limiter::key_for(std::string_view client)
{
    std::string key;
    key.reserve(12 + client.size());
    key.append("ratelimit:{").append(client).append("}");
    return key;
}

std::optional<script_answer> sliding_window_limiter::read_answer(const redis::reply& r)
{
    if (r.type != redis::reply::kind::array || r.elements.size() != 4) {
        return std::nullopt;
    }
    // Counts come from whatever the hash holds; negative ones would break the arithmetic's
    // preconditions, so they are a bad reply like any other.
    for (const redis::reply& e : r.elements) {
        if (e.type != redis::reply::kind::integer || e.integer < 0) {
            return std::nullopt;
        }
    }
    return script_answer{r.elements[0].integer == 1,
                         {r.elements[1].integer, r.elements[2].integer, r.elements[3].integer}};
}

net::awaitable<decision> sliding_window_limiter::check(std::string_view client)
{
    const auto now = clock_.steady_now();
    if (const auto wait = refusals_.refused_for(client, now)) {
        decision d;
        d.allowed = false;
        d.limit = static_cast<std::uint32_t>(policy_.limit);
        d.window = policy_.window();
        d.retry_after = *wait;
        d.reset = *wait;
        d.source = decision_source::remembered_refusal;
        co_return d;
    }

    const std::string key = key_for(client);
    const std::array<std::string_view, 1> keys{key};
    const std::array<std::string_view, 2> args{args_[0], args_[1]};
    const auto reply = co_await redis_.eval(script(), keys, args, redis_timeout_);
    if (!reply) {
        co_return without_redis(client, reply.error().message());
    }
    const auto answer = read_answer(*reply);
    if (!answer) {
        co_return without_redis(client, reply->is_error() ? reply->str : "unexpected reply");
    }
    if (failing_) {
        failing_ = false;
        outages_.worker_recovered();
    }

    decision d = decide(answer->sample, answer->admitted, policy_, decision_source::redis);
    if (!d.allowed) {
        // `now` was read before the script ran, so the wait counted from it ends no later than
        // on the server's clock: memory never refuses a request that Redis would admit.
        refusals_.remember(client, now, d.retry_after);
    }
    co_return d;
}

decision sliding_window_limiter::without_redis(std::string_view client, std::string_view error)
{
    if (!failing_) {
        failing_ = true;
        outages_.worker_failing(error, mode_name(options_.on_redis_failure));
    }
    outages_.count_request();
    if (options_.on_redis_failure == config::failure_mode::open) {
        return decision::fail_open(static_cast<std::uint32_t>(policy_.limit), policy_.window());
    }
    return backstop_.check(client);
}

}  // namespace analytics::ratelimit
