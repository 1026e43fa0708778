#include "api/admin_handlers.hpp"

#include "http/router.hpp"
#include "support/fake_clock.hpp"
#include "support/fake_request.hpp"
#include "support/run_coro.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>

namespace analytics::api {
namespace {

using namespace std::chrono_literals;

using test::header_map;
using test::lower;

config::upstream_options initial()
{
    config::upstream_options o;
    o.failure_rate = 0.1;
    o.latency = 0ms;
    return o;
}

struct admin_fixture {
    explicit admin_fixture(std::string token = "s3cret-token")
        : handlers(std::move(token), settings, throttle)
    {
        handlers.register_routes(router);
    }

    http::response put(std::string_view body, std::optional<std::string> authorization,
                       const char* client = "192.0.2.10")
    {
        header_map headers;
        if (authorization) {
            headers["authorization"] = *authorization;
        }
        net::io_context ioc;
        http::request_context ctx;
        ctx.client = boost::asio::ip::make_address(client);
        ctx.assign_request_id("admin-test");
        http::request req(http::method::put, "/api/admin/external-service", body, &headers,
                          &test::lookup_in_map, ctx);
        return test::run_coro(ioc, router.dispatch(req));
    }

    http::response put_authorized(std::string_view body)
    {
        return put(body, "Bearer s3cret-token");
    }

    upstream::simulation_settings settings{initial()};
    test::fake_clock clock;
    auth_throttle throttle{clock};
    admin_handlers handlers;
    http::router router;
};

boost::json::object json_of(const http::response& res)
{
    return boost::json::parse(res.body).as_object();
}

// ---- authorization --------------------------------------------------------------------------

TEST(admin_handler, answers_403_to_everyone_when_no_token_is_configured)
{
    admin_fixture f("");
    for (const auto& auth : {std::optional<std::string>{}, std::optional<std::string>{"Bearer "},
                             std::optional<std::string>{"Bearer anything"}}) {
        const auto res = f.put(R"({"failure_rate":1})", auth);
        EXPECT_EQ(res.status, 403U);
        EXPECT_EQ(json_of(res).at("code"), "FORBIDDEN");
        EXPECT_TRUE(res.get("WWW-Authenticate").empty());
    }
    EXPECT_DOUBLE_EQ(f.settings.failure_rate(), 0.1);
}

TEST(admin_handler, answers_401_with_a_challenge_without_a_token)
{
    admin_fixture f;
    const auto res = f.put(R"({"failure_rate":1})", std::nullopt);
    EXPECT_EQ(res.status, 401U);
    EXPECT_EQ(res.get("WWW-Authenticate"), "Bearer");
    const auto body = json_of(res);
    EXPECT_EQ(body.at("code"), "UNAUTHORIZED");
    EXPECT_TRUE(body.contains("message"));
    EXPECT_TRUE(body.contains("timestamp"));
    EXPECT_DOUBLE_EQ(f.settings.failure_rate(), 0.1);
}

TEST(admin_handler, answers_401_for_a_wrong_token)
{
    admin_fixture f;
    for (const char* auth : {"Bearer wrong", "Bearer s3cret-toke", "Bearer s3cret-token-and-more",
                             "Bearer S3CRET-TOKEN"}) {
        const auto res = f.put(R"({"failure_rate":1})", std::string(auth));
        EXPECT_EQ(res.status, 401U) << auth;
        EXPECT_EQ(res.get("WWW-Authenticate"), R"(Bearer error="invalid_token")");
        EXPECT_EQ(json_of(res).at("code"), "UNAUTHORIZED");
    }
    EXPECT_DOUBLE_EQ(f.settings.failure_rate(), 0.1);
}

TEST(admin_handler, answers_401_for_another_scheme_or_an_empty_token)
{
    admin_fixture f;
    for (const char* auth : {"Basic czNjcmV0LXRva2Vu", "s3cret-token", "Bearer", "Bearer ",
                             "Bearers3cret-token", ""}) {
        const auto res = f.put(R"({"failure_rate":1})", std::string(auth));
        EXPECT_EQ(res.status, 401U) << auth;
        EXPECT_EQ(res.get("WWW-Authenticate").substr(0, 6), "Bearer") << auth;
    }
}

TEST(admin_handler, checks_the_token_before_reading_the_body)
{
    admin_fixture f;
    EXPECT_EQ(f.put("not json", std::nullopt).status, 401U);
    admin_fixture disabled("");
    EXPECT_EQ(disabled.put("not json", "Bearer x").status, 403U);
}

TEST(admin_handler, accepts_the_scheme_in_any_case)
{
    admin_fixture f;
    EXPECT_EQ(f.put(R"({"failure_rate":0.5})", "bearer s3cret-token").status, 200U);
    EXPECT_EQ(f.put(R"({"failure_rate":0.5})", "BEARER  s3cret-token ").status, 200U);
}

TEST(admin_handler, refuses_a_client_after_ten_wrong_tokens_whatever_it_sends_next)
{
    admin_fixture f;
    for (int i = 0; i < 10; ++i) {
        EXPECT_EQ(f.put(R"({"failure_rate":1})", "Bearer wrong").status, 401U) << i;
    }
    const auto refused = f.put(R"({"failure_rate":1})", "Bearer s3cret-token");
    EXPECT_EQ(refused.status, 429U);
    EXPECT_EQ(json_of(refused).at("code"), "RATE_LIMIT_EXCEEDED");
    EXPECT_EQ(refused.get("Retry-After"), "60");
    EXPECT_DOUBLE_EQ(f.settings.failure_rate(), 0.1);
    // The right token from another client still works.
    EXPECT_EQ(f.put(R"({"failure_rate":1})", "Bearer s3cret-token", "192.0.2.11").status, 200U);
    // Once the minute has passed, the first client may try again.
    f.clock.advance(60s);
    EXPECT_EQ(f.put(R"({"failure_rate":0.5})", "Bearer s3cret-token").status, 200U);
}

TEST(admin_handler, counts_only_wrong_tokens_against_a_client)
{
    admin_fixture f;
    for (int i = 0; i < 20; ++i) {
        EXPECT_EQ(f.put(R"({"failure_rate":1})", std::nullopt).status, 401U) << i;
    }
    EXPECT_EQ(f.put(R"({"failure_rate":1})", "Bearer s3cret-token").status, 200U);
}

// ---- body -----------------------------------------------------------------------------------

TEST(admin_handler, answers_400_for_a_body_that_is_not_json)
{
    admin_fixture f;
    for (const char* body : {"", "{", "failure_rate=1", R"({"failure_rate":1,})"}) {
        const auto res = f.put_authorized(body);
        EXPECT_EQ(res.status, 400U) << body;
        EXPECT_EQ(json_of(res).at("code"), "INVALID_JSON");
    }
    EXPECT_DOUBLE_EQ(f.settings.failure_rate(), 0.1);
}

TEST(admin_handler, answers_422_for_a_failure_rate_out_of_range_or_not_a_number)
{
    admin_fixture f;
    for (const char* value : {"1.5", "-0.1", "\"0.5\"", "true", "null", "[]", "1e999"}) {
        const auto res = f.put_authorized(std::string(R"({"failure_rate":)") + value + "}");
        ASSERT_EQ(res.status, 422U) << value;
        const auto body = json_of(res);
        EXPECT_EQ(body.at("code"), "VALIDATION_ERROR");
        const auto& errors = body.at("errors").as_array();
        ASSERT_EQ(errors.size(), 1U);
        EXPECT_EQ(errors[0].as_object().at("field"), "failure_rate");
    }
    EXPECT_DOUBLE_EQ(f.settings.failure_rate(), 0.1);
}

TEST(admin_handler, answers_422_for_a_latency_that_is_not_a_non_negative_integer)
{
    admin_fixture f;
    for (const char* value :
         {"-1", "1.5", "\"100\"", "false", "600001", "1e30", "18446744073709551615"}) {
        const auto res = f.put_authorized(std::string(R"({"latency_ms":)") + value + "}");
        ASSERT_EQ(res.status, 422U) << value;
        const auto body = json_of(res);
        const auto& errors = body.at("errors").as_array();
        ASSERT_EQ(errors.size(), 1U);
        EXPECT_EQ(errors[0].as_object().at("field"), "latency_ms");
    }
    EXPECT_EQ(f.settings.latency(), 0ms);
}

TEST(admin_handler, answers_422_when_neither_field_is_given)
{
    admin_fixture f;
    for (const char* request : {"{}", R"({"failure":1})", "[]", "0.5", "null"}) {
        const auto res = f.put_authorized(request);
        ASSERT_EQ(res.status, 422U) << request;
        const auto body = json_of(res);
        const auto& errors = body.at("errors").as_array();
        ASSERT_EQ(errors.size(), 1U);
        EXPECT_EQ(errors[0].as_object().at("field"), "body");
    }
}

TEST(admin_handler, reports_every_bad_field_and_applies_nothing)
{
    admin_fixture f;
    auto res = f.put_authorized(R"({"failure_rate":2,"latency_ms":-5})");
    ASSERT_EQ(res.status, 422U);
    EXPECT_EQ(json_of(res).at("errors").as_array().size(), 2U);
    res = f.put_authorized(R"({"failure_rate":0.9,"latency_ms":-5})");
    ASSERT_EQ(res.status, 422U);
    EXPECT_DOUBLE_EQ(f.settings.failure_rate(), 0.1);
    EXPECT_EQ(f.settings.latency(), 0ms);
}

// ---- changes --------------------------------------------------------------------------------

TEST(admin_handler, changes_the_failure_rate_and_answers_the_settings_in_force)
{
    admin_fixture f;
    const auto res = f.put_authorized(R"({"failure_rate":1.0})");
    ASSERT_EQ(res.status, 200U);
    EXPECT_EQ(res.body, R"({"failure_rate":1,"latency_ms":0})");
    EXPECT_DOUBLE_EQ(f.settings.failure_rate(), 1.0);
    EXPECT_EQ(f.settings.latency(), 0ms);
}

TEST(admin_handler, changes_the_latency_alone)
{
    admin_fixture f;
    const auto res = f.put_authorized(R"({"latency_ms":250})");
    ASSERT_EQ(res.status, 200U);
    EXPECT_EQ(res.body, R"({"failure_rate":0.1,"latency_ms":250})");
    EXPECT_EQ(f.settings.latency(), 250ms);
    EXPECT_DOUBLE_EQ(f.settings.failure_rate(), 0.1);
}

TEST(admin_handler, changes_both_and_accepts_integral_numbers_in_either_form)
{
    admin_fixture f;
    auto res = f.put_authorized(R"({"failure_rate":0,"latency_ms":1500.0,"extra":"ignored"})");
    ASSERT_EQ(res.status, 200U);
    const auto body = json_of(res);
    EXPECT_EQ(body.at("failure_rate").to_number<double>(), 0.0);
    EXPECT_EQ(body.at("latency_ms"), 1500);
    EXPECT_EQ(f.settings.latency(), 1500ms);
    res = f.put_authorized(R"({"failure_rate":0.25,"latency_ms":600000})");
    ASSERT_EQ(res.status, 200U);
    EXPECT_EQ(res.body, R"({"failure_rate":0.25,"latency_ms":600000})");
}

TEST(admin_handler, logs_each_change_with_the_old_and_new_values)
{
    admin_fixture f;
    testing::internal::CaptureStdout();
    const auto res = f.put_authorized(R"({"failure_rate":0.75})");
    const std::string out = testing::internal::GetCapturedStdout();
    ASSERT_EQ(res.status, 200U);
    const auto at = out.find(R"("event":"upstream.settings_changed")");
    ASSERT_NE(at, std::string::npos) << out;
    const auto line_start = out.rfind('\n', at) == std::string::npos ? 0 : out.rfind('\n', at) + 1;
    const auto line = out.substr(line_start, out.find('\n', at) - line_start);
    const auto fields = boost::json::parse(line).as_object();
    EXPECT_EQ(fields.at("failure_rate").to_number<double>(), 0.75);
    EXPECT_EQ(fields.at("previous_failure_rate").to_number<double>(), 0.1);
    EXPECT_EQ(fields.at("latency_ms"), 0);
    EXPECT_EQ(fields.at("request_id"), "admin-test");
}

TEST(admin_handler, is_routed_for_put_only)
{
    admin_fixture f;
    header_map headers;
    net::io_context ioc;
    http::request_context ctx;
    http::request req(http::method::post, "/api/admin/external-service", "{}", &headers,
                      &test::lookup_in_map, ctx);
    const auto res = test::run_coro(ioc, f.router.dispatch(req));
    EXPECT_EQ(res.status, 405U);
    EXPECT_EQ(res.get("Allow"), "PUT");
}

// ---- token comparison -----------------------------------------------------------------------

TEST(admin_token_comparison, is_equality)
{
    EXPECT_TRUE(constant_time_equal("abc", "abc"));
    EXPECT_TRUE(constant_time_equal("", ""));
    EXPECT_FALSE(constant_time_equal("abc", "abd"));
    EXPECT_FALSE(constant_time_equal("abc", "ab"));
    EXPECT_FALSE(constant_time_equal("abc", "abcd"));
    EXPECT_FALSE(constant_time_equal("abc", ""));
    EXPECT_FALSE(constant_time_equal("", "a"));
    EXPECT_FALSE(constant_time_equal(std::string_view("a\0", 2), "a"));
}

}  // namespace
}  // namespace analytics::api
