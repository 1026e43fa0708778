// The metric store against a real redis-server (REDIS_TEST_PORT, and private ones for outages):
// a batch of metrics added in one loop turn must leave Redis exactly as adding them one at a
// time does (members, rollups, expiries, list and summaries), keep the count cap and the
// retention trim, and acknowledge none of its callers when it fails.

#include "metrics/metric_store.hpp"
#include "metrics/rollup.hpp"
#include "ratelimit/local_backstop.hpp"
#include "ratelimit/outage_log.hpp"
#include "ratelimit/sliding_window_limiter.hpp"
#include "support/coro_helpers.hpp"
#include "support/fake_clock.hpp"
#include "support/redis_admin.hpp"
#include "support/redis_server.hpp"
#include "support/rollups.hpp"
#include "support/run_coro.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace analytics::metrics {
namespace {

using test::client_options_for;
using test::elapsed_ms;
using test::eventually;
using test::spawn_all;

using namespace std::chrono_literals;
using steady_clock = std::chrono::steady_clock;

constexpr std::int64_t minute_us = 60'000'000;

config::metrics_options store_options(std::chrono::seconds retention = 3600s,
                                      std::uint32_t max_points = 100'000)
{
    config::metrics_options o;
    o.retention = retention;
    o.max_points_per_type = max_points;
    return o;
}

metric point(std::string type, std::int64_t micros, double value)
{
    metric m;
    m.type = std::move(type);
    m.timestamp.micros = micros;
    m.value = value;
    return m;
}

// The elements of an array reply as admin_connection prints it ("*2 $a $b"), without the '$'.
std::vector<std::string> elements(const std::string& reply)
{
    std::vector<std::string> out;
    std::istringstream in(reply);
    std::string word;
    in >> word;  // "*n"
    while (in >> word) {
        out.push_back(word.starts_with('$') ? word.substr(1) : word);
    }
    return out;
}

// A point's member without its arrival number, which depends on how points were batched (a
// batch's first number, then the point's place in the batch): its order key and the rest.
std::string without_arrival(const std::string& member)
{
    const auto rest = member.find('|');
    return rest == std::string::npos || rest < order_key_size
               ? member
               : member.substr(0, order_key_size) + member.substr(rest);
}

// Everything in the database: per key its type, content and absolute expiry. A sorted set's
// members are listed in its order, without their arrival numbers: the order shows arrival.
std::map<std::string, std::string> snapshot(test::admin_connection& admin)
{
    std::map<std::string, std::string> out;
    for (const std::string& key : elements(admin.command({"KEYS", "*"}))) {
        const std::string type = admin.command({"TYPE", key});
        std::string content;
        if (type == "+zset") {
            for (const std::string& member : elements(admin.command({"ZRANGE", key, "0", "-1"}))) {
                content += without_arrival(member) + ' ';
            }
        } else {
            content = admin.command({"GET", key});
        }
        out[key] = type + " " + content + " expires " + admin.command({"PEXPIRETIME", key});
    }
    return out;
}

// One API worker as far as metrics go: its own connection and store.
struct instance {
    instance(net::io_context& ioc, std::uint16_t port, const config::metrics_options& options,
             const common::clock& clock, std::chrono::milliseconds timeout = 1s)
        : redis(ioc.get_executor(), client_options_for(port)), store(redis, options, timeout, clock)
    {
        net::co_spawn(ioc, redis.run(), [this](std::exception_ptr) { run_returned = true; });
    }

    redis::client redis;
    metric_store store;
    bool run_returned = false;
};

class metric_store_redis : public ::testing::Test {
protected:
    metric_store_redis() { admin_.command({"FLUSHDB"}); }

    // Runs `body` once the instance is connected (when asked), then stops it.
    void run(instance& api, std::function<net::awaitable<void>()> body, bool wait_connected = true)
    {
        test::run_coro(
            ioc_,
            [&]() -> net::awaitable<void> {
                std::exception_ptr failure;
                try {
                    if (wait_connected) {
                        const bool up =
                            co_await eventually([&] { return api.redis.connected(); }, 5s);
                        EXPECT_TRUE(up) << "the client did not connect";
                    }
                    co_await body();
                } catch (...) {
                    failure = std::current_exception();
                }
                api.store.stop();
                api.redis.stop();
                if (failure) {
                    std::rethrow_exception(failure);
                }
            }(),
            30s);
        EXPECT_TRUE(api.run_returned) << "run() did not return after stop()";
    }

    // Adds every point in one loop turn (one batch) and counts the acknowledged ones.
    static net::awaitable<int> add_together(metric_store& store, const std::vector<metric>& ms)
    {
        int stored = 0;
        co_await spawn_all(static_cast<int>(ms.size()), [&](int i) -> net::awaitable<void> {
            const auto r = co_await store.add(ms[static_cast<std::size_t>(i)]);
            stored += r ? 1 : 0;
        });
        co_return stored;
    }

    // What a client can read back: the lists and every summary of `types`.
    static net::awaitable<std::vector<std::string>> read_back(metric_store& store,
                                                              std::vector<std::string> types)
    {
        std::vector<std::string> out;
        auto all = co_await store.list_json("", 1000);
        out.push_back(all ? *all : "list failed");
        for (const std::string& t : types) {
            auto list = co_await store.list_json(t, 1000);
            out.push_back(list ? *list : "list failed");
            for (const period p : {period::all, period::daily, period::hourly}) {
                auto s = co_await store.summarize(t, p);
                std::ostringstream text;
                if (s) {
                    text << t << ' ' << to_string(p) << ' ' << s->count << ' ' << s->sum << ' '
                         << s->min << ' ' << s->max << ' ' << s->latest;
                } else {
                    text << "summary failed";
                }
                out.push_back(text.str());
            }
        }
        co_return out;
    }

    net::io_context ioc_;
    test::admin_connection admin_{test::redis_test_port()};
    // Stopped, but at the real time: buckets expire by Redis's clock (PEXPIREAT).
    test::fake_clock clock_{std::chrono::system_clock::now()};
};

// Several types and buckets, timestamp ties, arrivals out of timestamp order, a point past the
// retention (1 h), one ahead within the future horizon and one beyond it. The values are exact
// in binary, so sums cannot depend on the order of additions.
std::vector<metric> mixed_points(std::int64_t now_us)
{
    return {
        point("cpu", now_us - 5 * minute_us, 10.5),
        point("mem", now_us - 5 * minute_us, 512),
        point("cpu", now_us - 5 * minute_us, 20.25),   // tie with the first: the latest
        point("cpu", now_us - 70 * minute_us, 99.75),  // another minute and hour, past retention
        point("disk", now_us - 30 * minute_us, -3.5),
        point("cpu", now_us - 6 * minute_us, 5),            // older than what came before
        point("mem", now_us + 30'000'000, 256),             // half a minute ahead
        point("mem", now_us + 2 * 1440 * minute_us, 1024),  // beyond the horizon: total only
        point("disk", now_us - 30 * minute_us, -3.5),       // same timestamp and value
        point("cpu", now_us - 5 * minute_us + 1, 0.125),
        point("disk", now_us - 31 * minute_us, 7.75),
        point("mem", now_us - 5 * minute_us, 128),
    };
}

TEST_F(metric_store_redis, a_batch_stores_exactly_what_adding_one_by_one_stores)
{
    const std::int64_t now_us =
        std::chrono::duration_cast<std::chrono::microseconds>(clock_.now().time_since_epoch())
            .count();
    const std::vector<metric> points = mixed_points(now_us);
    const std::vector<std::string> types{"cpu", "mem", "disk"};
    // Seeds added one by one first, so that the batch also folds into existing rollups.
    const std::vector<metric> seeds{point("cpu", now_us - 5 * minute_us, 1.5),
                                    point("disk", now_us - 40 * minute_us, 2)};

    instance api(ioc_, test::redis_test_port(), store_options(), clock_);
    std::map<std::string, std::string> one_by_one;
    std::map<std::string, std::string> fresh_batch;
    std::map<std::string, std::string> seeded_batch;
    std::vector<std::string> read_one_by_one;
    std::vector<std::string> read_fresh_batch;
    std::vector<std::string> read_seeded_batch;
    run(api, [&]() -> net::awaitable<void> {
        for (const metric& m : seeds) {
            EXPECT_TRUE(co_await api.store.add(m));
        }
        for (const metric& m : points) {
            EXPECT_TRUE(co_await api.store.add(m));
        }
        one_by_one = snapshot(admin_);
        read_one_by_one = co_await read_back(api.store, types);

        admin_.command({"FLUSHDB"});
        for (const metric& m : seeds) {
            EXPECT_TRUE(co_await api.store.add(m));
        }
        const auto batches = api.store.ingest_batches();
        EXPECT_EQ(co_await add_together(api.store, points), static_cast<int>(points.size()));
        EXPECT_EQ(api.store.ingest_batches(), batches + 1);
        seeded_batch = snapshot(admin_);
        read_seeded_batch = co_await read_back(api.store, types);

        // All in one batch, into fresh keys.
        admin_.command({"FLUSHDB"});
        std::vector<metric> all = seeds;
        all.insert(all.end(), points.begin(), points.end());
        EXPECT_EQ(co_await add_together(api.store, all), static_cast<int>(all.size()));
        fresh_batch = snapshot(admin_);
        read_fresh_batch = co_await read_back(api.store, types);
    });

    // The expected layout: 3 totals, 2 sets + index, seq, and the buckets.
    EXPECT_GT(one_by_one.size(), 10U);
    EXPECT_EQ(one_by_one.count("metrics:{cpu}:total"), 1U);
    EXPECT_EQ(seeded_batch, one_by_one);
    EXPECT_EQ(fresh_batch, one_by_one);
    EXPECT_EQ(read_seeded_batch, read_one_by_one);
    EXPECT_EQ(read_fresh_batch, read_one_by_one);
    // The point past the retention only counts in the rollups; the tie's later arrival is the
    // latest value.
    EXPECT_EQ(admin_.command({"ZCARD", "metrics:{cpu}:points"}), ":5");
    EXPECT_EQ(test::rollup_field(admin_, "metrics:{cpu}:total", 0), "6");
    EXPECT_EQ(test::rollup_field(admin_, "metrics:{cpu}:total", 5), "0.125");
}

TEST_F(metric_store_redis, a_batch_of_arbitrary_values_sums_like_one_by_one_into_fresh_keys)
{
    const std::int64_t now_us =
        std::chrono::duration_cast<std::chrono::microseconds>(clock_.now().time_since_epoch())
            .count();
    std::vector<metric> points;
    for (int i = 0; i < 40; ++i) {
        points.push_back(
            point(i % 3 == 0 ? "a" : "b", now_us - (i % 7) * minute_us, 0.1 * i + 1.0 / (i + 3)));
    }
    instance api(ioc_, test::redis_test_port(), store_options(), clock_);
    std::map<std::string, std::string> one_by_one;
    std::map<std::string, std::string> batch;
    run(api, [&]() -> net::awaitable<void> {
        for (const metric& m : points) {
            EXPECT_TRUE(co_await api.store.add(m));
        }
        one_by_one = snapshot(admin_);
        admin_.command({"FLUSHDB"});
        EXPECT_EQ(co_await add_together(api.store, points), 40);
        batch = snapshot(admin_);
    });
    EXPECT_EQ(batch, one_by_one);
}

// Earlier builds put a point's own arrival number where a member now holds its batch's first
// one and its place in the batch. A point stored now, with the same timestamp as one stored
// then, still sorts after it and lists before it.
TEST_F(metric_store_redis, a_tie_with_a_point_an_earlier_build_stored_lists_the_later_arrival_first)
{
    const std::int64_t now_us =
        std::chrono::duration_cast<std::chrono::microseconds>(clock_.now().time_since_epoch())
            .count();
    instance api(ioc_, test::redis_test_port(), store_options(), clock_);
    std::string all;
    std::string of_type;
    run(api, [&]() -> net::awaitable<void> {
        EXPECT_TRUE(co_await api.store.add(point("tie", now_us, 1)));
        // Rewritten as an earlier build stored it: the first arrival, number 1.
        const std::vector<std::string> members =
            elements(admin_.command({"ZRANGE", "metrics:{tie}:points", "0", "-1"}));
        EXPECT_EQ(members.size(), 1U);
        if (members.size() != 1) {
            co_return;
        }
        const std::string earlier = metric_store::order_key(now_us) + "0000000000000001" +
                                    members[0].substr(members[0].find('|'));
        EXPECT_NE(earlier, members[0]);
        for (const char* key : {"metrics:{tie}:points", "metrics:index:points"}) {
            admin_.command({"DEL", key});
            admin_.command({"ZADD", key, "0", earlier});
        }
        EXPECT_EQ(admin_.command({"GET", "metrics:index:seq"}), "$1");

        EXPECT_TRUE(co_await api.store.add(point("tie", now_us, 2)));
        auto a = co_await api.store.list_json("", 10);
        auto t = co_await api.store.list_json("tie", 10);
        all = a ? *a : "list failed";
        of_type = t ? *t : "list failed";
    });
    for (const std::string& list : {all, of_type}) {
        const auto later = list.find("\"value\":2");
        const auto earlier = list.find("\"value\":1");
        EXPECT_NE(later, std::string::npos) << list;
        EXPECT_NE(earlier, std::string::npos) << list;
        EXPECT_LT(later, earlier) << list;
    }
}

TEST_F(metric_store_redis, batches_keep_the_count_cap_on_type_sets_and_the_index)
{
    const std::int64_t now_us =
        std::chrono::duration_cast<std::chrono::microseconds>(clock_.now().time_since_epoch())
            .count();
    instance api(ioc_, test::redis_test_port(), store_options(3600s, 5), clock_);
    std::vector<metric> first;
    std::vector<metric> second;
    for (int i = 0; i < 12; ++i) {
        first.push_back(point("capped", now_us - (30 - i) * 1'000'000, i));
        second.push_back(
            point(i % 2 == 0 ? "capped" : "other", now_us - (20 - i) * 1'000'000, 100 + i));
    }
    std::string newest;
    run(api, [&]() -> net::awaitable<void> {
        EXPECT_EQ(co_await add_together(api.store, first), 12);
        EXPECT_EQ(admin_.command({"ZCARD", "metrics:{capped}:points"}), ":5");
        EXPECT_EQ(admin_.command({"ZCARD", "metrics:index:points"}), ":5");
        EXPECT_EQ(co_await add_together(api.store, second), 12);
        auto list = co_await api.store.list_json("capped", 10);
        newest = list ? *list : "";
    });
    EXPECT_EQ(admin_.command({"ZCARD", "metrics:{capped}:points"}), ":5");
    EXPECT_EQ(admin_.command({"ZCARD", "metrics:{other}:points"}), ":5");
    EXPECT_EQ(admin_.command({"ZCARD", "metrics:index:points"}), ":5");
    // The five newest of "capped" are the second batch's even ones, newest first.
    EXPECT_NE(newest.find(R"("value":110,)"), std::string::npos) << newest;
    EXPECT_NE(newest.find(R"("value":102,)"), std::string::npos) << newest;
    EXPECT_EQ(newest.find(R"("value":100,)"), std::string::npos) << newest;
    // Trimming never touches the rollups.
    EXPECT_EQ(test::rollup_field(admin_, "metrics:{capped}:total", 0), "18");
}

TEST_F(metric_store_redis, batches_trim_points_past_the_retention)
{
    instance api(ioc_, test::redis_test_port(), store_options(60s), clock_);
    run(api, [&]() -> net::awaitable<void> {
        auto now_us = [&] {
            return std::chrono::duration_cast<std::chrono::microseconds>(
                       clock_.now().time_since_epoch())
                .count();
        };
        std::vector<metric> early;
        for (int i = 0; i < 5; ++i) {
            early.push_back(point("ret", now_us() - 10'000'000, i));
        }
        EXPECT_EQ(co_await add_together(api.store, early), 5);
        EXPECT_EQ(admin_.command({"ZCARD", "metrics:{ret}:points"}), ":5");

        // Two minutes later the early points are past the retention; any 256 consecutive
        // arrivals include a multiple of 256, so one batch of 256 trims them.
        clock_.advance(120s);
        std::vector<metric> later;
        for (int i = 0; i < 256; ++i) {
            later.push_back(point("ret", now_us() - 1'000'000, 10 + i));
        }
        EXPECT_EQ(co_await add_together(api.store, later), 256);
    });
    EXPECT_EQ(admin_.command({"ZCARD", "metrics:{ret}:points"}), ":256");
    EXPECT_EQ(admin_.command({"ZCARD", "metrics:index:points"}), ":256");
    EXPECT_EQ(test::rollup_field(admin_, "metrics:{ret}:total", 0), "261");
}

TEST_F(metric_store_redis, lists_no_point_past_the_retention_before_a_trim_removes_it)
{
    instance api(ioc_, test::redis_test_port(), store_options(60s), clock_);
    std::string before;
    std::string after;
    std::string after_all;
    run(api, [&]() -> net::awaitable<void> {
        const std::int64_t now_us =
            std::chrono::duration_cast<std::chrono::microseconds>(clock_.now().time_since_epoch())
                .count();
        const std::vector<metric> points{point("old", now_us - 30'000'000, 1.5),
                                         point("old", now_us - 10'000'000, 2.5)};
        EXPECT_EQ(co_await add_together(api.store, points), 2);
        auto listed = co_await api.store.list_json("old", 10);
        before = listed ? *listed : "failed";
        // 40 s later the first point is past the 60 s retention, the second is not; no batch
        // has trimmed since.
        clock_.advance(40s);
        listed = co_await api.store.list_json("old", 10);
        after = listed ? *listed : "failed";
        listed = co_await api.store.list_json("", 10);
        after_all = listed ? *listed : "failed";
    });
    EXPECT_EQ(admin_.command({"ZCARD", "metrics:{old}:points"}), ":2");
    EXPECT_NE(before.find(R"("value":1.5,)"), std::string::npos) << before;
    EXPECT_NE(before.find(R"("value":2.5,)"), std::string::npos) << before;
    EXPECT_EQ(after.find(R"("value":1.5,)"), std::string::npos) << after;
    EXPECT_NE(after.find(R"("value":2.5,)"), std::string::npos) << after;
    EXPECT_EQ(after_all.find(R"("value":1.5,)"), std::string::npos) << after_all;
    EXPECT_NE(after_all.find(R"("value":2.5,)"), std::string::npos) << after_all;
}

TEST_F(metric_store_redis, a_rollup_in_the_text_form_of_earlier_builds_is_merged_into)
{
    const std::int64_t now_us =
        std::chrono::duration_cast<std::chrono::microseconds>(clock_.now().time_since_epoch())
            .count();
    // 3 points summing to 7.5, min 0.5, max 4, the newest (an hour ago) 2.
    const std::string newest = metric_store::order_key(now_us - 3'600'000'000);
    admin_.command({"SET", "metrics:{old}:total", "3 7.5 0.5 4 " + newest + " 2"});
    // Neither a rollup of this build nor of an earlier one: replaced.
    admin_.command({"SET", "metrics:{odd}:total", "3 7.5 0.5 4"});
    instance api(ioc_, test::redis_test_port(), store_options(), clock_);
    std::optional<summary> all;
    run(api, [&]() -> net::awaitable<void> {
        EXPECT_TRUE(co_await api.store.add(point("old", now_us, 6)));
        EXPECT_TRUE(co_await api.store.add(point("odd", now_us, 6)));
        auto s = co_await api.store.summarize("old", period::all);
        EXPECT_TRUE(s);
        if (s) {
            all = *s;
        }
    });
    EXPECT_EQ(test::rollup_field(admin_, "metrics:{old}:total", 0), "4");
    EXPECT_EQ(test::rollup_field(admin_, "metrics:{old}:total", 1), "13.5");
    EXPECT_EQ(test::rollup_field(admin_, "metrics:{old}:total", 2), "0.5");
    EXPECT_EQ(test::rollup_field(admin_, "metrics:{old}:total", 3), "6");
    EXPECT_EQ(test::rollup_field(admin_, "metrics:{old}:total", 5), "6");
    // Now in this build's form.
    const std::string stored = admin_.command({"GET", "metrics:{old}:total"});
    EXPECT_EQ(stored.size(), 1 + rollup_size);
    EXPECT_EQ(test::rollup_field(admin_, "metrics:{odd}:total", 0), "1");
    ASSERT_TRUE(all);
    EXPECT_EQ(all->count, 4U);
    EXPECT_DOUBLE_EQ(all->sum, 13.5);
    EXPECT_DOUBLE_EQ(all->latest, 6);
}

TEST_F(metric_store_redis, a_batch_with_an_error_reply_acknowledges_none_of_its_callers)
{
    const std::int64_t now_us =
        std::chrono::duration_cast<std::chrono::microseconds>(clock_.now().time_since_epoch())
            .count();
    // A key of the wrong type makes the script fail on this type's point set.
    admin_.command({"SET", "metrics:{broken}:points", "not a sorted set"});
    instance api(ioc_, test::redis_test_port(), store_options(), clock_);
    std::vector<result<void>> outcomes;
    run(api, [&]() -> net::awaitable<void> {
        const std::vector<metric> batch{point("fine", now_us, 1), point("broken", now_us, 2),
                                        point("fine", now_us, 3)};
        co_await spawn_all(3, [&](int i) -> net::awaitable<void> {
            outcomes.push_back(co_await api.store.add(batch[static_cast<std::size_t>(i)]));
        });
        // The next batch is on its own again.
        EXPECT_TRUE(co_await api.store.add(point("fine", now_us, 4)));
    });
    ASSERT_EQ(outcomes.size(), 3U);
    for (const auto& o : outcomes) {
        ASSERT_FALSE(o);
        EXPECT_EQ(o.error(), redis::make_error_code(redis::errc::server_error));
    }
    // The point sets are checked before anything is written, so the failed batch left no trace.
    EXPECT_EQ(test::rollup_field(admin_, "metrics:{fine}:total", 0), "1");
    EXPECT_EQ(admin_.command({"ZCARD", "metrics:{fine}:points"}), ":1");
}

TEST_F(metric_store_redis, a_batch_fails_every_caller_when_redis_is_gone_or_stalled)
{
    test::redis_process server;
    const std::int64_t now_us =
        std::chrono::duration_cast<std::chrono::microseconds>(clock_.now().time_since_epoch())
            .count();
    instance api(ioc_, server.port(), store_options(), clock_, 50ms);
    std::vector<metric> batch;
    for (int i = 0; i < 10; ++i) {
        batch.push_back(point("gone", now_us, i));
    }
    int stored_while_frozen = -1;
    int stored_while_down = -1;
    double frozen_took_ms = 0;
    run(api, [&]() -> net::awaitable<void> {
        // Stalled: every caller fails at the batch's deadline, counted from its first add.
        server.freeze();
        const auto start = steady_clock::now();
        stored_while_frozen = co_await add_together(api.store, batch);
        frozen_took_ms = elapsed_ms(start);
        server.thaw();

        server.kill();
        EXPECT_TRUE(co_await eventually([&] { return !api.redis.connected(); }, 2s));
        stored_while_down = co_await add_together(api.store, batch);
    });
    EXPECT_EQ(stored_while_frozen, 0);
    EXPECT_GE(frozen_took_ms, 49.0);
    EXPECT_LT(frozen_took_ms, 500.0);
    EXPECT_EQ(stored_while_down, 0);
}

// The checks of a batch are decided by its script call, in arrival order, and only admitted
// metrics are stored: the first batch holds a refusal, so it writes nothing and its admitted
// metrics are stored again without checks; a batch whose checks all pass stores at once.
TEST_F(metric_store_redis, admit_and_add_stores_exactly_the_metrics_the_limit_admits)
{
    config::ratelimit_options limits;
    limits.requests = 3;
    limits.window = 60s;
    ratelimit::local_backstop backstop(limits, clock_);
    ratelimit::outage_log outages(clock_);
    instance api(ioc_, test::redis_test_port(), store_options(), clock_);
    ratelimit::sliding_window_limiter limiter(api.redis, limits, 1s, backstop, outages, clock_);
    const std::int64_t now_us =
        std::chrono::duration_cast<std::chrono::microseconds>(clock_.now().time_since_epoch())
            .count();
    const std::string crowded = "203.0.113.9";
    const std::string alone = "198.51.100.2";

    std::vector<std::pair<int, ratelimit::decision>> stored;
    std::vector<std::pair<int, ratelimit::decision>> refused;
    std::uint64_t first_batches = 0;
    std::uint64_t second_batches = 0;
    run(api, [&]() -> net::awaitable<void> {
        const auto before = api.store.ingest_batches();
        // Values 0..4 from the crowded client, 5 from the other one: one loop turn.
        co_await spawn_all(6, [&](int i) -> net::awaitable<void> {
            ratelimit::admission check(limiter, i < 5 ? crowded : alone, clock_.steady_now());
            const auto r = co_await api.store.admit_and_add(point("limited", now_us, i), check);
            EXPECT_TRUE(r) << r.error().message();
            EXPECT_TRUE(check.settled());
            if (r) {
                auto& into = *r == metric_store::admitted::stored ? stored : refused;
                into.emplace_back(i, check.result());
            }
        });
        first_batches = api.store.ingest_batches() - before;

        // One more from the other client: every check of its batch passes.
        const auto again = api.store.ingest_batches();
        ratelimit::admission check(limiter, alone, clock_.steady_now());
        const auto r = co_await api.store.admit_and_add(point("limited", now_us, 6), check);
        EXPECT_TRUE(r && *r == metric_store::admitted::stored);
        second_batches = api.store.ingest_batches() - again;
    });

    std::vector<int> stored_values;
    for (const auto& [value, d] : stored) {
        stored_values.push_back(value);
        EXPECT_TRUE(d.allowed);
        EXPECT_EQ(d.source, ratelimit::decision_source::redis);
    }
    std::sort(stored_values.begin(), stored_values.end());
    EXPECT_EQ(stored_values, (std::vector<int>{0, 1, 2, 5}));
    ASSERT_EQ(refused.size(), 2U);
    for (const auto& [value, d] : refused) {
        EXPECT_GE(value, 3);
        EXPECT_FALSE(d.allowed);
        EXPECT_EQ(d.source, ratelimit::decision_source::redis);
        EXPECT_GT(d.retry_after.count(), 0);
    }
    // The checked batch that wrote nothing, then its admitted metrics on their own.
    EXPECT_EQ(first_batches, 2U);
    EXPECT_EQ(second_batches, 1U);
    EXPECT_EQ(admin_.command({"ZCARD", "metrics:{limited}:points"}), ":5");
    EXPECT_EQ(admin_.command({"ZCARD", "metrics:index:points"}), ":5");
    EXPECT_EQ(test::rollup_field(admin_, "metrics:{limited}:total", 0), "5");
    EXPECT_EQ(test::rollup_field(admin_, "metrics:{limited}:total", 3), "6");
    // Every request counted once: 3 of the crowded client's (refusals are not written) and 2 of
    // the other's.
    EXPECT_EQ(admin_.command({"HGET", ratelimit::sliding_window_limiter::key_for(crowded), "c"}),
              "$3");
    EXPECT_EQ(admin_.command({"HGET", ratelimit::sliding_window_limiter::key_for(alone), "c"}),
              "$2");
}

TEST_F(metric_store_redis, stop_fails_the_metrics_waiting_for_their_batch)
{
    instance api(ioc_, test::redis_test_port(), store_options(), clock_);
    std::vector<result<void>> outcomes;
    run(api, [&]() -> net::awaitable<void> {
        co_await spawn_all(4, [&](int i) -> net::awaitable<void> {
            if (i == 3) {
                // Runs after the three adds queued, before their batch is flushed.
                api.store.stop();
                co_return;
            }
            outcomes.push_back(co_await api.store.add(point("stopped", 0, i)));
        });
        outcomes.push_back(co_await api.store.add(point("stopped", 0, 9)));
    });
    ASSERT_EQ(outcomes.size(), 4U);
    for (const auto& o : outcomes) {
        ASSERT_FALSE(o);
        EXPECT_EQ(o.error(), redis::make_error_code(redis::errc::stopped));
    }
    EXPECT_EQ(admin_.command({"EXISTS", "metrics:{stopped}:total"}), ":0");
}

}  // namespace
}  // namespace analytics::metrics
