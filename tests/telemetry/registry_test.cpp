#include "telemetry/registry.hpp"

#include "api/docs_service_routes.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace analytics::telemetry {
namespace {

using namespace std::chrono_literals;

// The value of the sample whose line starts with `prefix` (name and labels), or -1.
double sample(const std::string& text, const std::string& prefix)
{
    std::size_t pos = 0;
    while ((pos = text.find(prefix, pos)) != std::string::npos) {
        if (pos == 0 || text[pos - 1] == '\n') {
            const auto space = text.find(' ', pos + prefix.size());
            if (space == pos + prefix.size()) {
                return std::stod(text.substr(space + 1));
            }
        }
        pos += prefix.size();
    }
    return -1;
}

TEST(telemetry, sums_counters_over_every_thread)
{
    registry r;
    shard& first = r.add_shard();
    shard& second = r.add_shard();
    shard& mine = r.add_shard();
    std::thread a([&first] { first.add(counter::cache_hit, 3); });
    std::thread b([&second] { second.add(counter::cache_hit, 4); });
    a.join();
    b.join();
    mine.add(counter::cache_hit);
    EXPECT_EQ(sample(r.scrape(), R"(cache_requests_total{result="hit"})"), 8);
    EXPECT_EQ(r.total(counter::cache_hit), 8U);
    EXPECT_EQ(sample(r.scrape(), R"(cache_requests_total{result="miss"})"), 0);
}

TEST(telemetry, counts_http_requests_by_route_template_method_and_status)
{
    registry r;
    shard& s = r.add_shard();
    r.set_routes({"/health", "/api/metrics"});
    s.http_request(1, http::method::post, 201, 2ms);
    s.http_request(1, http::method::post, 201, 3ms);
    s.http_request(SIZE_MAX, http::method::get, 404, 1ms);
    s.http_request(0, http::method::get, 299, 1ms);  // an unlisted status
    const auto text = r.scrape();
    EXPECT_EQ(
        sample(text, R"(http_requests_total{route="/api/metrics",method="POST",status="201"})"), 2);
    EXPECT_EQ(sample(text, R"(http_requests_total{route="unmatched",method="GET",status="404"})"),
              1);
    EXPECT_EQ(sample(text, R"(http_requests_total{route="/health",method="GET",status="other"})"),
              1);
    EXPECT_EQ(sample(text, R"(http_request_duration_seconds_count{route="/api/metrics"})"), 2);
    EXPECT_DOUBLE_EQ(sample(text, R"(http_request_duration_seconds_sum{route="/api/metrics"})"),
                     0.005);
    // Only the combinations seen have series.
    EXPECT_EQ(sample(text, R"(http_requests_total{route="/health",method="GET",status="200"})"),
              -1);
}

TEST(telemetry, histograms_are_cumulative_with_an_inf_bucket)
{
    registry r;
    shard& s = r.add_shard();
    s.observe(histogram::external_call, 50us);   // <= 0.0001
    s.observe(histogram::external_call, 700ms);  // <= 1
    s.observe(histogram::external_call, 60s);    // +Inf only
    const auto text = r.scrape();
    EXPECT_EQ(sample(text, R"(external_service_call_duration_seconds_bucket{le="0.0001"})"), 1);
    EXPECT_EQ(sample(text, R"(external_service_call_duration_seconds_bucket{le="0.5"})"), 1);
    EXPECT_EQ(sample(text, R"(external_service_call_duration_seconds_bucket{le="1"})"), 2);
    EXPECT_EQ(sample(text, R"(external_service_call_duration_seconds_bucket{le="5"})"), 2);
    EXPECT_EQ(sample(text, R"(external_service_call_duration_seconds_bucket{le="+Inf"})"), 3);
    EXPECT_EQ(sample(text, "external_service_call_duration_seconds_count"), 3);
    EXPECT_DOUBLE_EQ(sample(text, "external_service_call_duration_seconds_sum"), 60.70005);
    EXPECT_EQ(sample(text, "redis_command_duration_seconds_count"), 0);
}

TEST(telemetry, refuses_a_route_table_larger_than_its_route_slots)
{
    registry r;
    shard& s = r.add_shard();
    std::vector<std::string> routes(unmatched_route);
    for (std::size_t i = 0; i < routes.size(); ++i) {
        routes[i] = "/r" + std::to_string(i);
    }
    EXPECT_NO_THROW(r.set_routes(routes));
    routes.push_back("/one-too-many");
    EXPECT_THROW(r.set_routes(routes), std::length_error);
    // The table in force is still the last one accepted: its last route keeps its own series.
    s.http_request(unmatched_route - 1, http::method::get, 200, 1us);
    EXPECT_EQ(
        sample(r.scrape(), "http_requests_total{route=\"/r" + std::to_string(unmatched_route - 1) +
                               "\",method=\"GET\",status=\"200\"}"),
        1);
}

// The application names its routes at start-up and a table past the cap stops it there; the
// service's own table must therefore fit, with room for the unmatched slot.
TEST(telemetry, has_a_route_slot_for_every_route_the_service_serves)
{
    std::vector<std::string> names;
    for (const auto& route : test::service_routes()) {
        names.push_back(route.path);
    }
    ASSERT_FALSE(names.empty());
    registry r;
    EXPECT_NO_THROW(r.set_routes(names));
}

TEST(telemetry, keeps_its_series_bounded_whatever_the_routes_seen)
{
    registry r;
    shard& s = r.add_shard();
    r.set_routes({"/a"});
    for (std::size_t i = 0; i < 10000; ++i) {
        s.http_request(1000 + i, http::method::get, 404, 1us);
    }
    const auto text = r.scrape();
    std::size_t series = 0;
    for (std::size_t pos = 0; (pos = text.find("\nhttp_requests_total{", pos)) != std::string::npos;
         ++pos) {
        ++series;
    }
    // Every one of them is the unmatched route's single series.
    EXPECT_EQ(series, 1U);
    EXPECT_EQ(sample(text, R"(http_requests_total{route="unmatched",method="GET",status="404"})"),
              10000);
}

TEST(telemetry, writes_sources_after_its_own_families)
{
    registry r;
    r.add_source([](std::string& out) {
        write_header(out, "test_gauge", "gauge", "A test gauge.");
        write_sample(out, "test_gauge", R"(k="v")", 2.5);
    });
    const auto text = r.scrape();
    const auto source = text.find("# TYPE test_gauge gauge\n");
    ASSERT_NE(source, std::string::npos);
    EXPECT_GT(source, text.find("# TYPE redis_command_duration_seconds histogram\n"));
    EXPECT_EQ(sample(text, R"(test_gauge{k="v"})"), 2.5);
}

TEST(telemetry, two_registries_in_one_process_do_not_see_each_others_counts)
{
    registry one;
    registry two;
    // Both record from this one thread, as two applications' workers could.
    shard& into_one = one.add_shard();
    shard& into_two = two.add_shard();
    one.set_routes({"/one"});
    two.set_routes({"/two"});
    one.add_source([](std::string& out) { write_sample(out, "only_in_one", "", 1); });

    into_one.add(counter::metrics_ingested, 5);
    into_two.add(counter::metrics_ingested, 2);
    into_one.http_request(0, http::method::get, 200, 1ms);
    into_two.observe(histogram::redis_command, 1ms);

    EXPECT_EQ(one.total(counter::metrics_ingested), 5U);
    EXPECT_EQ(two.total(counter::metrics_ingested), 2U);
    const auto text_one = one.scrape();
    const auto text_two = two.scrape();
    EXPECT_EQ(sample(text_one, "metrics_ingested_total"), 5);
    EXPECT_EQ(sample(text_two, "metrics_ingested_total"), 2);
    EXPECT_EQ(sample(text_one, R"(http_requests_total{route="/one",method="GET",status="200"})"),
              1);
    EXPECT_EQ(text_two.find("route=\"/one\""), std::string::npos);
    EXPECT_EQ(text_two.find("http_requests_total{"), std::string::npos);
    EXPECT_EQ(sample(text_one, "redis_command_duration_seconds_count"), 0);
    EXPECT_EQ(sample(text_two, "redis_command_duration_seconds_count"), 1);
    EXPECT_EQ(sample(text_one, "only_in_one"), 1);
    EXPECT_EQ(sample(text_two, "only_in_one"), -1);
}

}  // namespace
}  // namespace analytics::telemetry
