#include "http/router.hpp"

#include "http/response.hpp"
#include "support/run_coro.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <set>

namespace analytics::http {
namespace {

std::string_view no_headers(const void*, std::string_view)
{
    return {};
}

response route(const router& r, method m, std::string_view target)
{
    net::io_context ioc;
    request_context ctx;
    request req(m, target, {}, nullptr, &no_headers, ctx);
    auto res = test::run_coro(ioc, r.dispatch(req));
    res.set("X-Route-Seen", std::string(ctx.route));
    return res;
}

router sample_router()
{
    router r;
    r.add(method::get, "/health", [](request&) -> net::awaitable<response> {
        co_return json_response(200, R"({"ok":true})");
    });
    r.add(method::post, "/api/metrics", [](request& req) -> net::awaitable<response> {
        co_return json_response(201, std::string(req.query()));
    });
    r.add(method::get, "/api/metrics",
          [](request&) -> net::awaitable<response> { co_return json_response(200, "[]"); });
    return r;
}

TEST(router, runs_the_handler_registered_for_method_and_path)
{
    auto r = sample_router();
    auto res = route(r, method::post, "/api/metrics?a=b");
    EXPECT_EQ(res.status, 201U);
    EXPECT_EQ(res.body, "a=b");
    EXPECT_EQ(res.get("X-Route-Seen"), "/api/metrics");
}

TEST(router, answers_404_in_the_error_format_for_an_unknown_path)
{
    auto r = sample_router();
    auto res = route(r, method::get, "/api/metric");
    EXPECT_EQ(res.status, 404U);
    auto body = boost::json::parse(res.body).as_object();
    EXPECT_EQ(body.at("code").as_string(), "NOT_FOUND");
    EXPECT_TRUE(body.contains("message"));
    EXPECT_TRUE(body.contains("timestamp"));
    EXPECT_EQ(res.get("X-Route-Seen"), "unmatched");
}

TEST(router, answers_405_with_every_allowed_method_for_a_known_path)
{
    auto r = sample_router();
    auto res = route(r, method::delete_, "/api/metrics");
    EXPECT_EQ(res.status, 405U);
    EXPECT_EQ(res.get("Allow"), "POST, GET, HEAD");
    EXPECT_EQ(boost::json::parse(res.body).as_object().at("code").as_string(),
              "METHOD_NOT_ALLOWED");
}

TEST(router, serves_head_with_the_get_handler)
{
    auto r = sample_router();
    EXPECT_EQ(route(r, method::head, "/health").status, 200U);
    EXPECT_EQ(route(r, method::head, "/api/metrics").status, 200U);
}

TEST(router, matches_paths_exactly)
{
    auto r = sample_router();
    EXPECT_EQ(route(r, method::get, "/health/").status, 404U);
    EXPECT_EQ(route(r, method::get, "/HEALTH").status, 404U);
    EXPECT_EQ(route(r, method::get, "/health?x").status, 200U);
}

TEST(router, lists_its_routes)
{
    auto r = sample_router();
    auto routes = r.routes();
    ASSERT_EQ(routes.size(), 3U);
    EXPECT_EQ(routes[1].verb, method::post);
    EXPECT_EQ(routes[1].path, "/api/metrics");
}

TEST(error_bodies, carry_code_message_and_timestamp)
{
    auto res = error_response(503, "CIRCUIT_OPEN", "Circuit \"open\"\n");
    EXPECT_EQ(res.status, 503U);
    EXPECT_EQ(res.content_type, "application/json; charset=utf-8");
    auto body = boost::json::parse(res.body).as_object();
    EXPECT_EQ(body.at("code").as_string(), "CIRCUIT_OPEN");
    EXPECT_EQ(body.at("message").as_string(), "Circuit \"open\"\n");
    const auto ts = body.at("timestamp").as_string();
    ASSERT_EQ(ts.size(), 20U);
    EXPECT_EQ(ts[10], 'T');
    EXPECT_EQ(ts[19], 'Z');
}

TEST(error_bodies, a_validation_error_lists_each_field)
{
    std::vector<field_error> errors{{"value", "must be a finite number"}, {"type", "is required"}};
    auto res = validation_error(errors);
    EXPECT_EQ(res.status, 422U);
    auto body = boost::json::parse(res.body).as_object();
    EXPECT_EQ(body.at("code").as_string(), "VALIDATION_ERROR");
    const auto& list = body.at("errors").as_array();
    ASSERT_EQ(list.size(), 2U);
    EXPECT_EQ(list[0].as_object().at("field").as_string(), "value");
    EXPECT_EQ(list[1].as_object().at("message").as_string(), "is required");
}

TEST(error_bodies, stay_valid_json_with_invalid_utf8_in_the_message)
{
    auto res = error_response(400, "BAD", std::string("bad \xff\xfe bytes \xc3\xa9", 15));
    auto body = boost::json::parse(res.body).as_object();
    EXPECT_EQ(body.at("message").as_string(), "bad \xef\xbf\xbd\xef\xbf\xbd bytes \xc3\xa9");
}

TEST(request_id, accepts_1_to_128_characters_of_the_allowed_set)
{
    EXPECT_TRUE(valid_request_id("a"));
    EXPECT_TRUE(valid_request_id("A-z_0.9:x"));
    EXPECT_TRUE(valid_request_id(std::string(128, 'x')));
    EXPECT_FALSE(valid_request_id(""));
    EXPECT_FALSE(valid_request_id(std::string(129, 'x')));
    EXPECT_FALSE(valid_request_id("a b"));
    EXPECT_FALSE(valid_request_id("a/b"));
    EXPECT_FALSE(valid_request_id("a\nb"));
}

TEST(request_id, generates_distinct_hex_ids_when_the_client_gives_none)
{
    request_context a;
    request_context b;
    a.assign_request_id("");
    b.assign_request_id("not valid!");
    EXPECT_EQ(a.request_id().size(), 32U);
    EXPECT_NE(a.request_id(), b.request_id());
    for (char c : a.request_id()) {
        EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    }
}

TEST(request_id, spreads_generated_ids_over_all_sixteen_digits_in_both_places_of_a_byte)
{
    // 64 ids are 1024 digit pairs: missing any digit in either place by chance is below 1e-25.
    std::set<char> high;
    std::set<char> low;
    for (int i = 0; i < 64; ++i) {
        request_context ctx;
        ctx.assign_request_id("");
        const std::string_view id = ctx.request_id();
        for (std::size_t d = 0; d + 1 < id.size(); d += 2) {
            high.insert(id[d]);
            low.insert(id[d + 1]);
        }
    }
    const std::set<char> all{'0', '1', '2', '3', '4', '5', '6', '7',
                             '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
    EXPECT_EQ(high, all);
    EXPECT_EQ(low, all);
}

TEST(request_context, spells_the_client_address_and_follows_when_it_changes)
{
    request_context ctx;
    ctx.client = boost::asio::ip::make_address("192.0.2.7");
    EXPECT_EQ(ctx.client_text(), "192.0.2.7");
    ctx.client = boost::asio::ip::make_address("2001:db8::1");
    EXPECT_EQ(ctx.client_text(), "2001:db8::1");
    // The session hands over its peer's text, which is then used as given.
    ctx.set_client(boost::asio::ip::make_address("127.0.0.1"), "127.0.0.1");
    EXPECT_EQ(ctx.client_text(), "127.0.0.1");
    EXPECT_EQ(ctx.client, boost::asio::ip::make_address("127.0.0.1"));
    ctx.client = boost::asio::ip::make_address("198.51.100.2");
    EXPECT_EQ(ctx.client_text(), "198.51.100.2");
}

}  // namespace
}  // namespace analytics::http

namespace analytics::http {
namespace {

TEST(traceparent, accepts_the_w3c_form_and_rejects_the_rest)
{
    EXPECT_TRUE(valid_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    EXPECT_TRUE(valid_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
    // A later version may carry more fields after a dash.
    EXPECT_TRUE(valid_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz"));
    for (const char* bad : {
             "", "garbage",
             "00-00000000000000000000000000000000-00f067aa0ba902b7-01",        // zero trace id
             "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",        // zero parent id
             "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",        // upper case
             "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",        // forbidden version
             "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  // 00 is exact
             "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",        // misplaced dash
         }) {
        EXPECT_FALSE(valid_traceparent(bad)) << bad;
    }
}

TEST(traceparent, continues_a_valid_trace_with_a_new_span)
{
    request_context ctx;
    ctx.assign_trace("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    EXPECT_EQ(ctx.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    const std::string_view tp = ctx.traceparent();
    ASSERT_TRUE(valid_traceparent(tp)) << tp;
    EXPECT_EQ(tp.substr(0, 36), "00-4bf92f3577b34da6a3ce929d0e0e4736-");
    EXPECT_NE(tp.substr(36, 16), "00f067aa0ba902b7");
    EXPECT_EQ(tp.substr(53), "01");
}

TEST(traceparent, starts_a_new_trace_when_there_is_none_or_it_is_invalid)
{
    request_context a;
    request_context b;
    a.assign_trace("");
    b.assign_trace("00-00000000000000000000000000000000-00f067aa0ba902b7-01");
    EXPECT_TRUE(valid_traceparent(a.traceparent())) << a.traceparent();
    EXPECT_TRUE(valid_traceparent(b.traceparent())) << b.traceparent();
    EXPECT_NE(a.trace_id(), b.trace_id());
}

}  // namespace
}  // namespace analytics::http
