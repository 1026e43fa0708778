// The summary path of several workers against the test redis-server and an HTTP upstream served
// by the test (which counts its calls exactly): concurrent misses compute once across workers
// through the lease in Redis, a lease nobody fills costs waiters at most the upstream timeout,
// copies kept in process follow the Redis key, and a summary of nothing gets no stale copy.

#include "breaker/circuit_breaker.hpp"
#include "breaker/scoped_breaker.hpp"
#include "cache/summary_cache.hpp"
#include "common/degraded_mode.hpp"
#include "metrics/metric_store.hpp"
#include "metrics/summary_service.hpp"
#include "support/coro_helpers.hpp"
#include "support/redis_admin.hpp"
#include "support/redis_server.hpp"
#include "support/run_coro.hpp"
#include "support/tracked_redis.hpp"
#include "support/upstream_stub.hpp"
#include "telemetry/registry.hpp"
#include "upstream/http_service.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <vector>

namespace analytics::metrics {
namespace {

using test::admin_connection;
using test::elapsed_ms;
using test::eventually;
using test::report;
using test::sleep_for;
using test::spawn_all;
using test::upstream_stub;

using namespace std::chrono_literals;
using steady_clock = std::chrono::steady_clock;

// What every worker of a process shares: the breaker, the upstream, the outage logs and the
// telemetry registry.
struct process_parts {
    explicit process_parts(const std::string& url, std::chrono::milliseconds upstream_timeout)
        : breaker(breaker_options(), upstream_timeout, common::system_clock()), upstream(url)
    {
    }

    static config::breaker_options breaker_options()
    {
        config::breaker_options o;
        o.failure_threshold = 1000;  // these tests are not about the breaker
        return o;
    }

    breaker::circuit_breaker breaker;
    upstream::http_service upstream;
    common::degraded_mode storage{"test.storage_unavailable"};
    common::degraded_mode failing{"test.upstream_failed"};
    common::degraded_mode stale{"test.serving_stale"};
    telemetry::registry telemetry;
};

// One worker's summary path, wired as the application wires it.
struct worker {
    worker(net::io_context& ioc, process_parts& shared, std::chrono::milliseconds upstream_timeout,
           std::chrono::milliseconds redis_timeout)
        : rig(ioc.get_executor(), test::client_options_for(test::redis_test_port())),
          store(rig.redis, config::metrics_options{}, redis_timeout, common::system_clock()),
          cache(rig.redis, config::cache_options{}, redis_timeout),
          breaker(shared.breaker),
          summaries(cache, rig.tracking, store, breaker, shared.upstream, upstream_timeout,
                    {shared.storage, shared.failing, shared.stale}, common::system_clock(),
                    shared.telemetry.add_shard())
    {
    }

    void stop()
    {
        store.stop();
        rig.stop();
    }

    test::tracked_redis rig;
    metric_store store;
    cache::summary_cache cache;
    breaker::scoped_breaker breaker;
    summary_service summaries;
};

class summary_service_redis : public ::testing::Test {
protected:
    summary_service_redis() { admin_.command({"FLUSHDB"}); }

    // Runs `body` with `count` started workers (their tracking on when `tracking`), then stops
    // them.
    template <class Body>
    void with_workers(int count, bool tracking, Body body,
                      std::chrono::milliseconds upstream_timeout = 3s,
                      std::chrono::milliseconds redis_timeout = 1s)
    {
        net::io_context ioc;
        process_parts shared(stub_.url(), upstream_timeout);
        std::vector<std::unique_ptr<worker>> workers;
        for (int i = 0; i < count; ++i) {
            workers.push_back(
                std::make_unique<worker>(ioc, shared, upstream_timeout, redis_timeout));
            workers.back()->rig.start(tracking);
        }
        test::run_coro(
            ioc,
            [&]() -> net::awaitable<void> {
                std::exception_ptr failure;
                try {
                    const bool ready = co_await eventually(
                        [&] {
                            return std::all_of(workers.begin(), workers.end(), [&](auto& w) {
                                return w->rig.redis.connected() &&
                                       (!tracking || w->rig.tracking.active());
                            });
                        },
                        5s);
                    EXPECT_TRUE(ready) << "the workers did not connect";
                    co_await body(workers);
                } catch (...) {
                    failure = std::current_exception();
                }
                for (auto& w : workers) {
                    w->stop();
                }
                if (failure) {
                    std::rethrow_exception(failure);
                }
            }(),
            30s);
        ioc.run_for(1s);  // let the run loops return
    }

    // Stores one point of `type` with `value`, stamped now.
    static net::awaitable<void> add_point(worker& w, std::string type, double value)
    {
        metric m;
        m.type = std::move(type);
        m.value = value;
        m.timestamp.micros = std::chrono::duration_cast<std::chrono::microseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
        auto stored = co_await w.store.add(m, {}, {});
        EXPECT_TRUE(stored);
    }

    admin_connection admin_{test::redis_test_port()};
    upstream_stub stub_;
};

using workers_t = std::vector<std::unique_ptr<worker>>;

// Twenty concurrent misses on one key, alternating between the workers; every answer is the
// same miss. Returns how long the last answer came after the first.
net::awaitable<double> twenty_concurrent_misses(workers_t& workers, const std::string& type)
{
    std::vector<summary_answer> answers(20);
    std::vector<steady_clock::time_point> answered(20);
    co_await spawn_all(20, [&](int i) -> net::awaitable<void> {
        auto& w = *workers[static_cast<std::size_t>(i) % workers.size()];
        answers[static_cast<std::size_t>(i)] = co_await w.summaries.get(type, period::all);
        answered[static_cast<std::size_t>(i)] = steady_clock::now();
    });
    for (const auto& a : answers) {
        EXPECT_EQ(a.outcome, summary_answer::kind::miss);
        EXPECT_EQ(a.body, answers[0].body);
    }
    const auto [first, last] = std::minmax_element(answered.begin(), answered.end());
    co_return std::chrono::duration<double, std::milli>(*last - *first).count();
}

// Script calls (lookups and releases) Redis ran since the last CONFIG RESETSTAT.
long long script_calls(admin_connection& admin)
{
    const std::string stats = admin.command({"INFO", "commandstats"});
    long long calls = 0;
    for (const std::string name : {"cmdstat_evalsha:calls=", "cmdstat_eval:calls="}) {
        if (const auto at = stats.find(name); at != std::string::npos) {
            calls += std::stoll(stats.substr(at + name.size()));
        }
    }
    return calls;
}

TEST_F(summary_service_redis, twenty_concurrent_misses_across_two_workers_call_the_upstream_once)
{
    stub_.set_latency(200ms);
    double spread_ms = 0;
    with_workers(2, true, [&](workers_t& workers) -> net::awaitable<void> {
        admin_.command({"CONFIG", "RESETSTAT"});
        spread_ms = co_await twenty_concurrent_misses(workers, "burst");
    });
    EXPECT_EQ(stub_.calls(), 1);
    // How long the other worker took to learn of the fill from its invalidation, and what its
    // wait cost Redis.
    report("lease_waiter_answered_after_owner_with_invalidations_ms", spread_ms, "ms");
    report("lease_script_calls_with_invalidations", static_cast<double>(script_calls(admin_)),
           "calls");
}

// Without tracking a waiter learns of the fill by polling the key (backoff from 5 to 100 ms):
// still one upstream call, only later answers.
TEST_F(summary_service_redis, twenty_concurrent_misses_call_the_upstream_once_without_tracking_too)
{
    stub_.set_latency(200ms);
    double spread_ms = 0;
    with_workers(2, false, [&](workers_t& workers) -> net::awaitable<void> {
        admin_.command({"CONFIG", "RESETSTAT"});
        spread_ms = co_await twenty_concurrent_misses(workers, "burst");
    });
    EXPECT_EQ(stub_.calls(), 1);
    report("lease_waiter_answered_after_owner_by_polling_ms", spread_ms, "ms");
    report("lease_script_calls_by_polling", static_cast<double>(script_calls(admin_)), "calls");
}

TEST_F(summary_service_redis, a_waiter_answers_with_what_the_lease_holder_stores)
{
    // Another instance holds the lease and fills the key a little later.
    admin_.command({"SET", "lease:{summary:held:all}", "other-instance", "PX", "60000"});
    summary_answer answer;
    with_workers(1, true, [&](workers_t& workers) -> net::awaitable<void> {
        auto filler = [&]() -> net::awaitable<void> {
            co_await sleep_for(150ms);
            admin_.command({"SETEX", "summary:held:all", "300", R"({"filled":"elsewhere"})"});
        };
        co_await spawn_all(2, [&](int i) -> net::awaitable<void> {
            if (i == 0) {
                answer = co_await workers[0]->summaries.get("held", period::all);
            } else {
                co_await filler();
            }
        });
    });
    EXPECT_EQ(answer.outcome, summary_answer::kind::miss);
    EXPECT_EQ(answer.body, R"({"filled":"elsewhere"})");
    EXPECT_EQ(stub_.calls(), 0);
}

TEST_F(summary_service_redis, a_lease_whose_owner_died_costs_waiters_the_upstream_timeout_at_most)
{
    admin_.command({"SET", "lease:{summary:orphan:all}", "dead-owner", "PX", "60000"});
    constexpr auto upstream_timeout = 500ms;
    stub_.set_latency(100ms);  // neither worker's call ends before the other gives up too
    double took_ms = 0;
    std::vector<summary_answer> answers(4);
    with_workers(
        2, true,
        [&](workers_t& workers) -> net::awaitable<void> {
            const auto start = steady_clock::now();
            co_await spawn_all(4, [&](int i) -> net::awaitable<void> {
                answers[static_cast<std::size_t>(i)] =
                    co_await workers[static_cast<std::size_t>(i) % 2]->summaries.get("orphan",
                                                                                     period::all);
            });
            took_ms = elapsed_ms(start);
        },
        upstream_timeout);
    report("orphaned_lease_waiters_answered_after_ms", took_ms, "ms");
    for (const auto& a : answers) {
        EXPECT_EQ(a.outcome, summary_answer::kind::miss);
    }
    // Each worker waited, then computed once: a duplicate call per waiting worker, no hang.
    EXPECT_GE(took_ms, static_cast<double>(upstream_timeout.count()));
    EXPECT_LT(took_ms, static_cast<double>(upstream_timeout.count()) + 1000.0);
    EXPECT_EQ(stub_.calls(), 2);
    EXPECT_EQ(admin_.command({"EXISTS", "summary:orphan:all"}), ":1");
}

TEST_F(summary_service_redis, an_owner_whose_call_fails_releases_its_lease_for_the_next_miss)
{
    stub_.set_status(503);
    stub_.set_latency(100ms);
    std::vector<summary_answer> answers(2);
    double took_ms = 0;
    with_workers(2, true, [&](workers_t& workers) -> net::awaitable<void> {
        const auto start = steady_clock::now();
        co_await spawn_all(2, [&](int i) -> net::awaitable<void> {
            answers[static_cast<std::size_t>(i)] =
                co_await workers[static_cast<std::size_t>(i)]->summaries.get("failing",
                                                                             period::all);
        });
        took_ms = elapsed_ms(start);
    });
    // The waiter did not sit out its 3 s: it took the released lease and called itself.
    EXPECT_LT(took_ms, 3000.0);
    EXPECT_EQ(stub_.calls(), 2);
    for (const auto& a : answers) {
        EXPECT_EQ(a.outcome, summary_answer::kind::upstream_failed);
    }
    EXPECT_EQ(admin_.command({"EXISTS", "lease:{summary:failing:all}"}), ":0");
}

// Redis stalls: the lookup times out here but runs once Redis wakes, taking the lease for a
// request that already answered 503. Left there, it would hold every later request for the key
// up to the upstream timeout.
TEST_F(summary_service_redis, a_lookup_that_timed_out_leaves_no_lease_behind)
{
    summary_answer answer;
    with_workers(
        1, true,
        [&](workers_t& workers) -> net::awaitable<void> {
            admin_.command({"CLIENT", "PAUSE", "300", "WRITE"});
            answer = co_await workers[0]->summaries.get("late", period::all);
            co_await sleep_for(500ms);  // the pause is over, the lookup has run
        },
        3s, 100ms);
    EXPECT_EQ(answer.outcome, summary_answer::kind::storage_unavailable);
    EXPECT_EQ(admin_.command({"EXISTS", "lease:{summary:late:all}"}), ":0");
}

TEST_F(summary_service_redis, a_summary_of_nothing_is_cached_without_a_stale_copy)
{
    with_workers(1, true, [&](workers_t& workers) -> net::awaitable<void> {
        auto empty = co_await workers[0]->summaries.get("never_stored", period::all);
        EXPECT_EQ(empty.outcome, summary_answer::kind::miss);
        co_await add_point(*workers[0], "stored", 1.5);
        auto stored = co_await workers[0]->summaries.get("stored", period::all);
        EXPECT_EQ(stored.outcome, summary_answer::kind::miss);
    });
    const long long ttl = admin_.integer({"TTL", "summary:never_stored:all"});
    EXPECT_GT(ttl, 0);
    EXPECT_LE(ttl, 300);
    EXPECT_EQ(admin_.command({"EXISTS", "stale:summary:never_stored:all"}), ":0");
    EXPECT_EQ(admin_.command({"EXISTS", "stale:summary:stored:all"}), ":1");
    EXPECT_EQ(admin_.command({"EXISTS", "lease:{summary:stored:all}"}), ":0");
}

TEST_F(summary_service_redis, hits_from_the_local_copy_make_no_redis_call)
{
    with_workers(1, true, [&](workers_t& workers) -> net::awaitable<void> {
        auto first = co_await workers[0]->summaries.get("hot", period::all);
        EXPECT_EQ(first.outcome, summary_answer::kind::miss);
        admin_.command({"CONFIG", "RESETSTAT"});
        for (int i = 0; i < 100; ++i) {
            auto hit = co_await workers[0]->summaries.get("hot", period::all);
            EXPECT_EQ(hit.outcome, summary_answer::kind::hit);
        }
    });
    const std::string stats = admin_.command({"INFO", "commandstats"});
    EXPECT_EQ(stats.find("cmdstat_evalsha"), std::string::npos) << stats;
    EXPECT_EQ(stats.find("cmdstat_get:"), std::string::npos) << stats;
}

TEST_F(summary_service_redis, while_tracking_is_off_every_hit_reads_redis)
{
    with_workers(1, false, [&](workers_t& workers) -> net::awaitable<void> {
        auto& summaries = workers[0]->summaries;
        EXPECT_EQ((co_await summaries.get("untracked", period::all)).outcome,
                  summary_answer::kind::miss);
        EXPECT_EQ((co_await summaries.get("untracked", period::all)).outcome,
                  summary_answer::kind::hit);
        admin_.command({"DEL", "summary:untracked:all"});
        EXPECT_EQ((co_await summaries.get("untracked", period::all)).outcome,
                  summary_answer::kind::miss);
    });
    EXPECT_EQ(stub_.calls(), 2);
}

TEST_F(summary_service_redis, a_del_of_the_redis_key_reaches_the_local_copy_of_every_worker)
{
    with_workers(2, true, [&](workers_t& workers) -> net::awaitable<void> {
        co_await add_point(*workers[0], "changing", 1);
        for (auto& w : workers) {
            (void)co_await w->summaries.get("changing", period::all);
            auto hit = co_await w->summaries.get("changing", period::all);
            EXPECT_EQ(hit.outcome, summary_answer::kind::hit);
            EXPECT_NE(hit.body.find(R"("count":1)"), std::string::npos);
        }
        co_await add_point(*workers[0], "changing", 2);  // not seen until the key goes
        admin_.command({"DEL", "summary:changing:all"});
        const auto start = steady_clock::now();
        for (auto& w : workers) {
            bool fresh = false;
            while (!fresh && elapsed_ms(start) < 1000.0) {
                auto a = co_await w->summaries.get("changing", period::all);
                fresh = a.body.find(R"("count":2)") != std::string::npos;
                if (!fresh) {
                    co_await sleep_for(5ms);
                }
            }
            EXPECT_TRUE(fresh) << "a worker still served the deleted summary after 1 s";
        }
        report("del_seen_by_both_workers_after_ms", elapsed_ms(start), "ms");
    });
    EXPECT_EQ(stub_.calls(), 2);
}

}  // namespace
}  // namespace analytics::metrics
