// The metric store against a real redis-server (REDIS_TEST_PORT): what is acknowledged is
// listed and summarised exactly as a brute-force model of the contract says (order with ties,
// type filter, per-type cap, every period), retention counts from arrival, types are capped
// exactly and forgotten when idle, sums stay finite, and Idempotency-Key repeats store nothing.

#include "metrics/metric_store.hpp"
#include "metrics/rollup.hpp"
#include "metrics/scripts.hpp"
#include "redis/key_tags.hpp"
#include "redis/slot.hpp"
#include "support/binary_block.hpp"
#include "support/coro_helpers.hpp"
#include "support/cutting_proxy.hpp"
#include "support/fake_clock.hpp"
#include "support/redis_admin.hpp"
#include "support/redis_cluster.hpp"
#include "support/redis_server.hpp"
#include "support/run_coro.hpp"
#include "support/stored_metrics.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace analytics::metrics {
namespace {

using test::client_options_for;
using test::eventually;
using test::spawn_all;

using namespace std::chrono_literals;

constexpr std::int64_t minute_us = 60'000'000;

config::metrics_options store_options(std::chrono::seconds retention = 3600s,
                                      std::uint32_t max_points = 100'000)
{
    config::metrics_options o;
    o.retention = retention;
    o.max_points_per_type = max_points;
    return o;
}

metric point(std::string type, std::int64_t micros, double value, int digits = 0)
{
    metric m;
    m.type = std::move(type);
    m.timestamp.micros = micros;
    m.timestamp.fraction_digits = digits;
    m.value = value;
    return m;
}

// One API worker as far as metrics go: its own connection and store.
struct instance {
    instance(net::io_context& ioc, std::uint16_t port, const config::metrics_options& options,
             const common::clock& clock, std::chrono::milliseconds timeout = 1s)
        : instance(ioc, client_options_for(port), options, clock, timeout)
    {
    }

    instance(net::io_context& ioc, const redis::client_options& client,
             const config::metrics_options& options, const common::clock& clock,
             std::chrono::milliseconds timeout, unsigned wait_replicas = 0)
        : redis(ioc.get_executor(), client), store(redis, options, timeout, clock, wait_replicas)
    {
        net::co_spawn(ioc, redis.run(), [this](std::exception_ptr) { run_returned = true; });
    }

    redis::client redis;
    metric_store store;
    bool run_returned = false;
};

// A listed item, as the JSON body says it.
struct item {
    std::string timestamp;
    double value = 0;
    std::string type;
    bool operator==(const item&) const = default;
};

void PrintTo(const item& i, std::ostream* os)
{
    *os << "{" << i.timestamp << " " << i.value << " " << i.type << "}";
}

std::vector<item> items_of(const std::string& body)
{
    std::vector<item> out;
    const boost::json::value doc = boost::json::parse(body);
    for (const auto& v : doc.as_array()) {
        const auto& o = v.as_object();
        out.push_back({std::string(o.at("timestamp").as_string()),
                       o.at("value").to_number<double>(), std::string(o.at("type").as_string())});
    }
    return out;
}

// The body a list of `items` must be, byte for byte: each timestamp and value as the
// formatting functions write them.
std::string body_of(const std::vector<metric>& items)
{
    std::string out = "[";
    for (const metric& m : items) {
        out += out.size() > 1 ? "," : "";
        out += R"({"timestamp":")" + common::format_rfc3339(m.timestamp) + R"(","value":)" +
               format_value(m.value) + R"(,"type":")" + m.type + R"("})";
    }
    return out + "]";
}

class metric_store_redis : public ::testing::Test {
protected:
    metric_store_redis()
    {
        admin_.command({"FLUSHDB"});
        // Arrival is the Redis server's time: the store's clock starts at the real time.
        clock_.set_wall(std::chrono::time_point_cast<common::clock::wall_time::duration>(
            std::chrono::system_clock::now()));
    }

    std::int64_t now_us() const
    {
        return std::chrono::duration_cast<std::chrono::microseconds>(
                   clock_.now().time_since_epoch())
            .count();
    }

    // Runs `body` once every instance is connected, then stops them.
    void run(std::vector<instance*> apis, std::function<net::awaitable<void>()> body)
    {
        test::run_coro(
            ioc_,
            [&]() -> net::awaitable<void> {
                std::exception_ptr failure;
                try {
                    for (instance* api : apis) {
                        const bool up =
                            co_await eventually([&] { return api->redis.connected(); }, 5s);
                        EXPECT_TRUE(up) << "the client did not connect";
                    }
                    co_await body();
                } catch (...) {
                    failure = std::current_exception();
                }
                for (instance* api : apis) {
                    api->store.stop();
                    api->redis.stop();
                }
                if (failure) {
                    std::rethrow_exception(failure);
                }
            }(),
            60s);
        for (instance* api : apis) {
            EXPECT_TRUE(api->run_returned) << "run() did not return after stop()";
        }
    }

    void run(instance& api, std::function<net::awaitable<void>()> body) { run({&api}, body); }

    static net::awaitable<void> add_ok(metric_store& store, const metric& m)
    {
        const auto r = co_await store.add(m, {}, {});
        EXPECT_TRUE(r && r->result == metric_store::outcome::kind::stored)
            << (r ? "not stored" : r.error().message());
    }

    test::admin_connection admin_{test::redis_test_port()};
    test::fake_clock clock_;
    net::io_context ioc_;
};

TEST_F(metric_store_redis, lists_a_back_dated_point_the_moment_it_is_acknowledged)
{
    instance api(ioc_, test::redis_test_port(), store_options(7 * 24h), clock_);
    run(api, [&]() -> net::awaitable<void> {
        // The seed's own example: a February timestamp, months before now.
        co_await add_ok(api.store, point("cpu_usage", 1'771'495'200'000'000, 60.5));
        co_await add_ok(api.store, point("cpu_usage", 1'771'495'260'000'000, 75.8));
        auto list = co_await api.store.list_json("cpu_usage", 10);
        CO_ASSERT_TRUE(list);
        EXPECT_EQ(items_of(*list),
                  (std::vector<item>{{"2026-02-19T10:01:00Z", 75.8, "cpu_usage"},
                                     {"2026-02-19T10:00:00Z", 60.5, "cpu_usage"}}));
        auto all = co_await api.store.list_json("", 10);
        CO_ASSERT_TRUE(all);
        EXPECT_EQ(items_of(*all).size(), 2U);
        auto s = co_await api.store.summarize("cpu_usage", period::all);
        CO_ASSERT_TRUE(s);
        EXPECT_EQ(s->count, 2U);
        EXPECT_DOUBLE_EQ(s->average(), 68.15);
    });
}

TEST_F(metric_store_redis, lists_many_blocks_of_one_timestamp_by_arrival)
{
    // Ingest stamped with whole seconds makes many blocks of equal newest timestamps: the list
    // must read only as many as it shows, and show the latest arrivals first.
    instance api(ioc_, test::redis_test_port(), store_options(), clock_);
    run(api, [&]() -> net::awaitable<void> {
        const std::int64_t t = now_us() / 1'000'000 * 1'000'000;
        for (int i = 0; i < 2000; ++i) {
            co_await add_ok(api.store, point("same", t, i));
        }
        for (const std::string_view type : {std::string_view("same"), std::string_view()}) {
            auto list = co_await api.store.list_json(type, 100);
            CO_ASSERT_TRUE(list);
            const auto items = items_of(*list);
            CO_ASSERT_TRUE(items.size() == 100U);
            for (std::size_t i = 0; i < items.size(); ++i) {
                EXPECT_EQ(items[i].value, 1999.0 - static_cast<double>(i));
            }
        }
    });
}

TEST_F(metric_store_redis, lists_blocks_of_earlier_builds_byte_for_byte_beside_new_ones)
{
    // Blocks whose values are doubles (the layout before value text) as Redis may still hold
    // them, written straight into the type's set and the tag's index, with a new block between.
    constexpr std::int64_t noon = 1'771'502'400'000'000;  // 2026-02-19T12:00:00Z
    const std::vector<block_point> first{{{noon + 3'000'000, 0}, -0.0, 0},
                                         {{noon + 1'250'000, 3}, 1e21, 1},
                                         {{noon, 0}, 0.1 + 0.2, 2}};
    const std::vector<block_point> second{{{noon - 1, 6}, 5e-324, 0}};
    const std::int64_t arrival = now_us();
    const std::string tag = tag_key_prefix(redis::tag_index("legacy"));
    for (const std::string& block :
         {test::binary_block(arrival, 1, minute_of(noon), "legacy", first),
          test::binary_block(arrival - 1, 2, minute_of(noon - 1), "legacy", second)}) {
        admin_.command({"ZADD", type_set_key("legacy"), "0", block});
        admin_.command({"ZADD", tag + "i", "0", block});
    }
    instance api(ioc_, test::redis_test_port(), store_options(), clock_);
    run(api, [&]() -> net::awaitable<void> {
        const metric added = point("legacy", noon + 2'000'000, 12.5, 1);
        co_await add_ok(api.store, added);
        // In list order: each block's points by timestamp, the new one among them.
        std::vector<metric> listed;
        for (const block_point& p : {first[0], first[1], first[2], second[0]}) {
            listed.push_back(
                point("legacy", p.timestamp.micros, p.value, p.timestamp.fraction_digits));
        }
        listed.insert(listed.begin() + 1, added);
        for (const std::string_view type : {std::string_view("legacy"), std::string_view()}) {
            auto list = co_await api.store.list_json(type, 10);
            CO_ASSERT_TRUE(list);
            EXPECT_EQ(*list, body_of(listed)) << "type \"" << type << '"';
        }
        auto page = co_await api.store.list_json("legacy", 2);
        CO_ASSERT_TRUE(page);
        listed.resize(2);
        EXPECT_EQ(*page, body_of(listed));
    });
}

TEST_F(metric_store_redis, the_retention_pass_removes_expired_blocks_from_their_types_set)
{
    // Store calls made directly, each looking for the retention pass; the second comes after
    // the first block's retention and must remove it from the index and from the type's set
    // (which the pass finds by the type the block names).
    instance api(ioc_, test::redis_test_port(), store_options(), clock_);
    const store_settings settings{10'000, 100'000, 86'400'000, 300'000};
    std::uint64_t nonce = 1;
    const auto store_at = [&](std::int64_t arrival_us) -> net::awaitable<void> {
        const std::vector<queued_metric> batch{
            {point("expiring", arrival_us, 1), arrival_us / 1000, 0}};
        const auto plans = plan_ingest(batch);
        store_call call(plans[0].tag, settings, arrival_us, nonce++, true);
        call.add_type(plans[0].types[0], arrival_us / 1000 + 86'400'000);
        const auto keys = call.keys();
        const auto args = call.args();
        auto r = co_await api.redis.eval(scripts::store(), keys, args, 1s);
        EXPECT_TRUE(r && store_call::read_reply(std::move(*r)));
    };
    const std::string index = index_key(redis::tag_index("expiring"));
    const std::int64_t t = now_us();
    run(api, [&]() -> net::awaitable<void> {
        co_await store_at(t);
        EXPECT_EQ(admin_.integer({"ZCARD", type_set_key("expiring")}), 1);
        co_await store_at(t + 11'000'000);
        EXPECT_EQ(admin_.integer({"ZCARD", index}), 1);
        EXPECT_EQ(admin_.integer({"ZCARD", type_set_key("expiring")}), 1)
            << "the expired block is still in the type's set";
    });
    const auto left = test::stored_points(admin_, "expiring");
    ASSERT_EQ(left.size(), 1U);
    EXPECT_EQ(left[0].timestamp.micros, t + 11'000'000);
}

TEST_F(metric_store_redis, retention_counts_from_arrival_not_from_the_timestamp)
{
    instance api(ioc_, test::redis_test_port(), store_options(10s), clock_);
    run(api, [&]() -> net::awaitable<void> {
        co_await add_ok(api.store, point("old", now_us() - 3600 * 1'000'000LL, 1));
        auto listed = co_await api.store.list_json("old", 10);
        CO_ASSERT_TRUE(listed);
        EXPECT_EQ(items_of(*listed).size(), 1U) << "a point older than the retention is listed";
        clock_.advance(9s);
        listed = co_await api.store.list_json("old", 10);
        CO_ASSERT_TRUE(listed);
        EXPECT_EQ(items_of(*listed).size(), 1U);
        clock_.advance(2s);
        listed = co_await api.store.list_json("old", 10);
        CO_ASSERT_TRUE(listed);
        EXPECT_TRUE(items_of(*listed).empty()) << "10 s after arrival it is gone";
        listed = co_await api.store.list_json("", 10);
        CO_ASSERT_TRUE(listed);
        EXPECT_TRUE(items_of(*listed).empty());
        auto s = co_await api.store.summarize("old", period::all);
        CO_ASSERT_TRUE(s);
        EXPECT_EQ(s->count, 1U) << "it still counts in the all-time summary";
    });
}

TEST_F(metric_store_redis, keeps_each_types_newest_points_by_timestamp_under_the_cap)
{
    instance api(ioc_, test::redis_test_port(), store_options(3600s, 3), clock_);
    run(api, [&]() -> net::awaitable<void> {
        const std::int64_t t = now_us();
        // Old and new points interleaved, in separate calls and in one batch.
        co_await add_ok(api.store, point("capped", t - 50 * minute_us, 1));
        co_await add_ok(api.store, point("capped", t, 2));
        const std::vector<metric> batch{point("capped", t - 40 * minute_us, 3),
                                        point("capped", t - 1, 4),
                                        point("capped", t - 90 * minute_us, 5)};
        auto b = co_await api.store.add_batch(batch, {}, {});
        CO_ASSERT_TRUE(b);
        co_await add_ok(api.store, point("capped", t - 2, 6));
        auto list = co_await api.store.list_json("capped", 10);
        CO_ASSERT_TRUE(list);
        std::vector<double> values;
        for (const auto& i : items_of(*list)) {
            values.push_back(i.value);
        }
        EXPECT_EQ(values, (std::vector<double>{2, 4, 6}));
        auto all = co_await api.store.list_json("", 10);
        CO_ASSERT_TRUE(all);
        EXPECT_EQ(items_of(*all).size(), 3U);
        auto s = co_await api.store.summarize("capped", period::all);
        CO_ASSERT_TRUE(s);
        EXPECT_EQ(s->count, 6U) << "the cap trims the list, not the summary";
    });
    // Physically, Redis holds at most the cap plus one minute's points beyond it.
    EXPECT_LE(test::stored_points(admin_, "capped").size(), 6U);
}

TEST_F(metric_store_redis, sums_of_huge_values_stay_finite)
{
    instance api(ioc_, test::redis_test_port(), store_options(), clock_);
    run(api, [&]() -> net::awaitable<void> {
        co_await add_ok(api.store, point("huge", now_us(), 1e308));
        co_await add_ok(api.store, point("huge", now_us(), 1e308));
        for (const period p : {period::all, period::daily, period::hourly}) {
            auto s = co_await api.store.summarize("huge", p);
            CO_ASSERT_TRUE(s);
            EXPECT_EQ(s->count, 2U);
            EXPECT_EQ(s->average(), 1e308) << to_string(p);
        }
    });
}

TEST_F(metric_store_redis, admits_at_most_the_capped_number_of_types_even_when_instances_race)
{
    auto options = store_options();
    options.max_types = 3;
    instance a(ioc_, test::redis_test_port(), options, clock_);
    instance b(ioc_, test::redis_test_port(), options, clock_);
    run({&a, &b}, [&]() -> net::awaitable<void> {
        co_await add_ok(a.store, point("one", now_us(), 1));
        co_await add_ok(b.store, point("two", now_us(), 1));
        // Two instances race for the last place, each with its own new type, many times over.
        std::vector<metric_store::outcome::kind> results(2);
        co_await spawn_all(2, [&](int i) -> net::awaitable<void> {
            metric_store& store = i == 0 ? a.store : b.store;
            auto r = co_await store.add(point(i == 0 ? "three_a" : "three_b", now_us(), 1), {}, {});
            EXPECT_TRUE(r);
            results[static_cast<std::size_t>(i)] =
                r ? r->result : metric_store::outcome::kind::stored;
        });
        const auto admitted =
            std::count(results.begin(), results.end(), metric_store::outcome::kind::stored);
        EXPECT_EQ(admitted, 1);
        EXPECT_EQ(
            std::count(results.begin(), results.end(), metric_store::outcome::kind::type_limit), 1);
        // A known type still stores; a batch with a new type stores nothing at all.
        co_await add_ok(a.store, point("one", now_us(), 2));
        const std::vector<metric> refused{point("two", now_us(), 3), point("four", now_us(), 3)};
        auto batch = co_await b.store.add_batch(refused, {}, {});
        CO_ASSERT_TRUE(batch);
        EXPECT_EQ(batch->result, metric_store::outcome::kind::type_limit);
        auto two = co_await a.store.summarize("two", period::all);
        CO_ASSERT_TRUE(two);
        EXPECT_EQ(two->count, 1U) << "the refused batch stored nothing";
    });
    EXPECT_EQ(admin_.integer({"ZCARD", std::string(type_registry::key())}), 3);
}

TEST_F(metric_store_redis, forgets_an_idle_type_with_all_its_data_and_frees_its_place)
{
    auto options = store_options(1s);
    options.type_idle = 2s;
    options.max_types = 1;
    instance api(ioc_, test::redis_test_port(), options, clock_);
    run(api, [&]() -> net::awaitable<void> {
        co_await add_ok(api.store, point("idle", now_us(), 5));
        auto refused = co_await api.store.add(point("other", now_us(), 1), {}, {});
        CO_ASSERT_TRUE(refused);
        EXPECT_EQ(refused->result, metric_store::outcome::kind::type_limit);
        // Redis expires the keys on its own clock; the store's clock follows it.
        co_await test::sleep_for(2300ms);
        clock_.advance(2300ms);
        auto s = co_await api.store.summarize("idle", period::all);
        CO_ASSERT_TRUE(s);
        EXPECT_EQ(s->count, 0U) << "forgotten with all its data";
        auto other = co_await api.store.add(point("other", now_us(), 1), {}, {});
        CO_ASSERT_TRUE(other);
        EXPECT_EQ(other->result, metric_store::outcome::kind::stored) << "its place is free again";
    });
    EXPECT_TRUE(test::stored_points(admin_, "idle").empty());
    EXPECT_FALSE(test::stored_rollup(admin_, "idle"));
}

TEST_F(metric_store_redis, a_repeated_idempotency_key_stores_nothing_and_answers_the_first_answer)
{
    instance api(ioc_, test::redis_test_port(), store_options(), clock_);
    run(api, [&]() -> net::awaitable<void> {
        auto first = co_await api.store.add(point("idem", now_us(), 1), "key-1", "first");
        CO_ASSERT_TRUE(first);
        EXPECT_EQ(first->result, metric_store::outcome::kind::stored);
        auto again = co_await api.store.add(point("idem", now_us(), 2), "key-1", "second");
        CO_ASSERT_TRUE(again);
        EXPECT_EQ(again->result, metric_store::outcome::kind::repeated);
        EXPECT_EQ(again->answer, "first");
        // The same key twice in one batch of concurrent requests: still stored once.
        std::vector<metric_store::outcome> outcomes(2);
        co_await spawn_all(2, [&](int i) -> net::awaitable<void> {
            auto r = co_await api.store.add(point("idem", now_us(), 3), "key-2", "third");
            EXPECT_TRUE(r);
            if (r) {
                outcomes[static_cast<std::size_t>(i)] = *r;
            }
        });
        EXPECT_EQ(outcomes[0].result, metric_store::outcome::kind::stored);
        EXPECT_EQ(outcomes[1].result, metric_store::outcome::kind::repeated);
        // A batch repeated with its key stores nothing more.
        const std::vector<metric> batch{point("idem", now_us(), 4), point("idem_b", now_us(), 4)};
        auto b1 = co_await api.store.add_batch(batch, "key-3", "batch answer");
        auto b2 = co_await api.store.add_batch(batch, "key-3", "other answer");
        CO_ASSERT_TRUE(b1 && b2);
        EXPECT_EQ(b1->result, metric_store::outcome::kind::stored);
        EXPECT_EQ(b2->result, metric_store::outcome::kind::repeated);
        EXPECT_EQ(b2->answer, "batch answer");
    });
    std::vector<double> values;
    for (const auto& p : test::stored_points(admin_, "idem")) {
        values.push_back(p.value);
    }
    std::sort(values.begin(), values.end());
    EXPECT_EQ(values, (std::vector<double>{1, 3, 4}));
    EXPECT_EQ(test::stored_points(admin_, "idem_b").size(), 1U);
}

TEST_F(metric_store_redis, a_retry_after_a_deadline_stores_once)
{
    // The call's reply comes after its deadline (the client gives up: a 503), but Redis stores
    // it; the client's retry with the same key must not store it again.
    instance api(ioc_, test::redis_test_port(), store_options(), clock_, 100ms);
    run(api, [&]() -> net::awaitable<void> {
        co_await add_ok(api.store, point("slow", now_us(), 0));  // registers the type
        admin_.command({"CLIENT", "PAUSE", "300", "WRITE"});
        auto first = co_await api.store.add(point("slow", now_us(), 1), "retry-me", "answer");
        EXPECT_FALSE(first) << "the deadline passed";
        co_await test::sleep_for(400ms);
        auto retry = co_await api.store.add(point("slow", now_us(), 1), "retry-me", "answer");
        CO_ASSERT_TRUE(retry);
        EXPECT_EQ(retry->result, metric_store::outcome::kind::repeated);
    });
    EXPECT_EQ(test::stored_points(admin_, "slow").size(), 2U);
}

// ---- The layout against brute force --------------------------------------------------------

// What the contract says a store holds, computed the slow way from every acknowledged point.
struct model_point {
    metric m;
    std::int64_t arrival = 0;  // the order points were acknowledged in
    std::uint32_t place = 0;
};

struct model {
    std::vector<model_point> points;
    std::uint32_t cap = 0;

    // Newest first; ties by later arrival, then later place in the request.
    static bool before(const model_point& a, const model_point& b)
    {
        if (a.m.timestamp.micros != b.m.timestamp.micros) {
            return a.m.timestamp.micros > b.m.timestamp.micros;
        }
        if (a.arrival != b.arrival) {
            return a.arrival > b.arrival;
        }
        return a.place > b.place;
    }

    std::vector<item> list(std::string_view type, unsigned limit) const
    {
        std::vector<model_point> sorted = points;
        std::sort(sorted.begin(), sorted.end(), before);
        std::map<std::string, std::uint32_t> seen;
        std::vector<item> out;
        for (const auto& p : sorted) {
            if (++seen[p.m.type] > cap || (!type.empty() && p.m.type != type)) {
                continue;
            }
            if (out.size() == limit) {
                break;
            }
            out.push_back({common::format_rfc3339(p.m.timestamp), p.m.value, p.m.type});
        }
        return out;
    }

    summary summarize(std::string_view type, period p, std::int64_t now_ms) const
    {
        const window_bounds w = window(p, now_ms);
        summary s;
        for (const auto& pt : points) {
            const std::int64_t ms = pt.m.timestamp.micros / 1000;
            if (pt.m.type == type && ms >= w.from_ms && ms < w.until_ms) {
                fold(s, pt.m.value, pt.m.timestamp.micros);
            }
        }
        return s;
    }
};

TEST_F(metric_store_redis, lists_and_summaries_match_a_brute_force_model)
{
    const std::uint32_t cap = 9;
    instance api(ioc_, test::redis_test_port(), store_options(24h, cap), clock_);
    model expected;
    expected.cap = cap;
    // "theta" shares alpha's hash tag and "eta" beta's, so that one store call holds several
    // types (and its blocks go into the tag's index together).
    const std::vector<std::string> types{"alpha", "beta", "gamma", "delta",
                                         "eps",   "zeta", "theta", "eta"};
    ASSERT_EQ(redis::tag_index("theta"), redis::tag_index("alpha"));
    ASSERT_EQ(redis::tag_index("eta"), redis::tag_index("beta"));
    run(api, [&]() -> net::awaitable<void> {
        std::mt19937 rng(20261207);
        const std::int64_t now = now_us();
        // Few distinct timestamps, so that ties are common; back-dated ones up to two days.
        std::vector<std::int64_t> stamps;
        for (int i = 0; i < 12; ++i) {
            stamps.push_back(now - static_cast<std::int64_t>(rng() % (48ULL * 60)) * minute_us -
                             static_cast<std::int64_t>(rng() % 60'000'000));
        }
        stamps.push_back(now + 120'000'000);  // ahead of now, within the allowed future
        std::int64_t arrival = 0;
        auto random_point = [&] {
            return point(types[rng() % types.size()], stamps[rng() % stamps.size()],
                         static_cast<double>(static_cast<int>(rng() % 2000) - 1000) / 8,
                         static_cast<int>(rng() % 4));
        };
        for (int op = 0; op < 70; ++op) {
            if (rng() % 3 == 0) {
                const metric m = random_point();
                co_await add_ok(api.store, m);
                expected.points.push_back({m, ++arrival, 0});
            } else {
                std::vector<metric> batch;
                const std::size_t n = 1 + rng() % 25;
                for (std::size_t i = 0; i < n; ++i) {
                    batch.push_back(random_point());
                }
                auto r = co_await api.store.add_batch(batch, {}, {});
                EXPECT_TRUE(r && r->result == metric_store::outcome::kind::stored);
                ++arrival;
                for (std::size_t i = 0; i < n; ++i) {
                    expected.points.push_back({batch[i], arrival, static_cast<std::uint32_t>(i)});
                }
            }
            // Lists between the writes: each starts from what the one before it needed to read,
            // while new blocks land above and below where that one stopped.
            if (op % 7 == 6) {
                const unsigned limit = op % 2 == 0 ? 5U : 40U;
                auto all = co_await api.store.list_json("", limit);
                CO_ASSERT_TRUE(all);
                EXPECT_EQ(items_of(*all), expected.list("", limit)) << "op " << op;
                const std::string& t = types[static_cast<std::size_t>(op) % types.size()];
                auto one = co_await api.store.list_json(t, limit);
                CO_ASSERT_TRUE(one);
                EXPECT_EQ(items_of(*one), expected.list(t, limit)) << t << ", op " << op;
            }
        }
        for (const unsigned limit : {1U, 4U, 30U, 1000U}) {
            auto all = co_await api.store.list_json("", limit);
            CO_ASSERT_TRUE(all);
            EXPECT_EQ(items_of(*all), expected.list("", limit)) << "all types, limit " << limit;
            for (const auto& t : types) {
                auto one = co_await api.store.list_json(t, limit);
                CO_ASSERT_TRUE(one);
                EXPECT_EQ(items_of(*one), expected.list(t, limit)) << t << ", limit " << limit;
            }
        }
        const std::int64_t now_ms = now / 1000;
        for (const auto& t : types) {
            for (const period p : {period::all, period::daily, period::hourly}) {
                auto got = co_await api.store.summarize(t, p);
                CO_ASSERT_TRUE(got);
                const summary want = expected.summarize(t, p, now_ms);
                EXPECT_EQ(got->count, want.count) << t << " " << to_string(p);
                if (want.count > 0 && got->count == want.count) {
                    EXPECT_NEAR(got->average(), want.average(), 1e-9) << t << " " << to_string(p);
                    EXPECT_EQ(got->min, want.min);
                    EXPECT_EQ(got->max, want.max);
                    EXPECT_EQ(got->latest, want.latest) << t << " " << to_string(p);
                }
            }
        }
    });
}

TEST_F(metric_store_redis, spreads_a_batch_over_its_types_tags)
{
    instance api(ioc_, test::redis_test_port(), store_options(), clock_);
    std::vector<metric> batch;
    for (int i = 0; i < 200; ++i) {
        batch.push_back(point("spread" + std::to_string(i % 50), now_us(), i));
    }
    run(api, [&]() -> net::awaitable<void> {
        auto r = co_await api.store.add_batch(batch, {}, {});
        CO_ASSERT_TRUE(r);
        EXPECT_EQ(r->result, metric_store::outcome::kind::stored);
    });
    std::size_t tags_used = 0;
    for (std::size_t t = 0; t < redis::tag_count; ++t) {
        tags_used += admin_.integer({"EXISTS", index_key(t)}) == 1 ? 1 : 0;
    }
    EXPECT_GE(tags_used, 12U) << "50 types land in most of the 16 tags";
    EXPECT_EQ(admin_.integer({"EXISTS", "metrics:index:points"}), 0)
        << "no key every ingest writes";
}

// Types of `count` different tags.
std::vector<std::string> types_of_distinct_tags(std::size_t count)
{
    std::vector<std::string> types;
    std::vector<bool> taken(redis::tag_count);
    for (int i = 0; types.size() < count; ++i) {
        std::string type = "atomic" + std::to_string(i);
        if (!taken[redis::tag_index(type)]) {
            taken[redis::tag_index(type)] = true;
            types.push_back(std::move(type));
        }
    }
    return types;
}

// On one node a batch is one MULTI/EXEC: a connection lost before EXEC reached Redis leaves
// none of it stored, although whole script calls of it had reached Redis.
TEST_F(metric_store_redis, a_batch_whose_connection_breaks_before_exec_stores_nothing)
{
    // The proxy reads the commands it forwards, so the server behind it speaks plain TCP, also
    // when the other tests run over TLS.
    test::redis_process server({}, {}, false);
    test::admin_connection admin(server.port());
    test::cutting_proxy proxy(server.port());
    auto client = client_options_for(proxy.port());
    client.health_check_interval = 0ms;  // no PING may join the pipeline that is cut
    instance api(ioc_, client, store_options(), clock_, 1s);
    const auto types = types_of_distinct_tags(4);
    std::vector<metric> first;
    std::vector<metric> second;
    for (const auto& type : types) {
        first.push_back(point(type, now_us(), 1));
        second.push_back(point(type, now_us(), 2));
    }
    run(api, [&]() -> net::awaitable<void> {
        auto stored = co_await api.store.add_batch(first, {}, {});
        CO_ASSERT_TRUE(stored);
        EXPECT_EQ(stored->result, metric_store::outcome::kind::stored);
        proxy.arm();
        auto cut = co_await api.store.add_batch(second, {}, {});
        EXPECT_FALSE(cut) << "a batch whose connection broke was acknowledged";
    });
    EXPECT_GE(proxy.forwarded_of_cut(), 2) << "MULTI and at least one whole script call arrived";
    for (const auto& type : types) {
        EXPECT_EQ(test::stored_points(admin, type).size(), 1U) << type << ": the first batch only";
        const auto total = test::stored_rollup(admin, type);
        EXPECT_TRUE(total && total->count == 1) << type << ": the first batch only";
    }
}

// A write that no replica holds yet is not acknowledged: it ran on the master, but a failover
// now could lose it.
TEST_F(metric_store_redis, requiring_a_replica_where_none_is_attached_acknowledges_nothing)
{
    // 400 ms: WAIT gets half, and Redis may notice its timeout up to 100 ms late.
    instance api(ioc_, client_options_for(test::redis_test_port()), store_options(), clock_, 400ms,
                 1);
    run(api, [&]() -> net::awaitable<void> {
        const auto single = co_await api.store.add(point("waited", now_us(), 1), {}, {});
        EXPECT_EQ(single.error(), redis::errc::too_few_replicas);
        const std::vector<metric> batch{point("waited", now_us(), 2), point("other", now_us(), 3)};
        const auto whole = co_await api.store.add_batch(batch, {}, {});
        EXPECT_EQ(whole.error(), redis::errc::too_few_replicas);
    });
}

// On a Redis Cluster every tag's call goes to its own master, and with a replica required each
// master's replica holds the write before it is acknowledged; lists and summaries read across
// the masters.
TEST_F(metric_store_redis, stores_lists_and_summarizes_on_a_cluster_with_a_replica_per_write)
{
    auto& cluster = test::redis_cluster::instance();
    cluster.wait_healthy();
    cluster.flush();
    redis::client_options client = client_options_for(cluster.ports().front());
    client.cluster_nodes = {{"127.0.0.1", cluster.ports().front()}};
    instance api(ioc_, client, store_options(), clock_, 2s, 1);
    const auto types = types_of_distinct_tags(16);
    std::vector<metric> batch;
    for (std::size_t i = 0; i < types.size(); ++i) {
        batch.push_back(point(types[i], now_us() - static_cast<std::int64_t>(i), 1.0 + i));
    }
    run(api, [&]() -> net::awaitable<void> {
        CO_ASSERT_TRUE(co_await eventually([&] { return api.redis.connected(); }, 10s));
        const auto whole = co_await api.store.add_batch(batch, "cluster-batch", "{}");
        EXPECT_TRUE(whole) << whole.error().message();
        CO_ASSERT_TRUE(whole);
        EXPECT_EQ(whole->result, metric_store::outcome::kind::stored);
        const auto single = co_await api.store.add(point(types[3], now_us() + 1, 42), {}, {});
        EXPECT_TRUE(single) << single.error().message();
        CO_ASSERT_TRUE(single);
        const auto again = co_await api.store.add_batch(batch, "cluster-batch", "{}");
        CO_ASSERT_TRUE(again);
        EXPECT_EQ(again->result, metric_store::outcome::kind::repeated);

        const auto listed = co_await api.store.list_json({}, 100);
        EXPECT_TRUE(listed) << listed.error().message();
        CO_ASSERT_TRUE(listed);
        const auto items = items_of(*listed);
        EXPECT_EQ(items.size(), types.size() + 1);
        CO_ASSERT_TRUE(!items.empty());
        EXPECT_EQ(items.front().value, 42);
        const auto summary = co_await api.store.summarize(types[3], period::all);
        EXPECT_TRUE(summary) << summary.error().message();
        CO_ASSERT_TRUE(summary);
        EXPECT_EQ(summary->count, 2U);
    });
    std::set<std::uint16_t> masters_written;
    for (const auto& type : types) {
        masters_written.insert(cluster.master_of_slot(redis::key_slot(type_set_key(type))));
    }
    EXPECT_EQ(masters_written.size(), cluster.masters().size()) << "16 tags reach every master";
}

}  // namespace
}  // namespace analytics::metrics
