#include "ratelimit/sliding_window_limiter.hpp"

#include "common/when_all.hpp"
#include "ratelimit/lua_scripts.hpp"
#include "redis/arg_buffer.hpp"
#include "redis/key_tags.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <memory_resource>
#include <span>
#include <vector>

namespace analytics::ratelimit {

namespace {

void append_key(std::string& out, std::string_view client)
{
    out.append("ratelimit:{").append(redis::tag_for(client)).append("}:").append(client);
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
      policy_(window_policy::of(options.requests, options.window)),
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
    static const redis::script s{std::string(lua::rate_limit())};
    return s;
}

std::string sliding_window_limiter::key_for(std::string_view client)
{
    std::string key;
    key.reserve(20 + client.size());
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

void sliding_window_limiter::stop()
{
    batches_.stop();
}

net::awaitable<void> sliding_window_limiter::decide_batch(std::span<const std::string_view> clients,
                                                          std::span<batch_answer> answers,
                                                          batch_queue::clock::time_point opened)
{
    // The checks of each tag, in the batch's order, go in one call; the calls run at once.
    std::array<std::vector<std::size_t>, redis::tag_count> by_tag;
    for (std::size_t i = 0; i < clients.size(); ++i) {
        by_tag[redis::tag_index(clients[i])].push_back(i);
    }
    // The deadline counts from when the batch's first check was queued.
    const auto timeout = redis_timeout_ - std::chrono::ceil<std::chrono::milliseconds>(
                                              batch_queue::clock::now() - opened);
    std::vector<net::awaitable<void>> calls;
    for (const auto& checks : by_tag) {
        if (!checks.empty()) {
            calls.push_back(decide_tag(clients, checks, answers, timeout));
        }
    }
    co_await common::when_all(std::move(calls));
}

net::awaitable<void> sliding_window_limiter::decide_tag(std::span<const std::string_view> clients,
                                                        std::span<const std::size_t> checks,
                                                        std::span<batch_answer> answers,
                                                        std::chrono::milliseconds timeout)
{
    redis::arg_buffer keys;
    redis::arg_buffer args;
    args.add(args_[0]);
    args.add(args_[1]);
    args.add(std::string_view{});  // the server's clock
    // Each distinct client's key once, with its number of checks; each check's client.
    std::vector<std::string_view> distinct;
    std::vector<std::int64_t> checks_of_client;
    std::vector<std::uint32_t> client_of_check;
    client_of_check.reserve(checks.size());
    for (const std::size_t i : checks) {
        const auto it = std::find(distinct.begin(), distinct.end(), clients[i]);
        const auto k = static_cast<std::uint32_t>(it - distinct.begin());
        if (it == distinct.end()) {
            distinct.push_back(clients[i]);
            checks_of_client.push_back(0);
            append_key(keys.text(), clients[i]);
            keys.end_arg();
        }
        ++checks_of_client[k];
        client_of_check.push_back(k);
    }
    for (const std::int64_t n : checks_of_client) {
        args.add_integer(n);
    }
    const auto key_views = keys.views();
    const auto arg_views = args.views();
    const auto reply = co_await redis_.eval(script(), key_views, arg_views, timeout);
    std::vector<script_answer> decided(checks.size());
    std::string error;
    if (!reply) {
        error = reply.error().message();
    } else if (reply->type != redis::reply::kind::array ||
               !read_answers(reply->elements, client_of_check, decided)) {
        error = reply->is_error() ? reply->str : "unexpected reply";
    }
    for (std::size_t n = 0; n < checks.size(); ++n) {
        if (error.empty()) {
            answers[checks[n]].answer = decided[n];
        } else {
            answers[checks[n]].error = error;
        }
    }
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
