#include "metrics/summary_service.hpp"

#include "common/logging.hpp"
#include "common/with_timeout.hpp"

namespace analytics::metrics {

summary_service::summary_service(cache::summary_cache& cache, metric_store& store,
                                 breaker::circuit_breaker& breaker,
                                 upstream::external_service& upstream,
                                 std::chrono::milliseconds upstream_timeout)
    : cache_(cache),
      store_(store),
      breaker_(breaker),
      upstream_(upstream),
      upstream_timeout_(upstream_timeout)
{
}

net::awaitable<summary_answer> summary_service::get(std::string_view type, period p)
{
    const std::string key = cache::summary_cache::fresh_key(type, to_string(p));
    auto cached = co_await cache_.get(key);
    if (!cached) {
        log::warn("summary.cache_unavailable", {{"key", key}, {"error", cached.error().message()}});
        co_return summary_answer{summary_answer::kind::storage_unavailable, {}, {}};
    }
    if (*cached) {
        co_return summary_answer{summary_answer::kind::hit, std::move(**cached), {}};
    }
    // Concurrent misses on one key share a single computation (and a single upstream call).
    // GCC 12 mishandles class temporaries passed to a coroutine inside a co_await expression,
    // so every such argument is a named local first.
    auto computation = [this, owned = std::string(type), p]() { return compute(owned, p); };
    co_return co_await flights_.run(key, std::move(computation));
}

net::awaitable<summary_answer> summary_service::compute(std::string type, period p)
{
    const std::string key = cache::summary_cache::fresh_key(type, to_string(p));

    auto ticket = breaker_.try_acquire();
    if (!ticket) {
        summary_answer rejected{summary_answer::kind::circuit_open, {}, ticket.retry_after()};
        co_return co_await stale_or(type, p, std::move(rejected));
    }
    auto called = co_await common::with_timeout(upstream_.call(key), upstream_timeout_);
    if (!called || !called->ok()) {
        const std::string reason = called ? called->reason : std::string("timed out");
        ticket.record_failure(called ? std::string_view(reason) : std::string_view("timeout"));
        log::warn("upstream.call_failed", {{"key", key}, {"reason", reason}});
        summary_answer failed{summary_answer::kind::upstream_failed, {}, {}};
        co_return co_await stale_or(type, p, std::move(failed));
    }
    ticket.record_success();

    auto s = co_await store_.summarize(type, p);
    if (!s) {
        log::warn("summary.storage_unavailable", {{"key", key}, {"error", s.error().message()}});
        co_return summary_answer{summary_answer::kind::storage_unavailable, {}, {}};
    }
    ++computed_;
    log::debug("summary.computed", {{"key", key}, {"count", s->count}});
    std::string body = to_json(type, p, *s);
    if (auto stored = co_await cache_.put(type, to_string(p), body); !stored) {
        // The answer is still right; only the next request will have to compute it again.
        log::warn("summary.cache_write_failed",
                  {{"key", key}, {"error", stored.error().message()}});
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
        log::warn(
            "summary.serving_stale",
            {{"key", key},
             {"cause", failure.outcome == summary_answer::kind::circuit_open ? "circuit_open"
                                                                             : "upstream_failed"}});
        co_return summary_answer{summary_answer::kind::stale, std::move(**stale), {}};
    }
    co_return failure;
}

}  // namespace analytics::metrics
