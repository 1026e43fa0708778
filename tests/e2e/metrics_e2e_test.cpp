// End-to-end tests of ingest, list and summary (docs/contract.md: Endpoints, Summary) against the
// real binary and the test redis-server.

#include "e2e/http_client.hpp"
#include "e2e/metric_bodies.hpp"
#include "e2e/service_process.hpp"
#include "metrics/summary.hpp"
#include "support/redis_admin.hpp"
#include "support/redis_deployment.hpp"
#include "support/redis_server.hpp"
#include "support/stored_metrics.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <ctime>
#include <random>
#include <thread>

namespace analytics::test {
namespace {

using namespace std::chrono_literals;
using env = std::map<std::string, std::string>;

// Rate limiting has its own tests; here it must never get in the way.
env with_defaults(env extra = {})
{
    extra.emplace("RATE_LIMIT_REQUESTS", "1000000");
    return extra;
}

std::string rfc3339(std::int64_t unix_seconds, std::string_view suffix = "Z")
{
    std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    return std::string(buf) + std::string(suffix);
}

std::int64_t now_seconds()
{
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

class metrics_e2e : public ::testing::Test {
protected:
    metrics_e2e() { admin_.flush(); }

    // Keys and points this test's data wrote, to show that a rejected request wrote nothing.
    long long stored_points()
    {
        return static_cast<long long>(test::all_stored_points(admin_).size());
    }
    long long metric_keys() { return static_cast<long long>(admin_.keys("metrics:*").size()); }

    deployment_admin admin_;
};

TEST_F(metrics_e2e, ingest_answers_201_with_the_normalised_timestamp)
{
    service_process svc(with_defaults());
    const std::int64_t t = now_seconds();
    auto r = http_request(svc.port(), "POST", "/api/metrics",
                          metric_body(rfc3339(t + 2 * 3600, ".5+02:00"), "75.5", "cpu_usage"));
    ASSERT_EQ(r.status, 201U) << r.body;
    auto body = r.json().as_object();
    EXPECT_EQ(body.at("message").as_string(), "Metric received");
    EXPECT_EQ(body.at("timestamp").as_string(), rfc3339(t, ".5Z"));
    EXPECT_EQ(body.at("type").as_string(), "cpu_usage");
    EXPECT_EQ(stored_points(), 1);

    auto list = http_request(svc.port(), "GET", "/api/metrics/list");
    ASSERT_EQ(list.status, 200U);
    auto items = list.json().as_array();
    ASSERT_EQ(items.size(), 1U);
    EXPECT_EQ(items[0].as_object().at("timestamp").as_string(), rfc3339(t, ".5Z"));
    EXPECT_EQ(items[0].as_object().at("value").to_number<double>(), 75.5);
    EXPECT_EQ(items[0].as_object().at("type").as_string(), "cpu_usage");
}

// One case per rule of the contract; each also shows nothing was stored.
TEST_F(metrics_e2e, every_invalid_body_is_rejected_and_nothing_is_stored)
{
    service_process svc(with_defaults());
    struct bad_case {
        std::string body;
        unsigned status;
        std::string field;  // the field named in errors, for 422
    };
    const std::string ok_ts = "2026-02-19T12:00:00Z";
    const std::vector<bad_case> cases{
        {"not json", 400, ""},
        {R"({"timestamp":)", 400, ""},
        {"[1,2]", 422, "body"},
        {R"({"value":1,"type":"t"})", 422, "timestamp"},
        {R"({"timestamp":"yesterday","value":1,"type":"t"})", 422, "timestamp"},
        {R"({"timestamp":"2026-02-19T12:00:00","value":1,"type":"t"})", 422, "timestamp"},
        {R"({"timestamp":1771502400,"value":1,"type":"t"})", 422, "timestamp"},
        {R"({"timestamp":")" + ok_ts + R"(","type":"t"})", 422, "value"},
        {R"({"timestamp":")" + ok_ts + R"(","value":"75","type":"t"})", 422, "value"},
        {R"({"timestamp":")" + ok_ts + R"(","value":1e999,"type":"t"})", 422, "value"},
        {R"({"timestamp":")" + ok_ts + R"(","value":true,"type":"t"})", 422, "value"},
        {R"({"timestamp":")" + ok_ts + R"(","value":NaN,"type":"t"})", 400, ""},
        {R"({"timestamp":")" + ok_ts + R"(","value":1})", 422, "type"},
        {R"({"timestamp":")" + ok_ts + R"(","value":1,"type":""})", 422, "type"},
        {R"({"timestamp":")" + ok_ts + R"(","value":1,"type":"a b"})", 422, "type"},
        {R"({"timestamp":")" + ok_ts + R"(","value":1,"type":"{x}"})", 422, "type"},
        {R"({"timestamp":")" + ok_ts + R"(","value":1,"type":")" + std::string(65, 'x') + R"("})",
         422, "type"},
    };
    for (const auto& c : cases) {
        auto r = http_request(svc.port(), "POST", "/api/metrics", c.body);
        EXPECT_EQ(r.status, c.status) << c.body << " -> " << r.body;
        auto body = r.json().as_object();
        EXPECT_TRUE(body.contains("code") && body.contains("message") &&
                    body.contains("timestamp"));
        if (c.status == 422) {
            EXPECT_EQ(body.at("code").as_string(), "VALIDATION_ERROR");
            bool named = false;
            for (const auto& e : body.at("errors").as_array()) {
                named = named || e.as_object().at("field").as_string() == c.field;
            }
            EXPECT_TRUE(named) << c.body << " -> " << r.body;
        } else {
            EXPECT_EQ(body.at("code").as_string(), "INVALID_JSON");
        }
    }
    auto too_big = http_request(svc.port(), "POST", "/api/metrics",
                                metric_body(ok_ts, "1", "t") + std::string(70000, ' '));
    EXPECT_EQ(too_big.status, 413U);
    EXPECT_EQ(stored_points(), 0);
    EXPECT_EQ(metric_keys(), 0);
}

TEST_F(metrics_e2e, points_are_listed_for_the_retention_after_they_arrive_however_old)
{
    service_process svc(with_defaults({{"METRICS_RETENTION_SECONDS", "1"}}));
    const std::int64_t t = now_seconds();
    // The seed's own example is back-dated by months; it is listed all the same.
    for (const std::string& stamp : {std::string("2026-02-19T10:00:00Z"), rfc3339(t - 60)}) {
        ASSERT_EQ(http_request(svc.port(), "POST", "/api/metrics", metric_body(stamp, "1", "kept"))
                      .status,
                  201U);
    }
    auto list = http_request(svc.port(), "GET", "/api/metrics/list?type=kept");
    EXPECT_EQ(list.json().as_array().size(), 2U);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    list = http_request(svc.port(), "GET", "/api/metrics/list?type=kept");
    EXPECT_EQ(list.json().as_array().size(), 0U) << "a retention after arrival they are gone";
    auto all = http_request(svc.port(), "GET", "/api/metrics/summary?type=kept&period=all");
    EXPECT_EQ(all.json().as_object().at("count").to_number<int>(), 2);
}

TEST_F(metrics_e2e, a_timestamp_too_far_ahead_is_refused_and_nothing_is_stored)
{
    service_process svc(with_defaults({{"METRICS_MAX_FUTURE_SECONDS", "60"}}));
    const std::int64_t t = now_seconds();
    auto ahead = http_request(svc.port(), "POST", "/api/metrics",
                              metric_body(rfc3339(t + 120), "1", "future"));
    ASSERT_EQ(ahead.status, 422U);
    const auto errors = ahead.json().as_object().at("errors").as_array();
    ASSERT_EQ(errors.size(), 1U);
    EXPECT_EQ(errors[0].as_object().at("field").as_string(), "timestamp");
    EXPECT_EQ(http_request(svc.port(), "POST", "/api/metrics",
                           metric_body("2100-01-01T00:00:00Z", "1", "future"))
                  .status,
              422U);
    EXPECT_EQ(stored_points(), 0);
    EXPECT_EQ(http_request(svc.port(), "POST", "/api/metrics",
                           metric_body(rfc3339(t + 30), "1", "future"))
                  .status,
              201U);
}

TEST_F(metrics_e2e, raw_points_are_capped_per_type)
{
    service_process svc(with_defaults({{"METRICS_MAX_POINTS_PER_TYPE", "5"}}));
    const std::int64_t t = now_seconds();
    http_connection conn(svc.port());
    for (int i = 0; i < 8; ++i) {
        ASSERT_EQ(conn.request("POST", "/api/metrics",
                               metric_body(rfc3339(t - 100 + i), std::to_string(i), "capped"))
                      .status,
                  201U);
    }
    auto list = conn.request("GET", "/api/metrics/list?type=capped");
    auto items = list.json().as_array();
    ASSERT_EQ(items.size(), 5U);
    EXPECT_EQ(items[0].as_object().at("value").to_number<int>(), 7);  // the newest are kept
    EXPECT_EQ(items[4].as_object().at("value").to_number<int>(), 3);
    auto all = conn.request("GET", "/api/metrics/summary?type=capped");
    EXPECT_EQ(all.json().as_object().at("count").to_number<int>(), 8);
}

TEST_F(metrics_e2e, list_and_summary_reject_bad_query_parameters)
{
    service_process svc(with_defaults());
    for (const char* target :
         {"/api/metrics/list?limit=0", "/api/metrics/list?limit=1001", "/api/metrics/list?limit=x",
          "/api/metrics/list?type=a%20b", "/api/metrics/list?type=%zz", "/api/metrics/summary",
          "/api/metrics/summary?type=", "/api/metrics/summary?type=a*",
          "/api/metrics/summary?type=cpu&period=weekly"}) {
        auto r = http_request(svc.port(), "GET", target);
        EXPECT_EQ(r.status, 422U) << target;
        EXPECT_EQ(r.json().as_object().at("code").as_string(), "VALIDATION_ERROR") << target;
    }
    EXPECT_EQ(http_request(svc.port(), "GET", "/api/metrics/list?limit=1000").status, 200U);
}

TEST_F(metrics_e2e, an_unknown_type_summarises_to_count_zero_and_nulls)
{
    service_process svc(with_defaults());
    for (const char* period : {"all", "daily", "hourly"}) {
        auto r = http_request(svc.port(), "GET",
                              std::string("/api/metrics/summary?type=never_seen&period=") + period);
        ASSERT_EQ(r.status, 200U);
        auto body = r.json().as_object();
        EXPECT_EQ(body.at("type").as_string(), "never_seen");
        EXPECT_EQ(body.at("period").as_string(), period);
        EXPECT_EQ(body.at("count").to_number<int>(), 0);
        EXPECT_TRUE(body.at("average_value").is_null());
        EXPECT_TRUE(body.at("latest_value").is_null());
    }
}

// A metric as the test knows it, for brute-force answers.
struct point {
    std::int64_t unix_ms;
    std::string text;  // the normalised timestamp the service should report
    double value;
    std::string value_text;
    std::string type;
    int arrival;
};

// Random metrics over HTTP; every summary period and every list query equals a brute-force
// computation over the same data.
TEST_F(metrics_e2e, summaries_and_lists_equal_a_brute_force_computation)
{
    service_process svc(with_defaults({{"CACHE_TTL_SECONDS", "1"}}));
    std::mt19937_64 rng(20260219);
    const std::int64_t now = now_seconds();
    const std::vector<std::string> types{"cpu", "mem.used", "disk:io"};
    std::vector<point> points;
    http_connection conn(svc.port());

    // Offsets in seconds from now: several days back, a few ahead. Timestamps within two
    // minutes of a window edge are skipped so that the minute the service and the test each
    // call "now" cannot change the answer.
    auto near_edge = [](std::int64_t offset) {
        for (std::int64_t edge : {0LL, -3600LL, -86400LL}) {
            if (std::llabs(offset - edge) < 180) {
                return true;
            }
        }
        return false;
    };
    // Up to four minutes ahead: METRICS_MAX_FUTURE_SECONDS (300) allows five.
    std::uniform_int_distribution<std::int64_t> offset_dist(-4 * 86400, 240);
    std::uniform_int_distribution<int> recent(0, 2);
    std::uniform_int_distribution<std::int64_t> hour_dist(-3400, -200);
    std::uniform_int_distribution<int> value_dist(-100000, 100000);
    std::uniform_int_distribution<int> type_dist(0, static_cast<int>(types.size()) - 1);
    std::uniform_int_distribution<int> format_dist(0, 3);

    for (int i = 0; i < 240; ++i) {
        // A third of the points fall into the last hour, so hourly is not trivially empty.
        std::int64_t offset = recent(rng) == 0 ? hour_dist(rng) : offset_dist(rng);
        if (near_edge(offset)) {
            continue;
        }
        // Repeat a timestamp now and then, to exercise ties (later arrival wins).
        if (!points.empty() && i % 17 == 0) {
            offset = points.back().unix_ms / 1000 - now;
        }
        const std::int64_t t = now + offset;
        point p;
        p.unix_ms = t * 1000;
        p.type = types[static_cast<std::size_t>(type_dist(rng))];
        const int v = value_dist(rng);
        p.value = v / 100.0;
        p.value_text = boost::json::serialize(boost::json::value(p.value));
        std::string sent;
        switch (format_dist(rng)) {
        case 0:
            sent = rfc3339(t);
            p.text = sent;
            break;
        case 1:  // a numeric offset, normalised to UTC
            sent = rfc3339(t + 2 * 3600, "+02:00");
            p.text = rfc3339(t);
            break;
        case 2:  // fractional seconds are kept
            sent = rfc3339(t, ".250Z");
            p.text = sent;
            p.unix_ms += 250;
            break;
        default:
            sent = rfc3339(t - 5 * 3600 - 30 * 60, "-05:30");
            p.text = rfc3339(t);
            break;
        }
        p.arrival = i;
        auto r = conn.request("POST", "/api/metrics", metric_body(sent, p.value_text, p.type));
        ASSERT_EQ(r.status, 201U) << r.body;
        points.push_back(p);
    }

    const std::int64_t now_ms = now_seconds() * 1000;
    for (const auto& type : types) {
        for (auto period :
             {metrics::period::all, metrics::period::daily, metrics::period::hourly}) {
            const auto bounds = metrics::window(period, now_ms);
            std::vector<const point*> in;
            for (const auto& p : points) {
                if (p.type == type && p.unix_ms >= bounds.from_ms && p.unix_ms < bounds.until_ms) {
                    in.push_back(&p);
                }
            }
            const std::string target = "/api/metrics/summary?type=" + type +
                                       "&period=" + std::string(metrics::to_string(period));
            auto r = conn.request("GET", target);
            ASSERT_EQ(r.status, 200U) << r.body;
            auto body = r.json().as_object();
            ASSERT_EQ(body.at("count").to_number<std::size_t>(), in.size()) << target;
            if (in.empty()) {
                EXPECT_TRUE(body.at("min_value").is_null());
                continue;
            }
            double sum = 0;
            double mn = in[0]->value;
            double mx = in[0]->value;
            const point* latest = in[0];
            for (const auto* p : in) {
                sum += p->value;
                mn = std::min(mn, p->value);
                mx = std::max(mx, p->value);
                if (p->unix_ms > latest->unix_ms ||
                    (p->unix_ms == latest->unix_ms && p->arrival > latest->arrival)) {
                    latest = p;
                }
            }
            const double average = sum / static_cast<double>(in.size());
            EXPECT_NEAR(body.at("average_value").to_number<double>(), average,
                        1e-9 * std::max(1.0, std::abs(average)))
                << target;
            EXPECT_EQ(body.at("min_value").to_number<double>(), mn) << target;
            EXPECT_EQ(body.at("max_value").to_number<double>(), mx) << target;
            EXPECT_EQ(body.at("latest_value").to_number<double>(), latest->value) << target;
        }
    }

    // Lists: newest timestamp first, ties by later arrival first; per type and across types.
    auto newest_first = [](const point* a, const point* b) {
        return a->unix_ms != b->unix_ms ? a->unix_ms > b->unix_ms : a->arrival > b->arrival;
    };
    std::vector<std::string> filters = types;
    filters.push_back("");
    for (const auto& filter : filters) {
        for (unsigned limit : {1U, 7U, 100U, 1000U}) {
            std::vector<const point*> expected;
            for (const auto& p : points) {
                if (filter.empty() || p.type == filter) {
                    expected.push_back(&p);
                }
            }
            std::sort(expected.begin(), expected.end(), newest_first);
            expected.resize(std::min<std::size_t>(expected.size(), limit));
            std::string target = "/api/metrics/list?limit=" + std::to_string(limit);
            if (!filter.empty()) {
                target += "&type=" + filter;
            }
            auto r = conn.request("GET", target);
            ASSERT_EQ(r.status, 200U);
            auto items = r.json().as_array();
            ASSERT_EQ(items.size(), expected.size()) << target;
            for (std::size_t i = 0; i < items.size(); ++i) {
                const auto& item = items[i].as_object();
                EXPECT_EQ(item.at("timestamp").as_string(), expected[i]->text)
                    << target << " #" << i;
                EXPECT_EQ(item.at("value").to_number<double>(), expected[i]->value) << target;
                EXPECT_EQ(item.at("type").as_string(), expected[i]->type) << target;
            }
        }
    }
}

TEST_F(metrics_e2e, the_cache_turns_hit_and_expires_after_its_ttl)
{
    service_process svc(with_defaults({{"CACHE_TTL_SECONDS", "1"}}));
    const std::string ts = rfc3339(now_seconds());
    ASSERT_EQ(http_request(svc.port(), "POST", "/api/metrics", metric_body(ts, "10", "cpu")).status,
              201U);
    const std::string target = "/api/metrics/summary?type=cpu";
    auto first = http_request(svc.port(), "GET", target);
    ASSERT_EQ(first.status, 200U);
    EXPECT_EQ(first.header("x-cache"), "MISS");
    EXPECT_EQ(first.json().as_object().at("period").as_string(), "all");

    // docs/contract.md, Summary: the key is summary:<type>:<period> literally, with a TTL of
    // CACHE_TTL_SECONDS.
    const long long ttl = admin_.integer({"PTTL", "summary:cpu:all"});
    EXPECT_GT(ttl, 0);
    EXPECT_LE(ttl, 1000);
    EXPECT_GT(admin_.integer({"TTL", "stale:summary:cpu:all"}), 1000);

    auto second = http_request(svc.port(), "GET", target);
    EXPECT_EQ(second.header("x-cache"), "HIT");
    EXPECT_EQ(second.body, first.body);

    // A new metric is not seen until the cached answer expires (ingest does not invalidate).
    ASSERT_EQ(http_request(svc.port(), "POST", "/api/metrics", metric_body(ts, "20", "cpu")).status,
              201U);
    auto cached = http_request(svc.port(), "GET", target);
    EXPECT_EQ(cached.json().as_object().at("count").to_number<int>(), 1);
    std::this_thread::sleep_for(1100ms);
    auto fresh = http_request(svc.port(), "GET", target);
    EXPECT_EQ(fresh.header("x-cache"), "MISS");
    EXPECT_EQ(fresh.json().as_object().at("count").to_number<int>(), 2);
    EXPECT_EQ(fresh.json().as_object().at("average_value").to_number<double>(), 15.0);
}

TEST_F(metrics_e2e, fifty_concurrent_misses_on_one_key_compute_once)
{
    // One worker, and an upstream slow enough that all fifty requests overlap.
    service_process svc(with_defaults({{"APP_THREADS", "1"},
                                       {"EXTERNAL_SERVICE_LATENCY_MS", "300"},
                                       {"LOG_LEVEL", "DEBUG"},
                                       {"HTTP_MAX_CONNECTIONS", "200"}}));
    std::vector<std::unique_ptr<http_connection>> conns;
    for (int i = 0; i < 50; ++i) {
        conns.push_back(std::make_unique<http_connection>(svc.port()));
    }
    for (auto& c : conns) {
        c->send_raw("GET /api/metrics/summary?type=burst HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    int misses = 0;
    for (auto& c : conns) {
        auto r = c->read_reply();
        ASSERT_TRUE(r.has_value());
        EXPECT_EQ(r->status, 200U);
        misses += r->header("x-cache") == "MISS" ? 1 : 0;
    }
    EXPECT_EQ(misses, 50);
    ASSERT_TRUE(svc.wait_for_line("\"summary.computed\"", 1s).has_value());
    const auto lines = svc.lines();
    const auto computations = std::count_if(lines.begin(), lines.end(), [](const std::string& l) {
        return l.find("\"summary.computed\"") != std::string::npos;
    });
    EXPECT_EQ(computations, 1);
}

TEST_F(metrics_e2e, sixty_four_concurrent_clients_lose_nothing)
{
    service_process svc(with_defaults({{"HTTP_MAX_CONNECTIONS", "200"}}));
    std::atomic<int> created{0};
    std::atomic<int> failed{0};
    std::vector<std::thread> clients;
    const std::string ts = rfc3339(now_seconds());
    for (int c = 0; c < 64; ++c) {
        clients.emplace_back([&, c] {
            try {
                http_connection conn(svc.port());
                for (int i = 0; i < 20; ++i) {
                    auto r = conn.request("POST", "/api/metrics",
                                          metric_body(ts, std::to_string(c * 100 + i), "load"));
                    (r.status == 201 ? created : failed)++;
                }
            } catch (const std::exception&) {
                failed++;
            }
        });
    }
    for (auto& t : clients) {
        t.join();
    }
    EXPECT_EQ(created.load(), 64 * 20);
    EXPECT_EQ(failed.load(), 0);
    EXPECT_EQ(static_cast<long long>(test::stored_points(admin_, "load").size()), created.load());
    const auto total = test::stored_rollup(admin_, "load");
    ASSERT_TRUE(total);
    EXPECT_EQ(static_cast<long long>(total->count), created.load());
}

TEST_F(metrics_e2e, redis_down_makes_ingest_list_and_summary_503_and_acknowledges_nothing)
{
    redis_process redis;
    service_process svc(with_defaults({{"REDIS_PORT", std::to_string(redis.port())}}));
    const std::string ts = rfc3339(now_seconds());
    ASSERT_EQ(http_request(svc.port(), "POST", "/api/metrics", metric_body(ts, "1", "t")).status,
              201U);
    redis.kill();
    std::this_thread::sleep_for(100ms);

    auto ingest = http_request(svc.port(), "POST", "/api/metrics", metric_body(ts, "2", "t"));
    EXPECT_EQ(ingest.status, 503U);
    EXPECT_EQ(ingest.json().as_object().at("code").as_string(), "STORAGE_UNAVAILABLE");
    auto list = http_request(svc.port(), "GET", "/api/metrics/list");
    EXPECT_EQ(list.status, 503U);
    EXPECT_EQ(list.json().as_object().at("code").as_string(), "STORAGE_UNAVAILABLE");
    auto summary = http_request(svc.port(), "GET", "/api/metrics/summary?type=t");
    EXPECT_EQ(summary.status, 503U);
    EXPECT_EQ(summary.json().as_object().at("code").as_string(), "STORAGE_UNAVAILABLE");

    // Back again: the service recovers by itself.
    redis.start();
    for (int i = 0; i < 100; ++i) {
        if (http_request(svc.port(), "GET", "/ready").status == 200) {
            break;
        }
        std::this_thread::sleep_for(50ms);
    }
    EXPECT_EQ(http_request(svc.port(), "POST", "/api/metrics", metric_body(ts, "3", "t")).status,
              201U);
}

}  // namespace
}  // namespace analytics::test
