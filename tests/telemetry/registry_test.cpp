#include "telemetry/registry.hpp"

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
    const auto before =
        sample(registry::instance().scrape(), R"(cache_requests_total{result="hit"})");
    std::thread a([] { local().add(counter::cache_hit, 3); });
    std::thread b([] { local().add(counter::cache_hit, 4); });
    a.join();
    b.join();
    local().add(counter::cache_hit);
    const auto after =
        sample(registry::instance().scrape(), R"(cache_requests_total{result="hit"})");
    EXPECT_EQ(after - before, 8);
}

TEST(telemetry, counts_http_requests_by_route_template_method_and_status)
{
    registry::instance().set_routes({"/health", "/api/metrics"});
    local().http_request(1, http::method::post, 201, 2ms);
    local().http_request(1, http::method::post, 201, 3ms);
    local().http_request(SIZE_MAX, http::method::get, 404, 1ms);
    local().http_request(0, http::method::get, 299, 1ms);  // an unlisted status
    const auto text = registry::instance().scrape();
    EXPECT_GE(
        sample(text, R"(http_requests_total{route="/api/metrics",method="POST",status="201"})"), 2);
    EXPECT_GE(sample(text, R"(http_requests_total{route="unmatched",method="GET",status="404"})"),
              1);
    EXPECT_GE(sample(text, R"(http_requests_total{route="/health",method="GET",status="other"})"),
              1);
    EXPECT_GE(sample(text, R"(http_request_duration_seconds_count{route="/api/metrics"})"), 2);
}

TEST(telemetry, histograms_are_cumulative_with_an_inf_bucket)
{
    local().observe(histogram::external_call, 50us);   // <= 0.0001
    local().observe(histogram::external_call, 700ms);  // <= 1
    local().observe(histogram::external_call, 60s);    // +Inf only
    const auto text = registry::instance().scrape();
    const auto small =
        sample(text, R"(external_service_call_duration_seconds_bucket{le="0.0001"})");
    const auto one = sample(text, R"(external_service_call_duration_seconds_bucket{le="1"})");
    const auto inf = sample(text, R"(external_service_call_duration_seconds_bucket{le="+Inf"})");
    const auto count = sample(text, "external_service_call_duration_seconds_count");
    EXPECT_GE(small, 1);
    EXPECT_GE(one, small + 1);
    EXPECT_GE(inf, one + 1);
    EXPECT_EQ(inf, count);
}

TEST(telemetry, refuses_a_route_table_larger_than_its_route_slots)
{
    std::vector<std::string> routes(unmatched_route);
    for (std::size_t i = 0; i < routes.size(); ++i) {
        routes[i] = "/r" + std::to_string(i);
    }
    EXPECT_NO_THROW(registry::instance().set_routes(routes));
    routes.push_back("/one-too-many");
    EXPECT_THROW(registry::instance().set_routes(routes), std::length_error);
    // The table in force is still the last one accepted: its last route keeps its own series.
    local().http_request(unmatched_route - 1, http::method::get, 200, 1us);
    EXPECT_NE(registry::instance().scrape().find("route=\"/r" + std::to_string(unmatched_route - 1) +
                                                 "\""),
              std::string::npos);
}

TEST(telemetry, keeps_its_series_bounded_whatever_the_routes_seen)
{
    registry::instance().set_routes({"/a"});
    for (std::size_t i = 0; i < 10000; ++i) {
        local().http_request(1000 + i, http::method::get, 404, 1us);
    }
    const auto text = registry::instance().scrape();
    std::size_t series = 0;
    for (std::size_t pos = 0; (pos = text.find("\nhttp_requests_total{", pos)) != std::string::npos;
         ++pos) {
        ++series;
    }
    EXPECT_LE(series, max_routes * 8 * (http_statuses.size() + 1));
    EXPECT_LT(series, 50U);
}

TEST(telemetry, writes_sources_after_its_own_families)
{
    registry::instance().add_source([](std::string& out) {
        write_header(out, "test_gauge", "gauge", "A test gauge.");
        write_sample(out, "test_gauge", R"(k="v")", 2.5);
    });
    const auto text = registry::instance().scrape();
    EXPECT_NE(text.find("# TYPE test_gauge gauge\n"), std::string::npos);
    EXPECT_EQ(sample(text, R"(test_gauge{k="v"})"), 2.5);
    registry::instance().clear_sources();
    EXPECT_EQ(registry::instance().scrape().find("test_gauge"), std::string::npos);
}

}  // namespace
}  // namespace analytics::telemetry
