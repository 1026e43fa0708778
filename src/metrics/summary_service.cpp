#include "metrics/summary_service.hpp"

#include "common/logging.hpp"
#include "common/with_timeout.hpp"

#include "telemetry/registry.hpp"

namespace analytics::metrics {

summary_service::summary_service(cache::summary_cache& cache, metric_store& store,
                                 breaker::scoped_breaker& breaker,
                                 upstream::external_service& upstream,
                                 std::chrono::milliseconds upstream_timeout,
                                 summary_outages outages, const common::clock& clock)
    : cache_(cache),
      store_(store),
      breaker_(breaker),
      upstream_(upstream),
      upstream_timeout_(upstream_timeout),
      outages_(outages),
      clock_(clock)
{
}

net::awaitable<summary_answer> summary_service::get(std::string_view type, period p)
{
    const std::string key = cache::summary_cache::fresh_key(type, to_string(p));
    const auto now = clock_.steady_now();
    if (const std::string* body = local_.find(key, now)) {
        telemetry::local().add(telemetry::counter::cache_hit);
        co_return summary_answer{summary_answer::kind::hit, *body, {}};
    }
    auto cached = co_await cache_.get_with_ttl(key);
    if (!cached) {
        outages_.storage.occurred(
            {{"operation", "summary_cache"}, {"key", key}, {"error", cached.error().message()}});
        co_return summary_answer{summary_answer::kind::storage_unavailable, {}, {}};
    }
    outages_.storage.recovered();
    if (*cached) {
        auto& entry = **cached;
        local_.put(key, entry.body, now, now + entry.ttl);
        telemetry::local().add(telemetry::counter::cache_hit);
        co_return summary_answer{summary_answer::kind::hit, std::move(entry.body), {}};
    }
    telemetry::local().add(telemetry::counter::cache_miss);
    // Concurrent misses on one key share a single computation (and a single upstream call).
    // GCC 12 mishandles class temporaries passed to a coroutine inside a co_await expression,
    // so every such argument is a named local first.
    auto computation = [this, owned = std::string(type), p]() { return compute(owned, p); };
    co_return co_await flights_.run(key, std::move(computation));
}

net::awaitable<summary_answer> summary_service::compute(std::string type, period p)
{
    const std::string key = cache::summary_cache::fresh_key(type, to_string(p));

    auto ticket = co_await breaker_.acquire();
    if (!ticket) {
        telemetry::local().add(telemetry::counter::external_rejected);
        summary_answer rejected{summary_answer::kind::circuit_open, {}, ticket.retry_after()};
        co_return co_await stale_or(type, p, std::move(rejected));
    }
    const auto call_started = clock_.steady_now();
    auto called = co_await common::with_timeout(upstream_.call(key), upstream_timeout_);
    auto& stats = telemetry::local();
    stats.observe(telemetry::histogram::external_call, clock_.steady_now() - call_started);
    stats.add(!called        ? telemetry::counter::external_timeout
              : called->ok() ? telemetry::counter::external_success
                             : telemetry::counter::external_failure);
    if (!called || !called->ok()) {
        const std::string reason = called ? called->reason : std::string("timed out");
        const std::string_view cause = called ? std::string_view(reason) : "timeout";
        co_await ticket.record_failure(cause);
        outages_.upstream.occurred({{"key", key}, {"reason", reason}});
        summary_answer failed{summary_answer::kind::upstream_failed, {}, {}};
        co_return co_await stale_or(type, p, std::move(failed));
    }
    co_await ticket.record_success();
    outages_.upstream.recovered();

    auto s = co_await store_.summarize(type, p);
    if (!s) {
        outages_.storage.occurred(
            {{"operation", "summary"}, {"key", key}, {"error", s.error().message()}});
        co_return summary_answer{summary_answer::kind::storage_unavailable, {}, {}};
    }
    outages_.stale.recovered();
    ++computed_;
    telemetry::local().add(telemetry::counter::summary_computations);
    log::debug("summary.computed", {{"key", key}, {"count", s->count}});
    std::string body = to_json(type, p, *s);
    // Taken before SETEX is sent, so the local copy never outlives the Redis key.
    const auto before_put = clock_.steady_now();
    if (auto stored = co_await cache_.put(type, to_string(p), body); !stored) {
        // The answer is still right; only the next request will have to compute it again.
        outages_.storage.occurred({{"operation", "summary_cache_write"},
                                   {"key", key},
                                   {"error", stored.error().message()}});
    } else {
        local_.put(key, body, before_put, before_put + cache_.options().ttl);
    }
    co_return summary_answer{summary_answer::kind::miss, std::move(body), {}};
}

net::awaitable<summary_answer> summary_service::stale_or(std::string_view type, period p,
                                                         summary_answer failure)
{
    const std::string key = cache::summary_cache::stale_key(type, to_string(p));
    auto stale = co_await cache_.get(key);
    if (stale && *stale) {
        // API.md: stale-if-error. Visible in the logs, as every degraded mode is.
        telemetry::local().add(telemetry::counter::cache_stale);
        outages_.stale.occurred(
            {{"key", key},
             {"cause", failure.outcome == summary_answer::kind::circuit_open ? "circuit_open"
                                                                             : "upstream_failed"}});
        co_return summary_answer{summary_answer::kind::stale, std::move(**stale), {}};
    }
    co_return failure;
}

}  // namespace analytics::metrics
