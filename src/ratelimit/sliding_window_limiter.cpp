#include "ratelimit/sliding_window_limiter.hpp"

#include "redis/arg_buffer.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <memory_resource>
#include <span>
#include <vector>

namespace analytics::ratelimit {

namespace {

// Mirrors window_math.cpp: `admits` is the same comparison on the same integers (Lua numbers
// are doubles, exact below 2^53, which window_policy::checked guarantees). The time is the
// server's, in milliseconds, so every instance places a request in the same window. The batch's
// requests are decided in order against counters held in the script, so each sees the counts
// its predecessors left, as with one call per request. A refused request writes nothing, so a
// flood cannot push its own Retry-After further away; a client none of whose requests was
// admitted is not written at all.
//
// rate_limit(kfirst, afirst) reads its keys from KEYS[kfirst] to the end and its arguments from
// ARGV[afirst] to the end (the layout of script(), shifted), so that another script can decide a
// batch of checks before its own work: it returns the answers and whether every check passed.
// The answers (read_answers) are the window's elapsed ms, each client's counts as the batch found
// them, and how many of each client's checks were admitted: a refused check changes no count, so
// once one check of a client is refused so is every later one of that client, and the first m
// of them were admitted. The counts each check saw follow from those, so a batch of n checks by
// one client costs Redis and the service 4 reply elements and one argument, not 4 * n and n.
constexpr std::string_view function_source = R"lua(
local function rate_limit(kfirst, afirst)
  local limit = tonumber(ARGV[afirst])
  local window = tonumber(ARGV[afirst + 1])
  local now = tonumber(ARGV[afirst + 2])
  if not now then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  local index = math.floor(now / window)
  local elapsed = now - index * window
  local previous, current, admitted, in_window = {}, {}, {}, {}
  local clients = #KEYS - kfirst + 1
  for k = 1, clients do
    local state = redis.call('HMGET', KEYS[kfirst + k - 1], 'w', 'c', 'p')
    local seen = tonumber(state[1])
    previous[k], current[k], in_window[k] = 0, 0, seen == index
    if seen == index then
      current[k] = tonumber(state[2]) or 0
      previous[k] = tonumber(state[3]) or 0
    elseif seen == index - 1 then
      previous[k] = tonumber(state[2]) or 0
    end
  end
  local out, all = {elapsed}, true
  for k = 1, clients do
    out[2 * k] = previous[k]
    out[2 * k + 1] = current[k]
  end
  for k = 1, clients do
    local n, p, c = tonumber(ARGV[afirst + 2 + k]), previous[k], current[k]
    -- The m-th check (from 0) passes when p * (window - elapsed) <= (limit - c - m - 1) * window.
    local room, m = (limit - c - 1) * window - p * (window - elapsed), 0
    while m < n and m * window <= room do m = m + 1 end
    if m < n then all = false end
    current[k] = c + m
    admitted[k] = m > 0
    out[2 * clients + 1 + k] = m
  end
  -- The expiry is set by the first admitted request of a window: two windows from then is past
  -- the end of the next window, the last in which this window's count weighs. Later requests
  -- of the window leave it (HSET keeps a key's expiry), which spares a write per batch.
  for k = 1, clients do
    if admitted[k] then
      local key = KEYS[kfirst + k - 1]
      redis.call('HSET', key, 'w', index, 'c', current[k], 'p', previous[k])
      if not in_window[k] then redis.call('PEXPIRE', key, 2 * window) end
    end
  end
  return out, all
end
)lua";

void append_key(std::string& out, std::string_view client)
{
    out.append("ratelimit:{").append(client).append("}");
}

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
      args_{std::to_string(policy_.limit), std::to_string(policy_.window_ms)},
      batches_(
          redis.get_executor(), max_batch,
          [this](std::span<const std::string_view> clients, std::span<batch_answer> answers,
                 batch_queue::clock::time_point opened) {
              return decide_batch(clients, answers, opened);
          },
          batch_answer{std::nullopt, "the limiter stopped"})
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
    static const redis::script s{std::string(function_source) + "return (rate_limit(1, 1))\n"};
    return s;
}

std::string_view sliding_window_limiter::script_function()
{
    return function_source;
}

std::string sliding_window_limiter::key_for(std::string_view client)
{
    std::string key;
    key.reserve(12 + client.size());
    append_key(key, client);
    return key;
}

bool sliding_window_limiter::read_answers(std::span<const redis::reply> answers,
                                          std::span<const std::uint32_t> client_of_check,
                                          std::span<script_answer> out)
{
    if (out.size() != client_of_check.size() || client_of_check.empty()) {
        return false;
    }
    const std::size_t clients =
        std::size_t{*std::max_element(client_of_check.begin(), client_of_check.end())} + 1;
    if (answers.size() != 1 + 3 * clients) {
        return false;
    }
    // Counts come from whatever the hash holds; negative ones would break the arithmetic's
    // preconditions, so they are a bad reply like any other.
    for (const redis::reply& e : answers) {
        if (e.type != redis::reply::kind::integer || e.integer < 0) {
            return false;
        }
    }
    const std::int64_t elapsed = answers[0].integer;
    const std::span<const redis::reply> admitted = answers.last(clients);
    // Per client, its checks seen so far. A batch rarely has many clients: the counts fit in a
    // buffer on the stack.
    std::array<std::byte, 64 * sizeof(std::int64_t)> scratch;
    std::pmr::monotonic_buffer_resource arena(scratch.data(), scratch.size());
    std::pmr::vector<std::int64_t> seen(clients, 0, &arena);
    for (std::size_t i = 0; i < out.size(); ++i) {
        const std::uint32_t k = client_of_check[i];
        const std::int64_t before = seen[k]++;
        const std::int64_t passed = std::min(before, admitted[k].integer);
        out[i] = script_answer{
            before < admitted[k].integer,
            {answers[1 + 2 * k].integer, answers[2 + 2 * k].integer + passed, elapsed}};
    }
    // No client has more checks admitted than it made.
    for (std::size_t k = 0; k < clients; ++k) {
        if (admitted[k].integer > seen[k]) {
            return false;
        }
    }
    return true;
}

std::optional<script_answer> sliding_window_limiter::read_answer(const redis::reply& r)
{
    constexpr std::array<std::uint32_t, 1> one_client{0};
    std::array<script_answer, 1> out{};
    if (r.type != redis::reply::kind::array || !read_answers(r.elements, one_client, out)) {
        return std::nullopt;
    }
    return out[0];
}

std::optional<decision> sliding_window_limiter::remembered(std::string_view client,
                                                           common::clock::mono_time now)
{
    const auto wait = refusals_.refused_for(client, now);
    if (!wait) {
        return std::nullopt;
    }
    decision d;
    d.allowed = false;
    d.limit = static_cast<std::uint32_t>(policy_.limit);
    d.window = policy_.window();
    d.retry_after = *wait;
    d.reset = *wait;
    d.source = decision_source::remembered_refusal;
    return d;
}

decision sliding_window_limiter::settle(std::string_view client, common::clock::mono_time now,
                                        const batch_answer& outcome)
{
    if (!outcome.answer) {
        return without_redis(client, outcome.error);
    }
    if (failing_) {
        failing_ = false;
        outages_.worker_recovered();
    }
    decision d =
        decide(outcome.answer->sample, outcome.answer->admitted, policy_, decision_source::redis);
    if (!d.allowed) {
        // `now` was read before the script ran, so the wait counted from it ends no later than
        // on the server's clock: memory never refuses a request that Redis would admit.
        refusals_.remember(client, now, d.retry_after);
    }
    return d;
}

net::awaitable<decision> sliding_window_limiter::check(std::string_view client)
{
    const auto now = clock_.steady_now();
    if (auto d = remembered(client, now)) {
        co_return *d;
    }
    const batch_answer outcome = co_await batches_.submit(client);
    co_return settle(client, now, outcome);
}

void sliding_window_limiter::append_batch(std::span<const std::string_view> clients,
                                          redis::arg_buffer& keys, redis::arg_buffer& args,
                                          std::vector<std::uint32_t>& client_of_check)
{
    args.add(args_[0]);
    args.add(args_[1]);
    args.add(std::string_view{});  // the server's clock
    key_positions_.clear();
    checks_of_client_.clear();
    for (const std::string_view client : clients) {
        const auto [it, added] = key_positions_.try_emplace(
            client, static_cast<std::uint32_t>(checks_of_client_.size()));
        if (added) {
            checks_of_client_.push_back(0);
            append_key(keys.text(), client);
            keys.end_arg();
        }
        ++checks_of_client_[it->second];
        client_of_check.push_back(it->second);
    }
    for (const std::int64_t n : checks_of_client_) {
        args.add_integer(n);
    }
}

void sliding_window_limiter::stop()
{
    batches_.stop();
}

net::awaitable<void> sliding_window_limiter::decide_batch(std::span<const std::string_view> clients,
                                                          std::span<batch_answer> answers,
                                                          batch_queue::clock::time_point opened)
{
    redis::arg_buffer keys;
    redis::arg_buffer args;
    keys.reserve(clients.size(), clients.size() * 24);
    args.reserve(3 + clients.size(), 32 + clients.size() * 4);
    std::vector<std::uint32_t> client_of_check;
    client_of_check.reserve(clients.size());
    append_batch(clients, keys, args, client_of_check);

    // The deadline counts from when the batch's first check was queued.
    const auto waited =
        std::chrono::ceil<std::chrono::milliseconds>(batch_queue::clock::now() - opened);
    const auto key_views = keys.views();
    const auto arg_views = args.views();
    const auto reply =
        co_await redis_.eval(script(), key_views, arg_views, redis_timeout_ - waited);
    std::vector<script_answer> decided(answers.size());
    std::string error;
    if (!reply) {
        error = reply.error().message();
    } else if (reply->type != redis::reply::kind::array ||
               !read_answers(reply->elements, client_of_check, decided)) {
        error = reply->is_error() ? reply->str : "unexpected reply";
    }
    for (std::size_t i = 0; i < answers.size(); ++i) {
        if (error.empty()) {
            answers[i].answer = decided[i];
        } else {
            answers[i].error = error;
        }
    }
}

void admission::settle(const batch_answer& answer)
{
    decision_ = limiter_.settle(client_, started_, answer);
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
