#include "metrics/summary_service.hpp"

#include "common/logging.hpp"
#include "common/with_timeout.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>
#include <array>
#include <random>

#include "telemetry/registry.hpp"

namespace analytics::metrics {

namespace {

using namespace std::chrono_literals;

// A waiter polls the lease's key at these intervals (doubling from the first to the cap) in
// case no invalidation wakes it: the owner failed and released its lease, or tracking is off.
constexpr std::chrono::milliseconds first_poll = 5ms;
constexpr std::chrono::milliseconds max_poll = 100ms;

// The lease outlives the owner's longest legitimate hold, its upstream call plus the rollup
// read and the fill, by this much; waiters give up earlier (EXTERNAL_SERVICE_TIMEOUT).
constexpr std::chrono::milliseconds lease_margin = 250ms;

// Releases `lease` if `token` holds it; spawned, so no answer waits for it.
net::awaitable<void> release_lease(cache::summary_cache& cache, std::string lease,
                                   std::string token)
{
    (void)co_await cache.release(lease, token);
}

std::string random_token_prefix()
{
    std::random_device device;
    const std::uint64_t bits = (std::uint64_t{device()} << 32) | device();
    std::array<char, 17> hex{};
    for (std::size_t i = 0; i < 16; ++i) {
        hex[i] = "0123456789abcdef"[(bits >> (60 - 4 * i)) & 0xF];
    }
    return std::string(hex.data(), 16);
}

}  // namespace

summary_service::summary_service(cache::summary_cache& cache, cache::client_tracking& tracking,
                                 metric_store& store, breaker::scoped_breaker& breaker,
                                 upstream::external_service& upstream,
                                 std::chrono::milliseconds upstream_timeout,
                                 summary_outages outages, const common::clock& clock,
                                 telemetry::shard& stats)
    : cache_(cache),
      tracking_(tracking),
      store_(store),
      breaker_(breaker),
      upstream_(upstream),
      upstream_timeout_(upstream_timeout),
      lease_ttl_(upstream_timeout + 2 * cache.timeout() + lease_margin),
      outages_(outages),
      clock_(clock),
      stats_(stats),
      token_prefix_(random_token_prefix())
{
    tracking_.listen({[this](std::string_view key) {
                          local_.invalidate(key);
                          if (!waiting_.empty()) {
                              if (auto it = waiting_.find(std::string(key)); it != waiting_.end()) {
                                  it->second->cancel();
                              }
                          }
                      },
                      [this] {
                          local_.clear();
                          for (auto& [key, timer] : waiting_) {
                              timer->cancel();
                          }
                      }});
}

net::awaitable<summary_answer> summary_service::get(std::string_view type, period p)
{
    const std::string key = cache::summary_cache::fresh_key(type, to_string(p));
    if (const std::string* body = local_.find(key, clock_.steady_now())) {
        stats_.add(telemetry::counter::cache_hit);
        co_return summary_answer{summary_answer::kind::hit, *body, {}};
    }
    // One fetch per key and worker at a time: the requests that arrive meanwhile share its
    // answer. GCC 12 mishandles class temporaries passed to a coroutine inside a co_await
    // expression, so every such argument is a named local first.
    auto fetch_once = [this, owned = std::string(type), p]() { return fetch(owned, p); };
    auto answer = co_await flights_.run(key, std::move(fetch_once));
    if (answer.outcome == summary_answer::kind::hit) {
        stats_.add(telemetry::counter::cache_hit);
    } else if (answer.outcome != summary_answer::kind::storage_unavailable) {
        stats_.add(telemetry::counter::cache_miss);
    }
    co_return answer;
}

net::awaitable<summary_answer> summary_service::fetch(std::string type, period p)
{
    const std::string key = cache::summary_cache::fresh_key(type, to_string(p));
    const std::string lease = cache::summary_cache::lease_key(type, to_string(p));
    const std::string token = next_token();
    // The wait is on real timers, so its limit is on the real clock too.
    const auto give_up_at = std::chrono::steady_clock::now() + upstream_timeout_;
    std::chrono::milliseconds poll = first_poll;
    bool waited = false;
    for (;;) {
        // Taken before the lookup is sent, so the local copy never outlives the Redis key.
        const auto before = clock_.steady_now();
        const auto claim = tracking_.active() ? local_.claim(key, before) : 0;
        auto found = co_await cache_.lookup(key, lease, token, lease_ttl_);
        if (!found) {
            // A lookup past its deadline may still run later and take the lease for nobody,
            // making every request for the key wait. A release queued behind it on the same
            // connection runs after it and undoes that; nobody waits for its answer.
            net::co_spawn(co_await net::this_coro::executor, release_lease(cache_, lease, token),
                          net::detached);
            outages_.storage.occurred(
                {{"operation", "summary_cache"}, {"key", key}, {"error", found.error().message()}});
            co_return summary_answer{summary_answer::kind::storage_unavailable, {}, {}};
        }
        outages_.storage.recovered();
        if (found->outcome == cache::summary_cache::lookup_result::kind::found) {
            local_.put(key, claim, found->body, before + found->ttl);
            // A request that had to wait for another worker's computation was a miss.
            co_return summary_answer{
                waited ? summary_answer::kind::miss : summary_answer::kind::hit,
                std::move(found->body),
                {}};
        }
        if (claim != 0) {
            local_.invalidate(key);  // nothing to keep under this claim
        }
        if (found->outcome == cache::summary_cache::lookup_result::kind::leased) {
            co_return co_await compute(std::move(type), p, token);
        }
        const auto now = std::chrono::steady_clock::now();
        if (now >= give_up_at) {
            // The holder did not fill the key in time (it died, or its upstream call is as
            // slow as it may be): compute as well, at the cost of a duplicate call.
            log::warn(
                "summary.lease_wait_expired",
                {{"key", key}, {"waited_ms", static_cast<long long>(upstream_timeout_.count())}});
            const std::string no_lease;
            co_return co_await compute(std::move(type), p, no_lease);
        }
        if (!waited) {
            waited = true;
            ++lease_waits_;
        }
        const auto limit = std::min<std::chrono::steady_clock::duration>(poll, give_up_at - now);
        co_await wait_for_change(key, limit);
        poll = std::min(poll * 2, max_poll);
    }
}

net::awaitable<void> summary_service::wait_for_change(const std::string& key,
                                                      std::chrono::steady_clock::duration limit)
{
    net::steady_timer timer(co_await net::this_coro::executor, limit);
    waiting_[key] = &timer;
    co_await timer.async_wait(common::use_nothrow);
    waiting_.erase(key);
}

// `token` is the lease this computation holds, or empty when it computes without one.
net::awaitable<summary_answer> summary_service::compute(std::string type, period p,
                                                        std::string token)
{
    const std::string key = cache::summary_cache::fresh_key(type, to_string(p));

    auto ticket = co_await breaker_.acquire();
    if (!ticket) {
        stats_.add(telemetry::counter::external_rejected);
        summary_answer rejected{summary_answer::kind::circuit_open, {}, ticket.retry_after()};
        co_return co_await give_up(type, p, token, std::move(rejected));
    }
    const auto call_started = clock_.steady_now();
    auto called = co_await common::with_timeout(upstream_.call(key), upstream_timeout_);
    stats_.observe(telemetry::histogram::external_call, clock_.steady_now() - call_started);
    stats_.add(!called        ? telemetry::counter::external_timeout
               : called->ok() ? telemetry::counter::external_success
                              : telemetry::counter::external_failure);
    if (!called || !called->ok()) {
        const std::string reason = called ? called->reason : std::string("timed out");
        const std::string_view cause = called ? std::string_view(reason) : "timeout";
        co_await ticket.record_failure(cause);
        outages_.upstream.occurred({{"key", key}, {"reason", reason}});
        summary_answer failed{summary_answer::kind::upstream_failed, {}, {}};
        co_return co_await give_up(type, p, token, std::move(failed));
    }
    co_await ticket.record_success();
    outages_.upstream.recovered();

    auto s = co_await store_.summarize(type, p);
    if (!s) {
        outages_.storage.occurred(
            {{"operation", "summary"}, {"key", key}, {"error", s.error().message()}});
        summary_answer unavailable{summary_answer::kind::storage_unavailable, {}, {}};
        co_return co_await give_up(type, p, token, std::move(unavailable));
    }
    outages_.stale.recovered();
    ++computed_;
    stats_.add(telemetry::counter::summary_computations);
    log::debug("summary.computed", {{"key", key}, {"count", s->count}});
    std::string body = to_json(type, p, *s);
    // Taken before the fill is sent, so the local copy never outlives the Redis key.
    const auto before_put = clock_.steady_now();
    const auto claim = tracking_.active() ? local_.claim(key, before_put) : 0;
    // docs/contract.md, Summary: a summary of nothing is cached but gets no stale copy.
    const bool keep_stale = s->count > 0;
    if (auto stored = co_await cache_.fill(type, to_string(p), body, keep_stale, token); !stored) {
        // The answer is still right; only the next request will have to compute it again.
        outages_.storage.occurred({{"operation", "summary_cache_write"},
                                   {"key", key},
                                   {"error", stored.error().message()}});
        local_.invalidate(key);
    } else {
        local_.put(key, claim, body, before_put + cache_.options().ttl);
    }
    co_return summary_answer{summary_answer::kind::miss, std::move(body), {}};
}

// A computation that produced no summary: its lease goes at once, so that a waiter may try
// (rather than wait for the lease to expire), and a stale copy is served where one is held.
// The release is not awaited: the answer does not depend on it, and the lease expires anyway.
net::awaitable<summary_answer> summary_service::give_up(std::string_view type, period p,
                                                        std::string_view token,
                                                        summary_answer failure)
{
    if (!token.empty()) {
        net::co_spawn(co_await net::this_coro::executor,
                      release_lease(cache_, cache::summary_cache::lease_key(type, to_string(p)),
                                    std::string(token)),
                      net::detached);
    }
    if (failure.outcome == summary_answer::kind::storage_unavailable) {
        co_return failure;
    }
    co_return co_await stale_or(type, p, std::move(failure));
}

net::awaitable<summary_answer> summary_service::stale_or(std::string_view type, period p,
                                                         summary_answer failure)
{
    const std::string key = cache::summary_cache::stale_key(type, to_string(p));
    auto stale = co_await cache_.get(key);
    if (stale && *stale) {
        // docs/contract.md, Summary: stale-if-error. Visible in the logs, as every degraded
        // mode is.
        stats_.add(telemetry::counter::cache_stale);
        outages_.stale.occurred(
            {{"key", key},
             {"cause", failure.outcome == summary_answer::kind::circuit_open ? "circuit_open"
                                                                             : "upstream_failed"}});
        co_return summary_answer{summary_answer::kind::stale, std::move(**stale), {}};
    }
    co_return failure;
}

std::string summary_service::next_token()
{
    return token_prefix_ + ':' + std::to_string(++tokens_);
}

}  // namespace analytics::metrics
