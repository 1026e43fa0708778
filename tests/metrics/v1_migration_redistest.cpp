// Moving data stored by earlier builds (the v1 layout, written here by hand exactly as those
// builds wrote it) into the current layout: lists keep their order (ties by v1's arrival),
// summaries their values, nothing is moved twice, and the v1 keys go.

#include "metrics/metric_store.hpp"
#include "metrics/v1_migration.hpp"
#include "support/coro_helpers.hpp"
#include "support/fake_clock.hpp"
#include "support/redis_admin.hpp"
#include "support/redis_server.hpp"
#include "support/run_coro.hpp"
#include "support/stored_metrics.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <array>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace analytics::metrics {
namespace {

using namespace std::chrono_literals;

constexpr std::int64_t epoch_shift_micros = 62'135'596'800'000'000;

std::string order_key(std::int64_t unix_micros)
{
    std::array<char, 24> buf{};
    std::snprintf(buf.data(), buf.size(), "%018lld",
                  static_cast<long long>(unix_micros + epoch_shift_micros));
    return buf.data();
}

std::string digits(std::int64_t v, int width)
{
    std::array<char, 24> buf{};
    std::snprintf(buf.data(), buf.size(), "%0*lld", width, static_cast<long long>(v));
    return buf.data();
}

// v1's newest member form: the batch's first arrival number and the point's place.
std::string member(std::int64_t micros, std::int64_t first, int place, const std::string& type,
                   const std::string& value, const std::string& stamp)
{
    return order_key(micros) + digits(first, 16) + digits(place, 3) + "|" + type + "|" + value +
           "|" + stamp;
}

// v1's older form: the point's own arrival number.
std::string old_member(std::int64_t micros, std::int64_t arrival, const std::string& type,
                       const std::string& value, const std::string& stamp)
{
    return order_key(micros) + digits(arrival, 16) + "|" + type + "|" + value + "|" + stamp;
}

// v1's binary rollup: format 1, count, sum, min, max, latest value, then the newest order key.
std::string v1_rollup(double count, double sum, double min, double max, double latest,
                      std::int64_t newest_micros)
{
    std::string out(1, '\x01');
    for (const double v : {count, sum, min, max, latest}) {
        const auto bits = std::bit_cast<std::uint64_t>(v);
        for (int i = 0; i < 8; ++i) {
            out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
        }
    }
    return out + order_key(newest_micros);
}

std::vector<std::string> values_of(const std::string& body)
{
    std::vector<std::string> out;
    const auto doc = boost::json::parse(body);
    for (const auto& v : doc.as_array()) {
        const auto& o = v.as_object();
        out.push_back(std::string(o.at("type").as_string()) + "=" +
                      format_value(o.at("value").to_number<double>()));
    }
    return out;
}

class v1_migration_redis : public ::testing::Test {
protected:
    v1_migration_redis()
    {
        admin_.command({"FLUSHDB"});
        clock_.set_wall(std::chrono::time_point_cast<common::clock::wall_time::duration>(
            std::chrono::system_clock::now()));
        now_us_ = std::chrono::duration_cast<std::chrono::microseconds>(
                      clock_.now().time_since_epoch())
                      .count();
    }

    // Two types as v1 left them: equal timestamps across and within types (ties by arrival),
    // both member forms, a binary and a text total, a minute bucket.
    void write_v1()
    {
        const std::int64_t t = (now_us_ / 1'000'000 - 600) * 1'000'000;  // 10 minutes ago
        const std::string stamp = common::format_rfc3339({t, 0});
        const std::string older = common::format_rfc3339({t - 60'000'000, 0});
        const std::vector<std::string> legacy{
            member(t, 101, 0, "legacy", "1", stamp), member(t, 101, 2, "legacy", "3", stamp),
            old_member(t - 60'000'000, 40, "legacy", "0.5", older)};
        const std::vector<std::string> other{member(t, 101, 1, "other", "2", stamp)};
        for (const auto& m : legacy) {
            admin_.command({"ZADD", "metrics:{legacy}:points", "0", m});
            admin_.command({"ZADD", "metrics:index:points", "0", m});
        }
        for (const auto& m : other) {
            admin_.command({"ZADD", "metrics:{other}:points", "0", m});
            admin_.command({"ZADD", "metrics:index:points", "0", m});
        }
        admin_.command({"SET", "metrics:index:seq", "103"});
        // The total counts one more point than is kept: trimmed ones count in `all`.
        admin_.command(
            {"SET", "metrics:{legacy}:total", v1_rollup(4, 14.5, 0.5, 10, 3, t)});
        admin_.command({"SET", "metrics:{other}:total",
                        "1 2 2 2 " + order_key(t) + " 2"});
        const std::int64_t minute = t / 60'000'000;
        admin_.command({"SET", "metrics:{legacy}:m:" + std::to_string(minute),
                        v1_rollup(2, 4, 1, 3, 3, t), "PX", "600000"});
    }

    test::admin_connection admin_{test::redis_test_port()};
    test::fake_clock clock_;
    std::int64_t now_us_ = 0;
    net::io_context ioc_;
};

TEST(v1_point, reads_both_member_forms)
{
    // The parsed point's type is a view into the member: keep the member alive.
    const auto newer = member(1'000'000, 7, 3, "cpu", "75.5", "1970-01-01T00:00:01Z");
    const auto a = parse_v1_point(newer);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->point.timestamp.micros, 1'000'000);
    EXPECT_EQ(a->arrival, 10);
    EXPECT_EQ(a->point.value, 75.5);
    EXPECT_EQ(a->type, "cpu");
    const auto older = old_member(-5, 42, "t", "-1e+21", "1969-12-31T23:59:59.999995Z");
    const auto b = parse_v1_point(older);
    ASSERT_TRUE(b);
    EXPECT_EQ(b->point.timestamp.micros, -5);
    EXPECT_EQ(b->point.timestamp.fraction_digits, 6);
    EXPECT_EQ(b->arrival, 42);
    EXPECT_FALSE(parse_v1_point("garbage"));
    EXPECT_FALSE(parse_v1_point(order_key(1) + "12|t|1|x"));
}

TEST_F(v1_migration_redis, moves_every_point_and_rollup_and_keeps_the_order)
{
    write_v1();
    redis::client redis(ioc_.get_executor(), test::client_options_for(test::redis_test_port()));
    metric_store store(redis, config::metrics_options{}, 1s, clock_);
    net::co_spawn(ioc_, redis.run(), net::detached);
    test::run_coro(
        ioc_,
        [&]() -> net::awaitable<void> {
            auto moved = co_await migrate_v1(redis, config::metrics_options{}, 1s);
            EXPECT_TRUE(moved);
            if (moved) {
                EXPECT_EQ(moved->types, 2U);
                EXPECT_EQ(moved->points, 4U);
            }
            // Newest first; of the three points stamped t, the latest v1 arrival first.
            auto all = co_await store.list_json("", 10);
            EXPECT_TRUE(all);
            if (all) {
                EXPECT_EQ(values_of(*all), (std::vector<std::string>{"legacy=3", "other=2",
                                                                     "legacy=1", "legacy=0.5"}));
            }
            auto total = co_await store.summarize("legacy", period::all);
            EXPECT_TRUE(total);
            if (total) {
                EXPECT_EQ(total->count, 4U);
                EXPECT_DOUBLE_EQ(total->average(), 14.5 / 4);
                EXPECT_EQ(total->min, 0.5);
                EXPECT_EQ(total->max, 10);
                EXPECT_EQ(total->latest, 3);
            }
            auto hourly = co_await store.summarize("legacy", period::hourly);
            EXPECT_TRUE(hourly && hourly->count == 2U) << "the minute bucket moved too";
            auto other = co_await store.summarize("other", period::all);
            EXPECT_TRUE(other && other->count == 1U && other->latest == 2);

            // Run again: nothing left to move, nothing counted twice.
            auto again = co_await migrate_v1(redis, config::metrics_options{}, 1s);
            EXPECT_TRUE(again && again->types == 0U);
            // A point stored now with an equal timestamp lists before the moved ones.
            metric m;
            m.type = "legacy";
            m.value = 9;
            m.timestamp.micros = (now_us_ / 1'000'000 - 600) * 1'000'000;
            auto stored = co_await store.add(m, {}, {});
            EXPECT_TRUE(stored);
            auto list = co_await store.list_json("legacy", 2);
            EXPECT_TRUE(list);
            if (list) {
                EXPECT_EQ(values_of(*list), (std::vector<std::string>{"legacy=9", "legacy=3"}));
            }
            store.stop();
            redis.stop();
        }(),
        20s);
    EXPECT_EQ(test::stored_points(admin_, "legacy").size(), 4U);
    for (const std::string key : {"metrics:{legacy}:points", "metrics:{legacy}:total",
                                  "metrics:{other}:points", "metrics:index:points",
                                  "metrics:index:seq"}) {
        EXPECT_EQ(admin_.integer({"EXISTS", key}), 0) << key;
    }
    EXPECT_EQ(admin_.integer({"ZCARD", std::string(type_registry::key())}), 2);
}

}  // namespace
}  // namespace analytics::metrics
