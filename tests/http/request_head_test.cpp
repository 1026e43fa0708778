#include "http/request_head.hpp"

#include "http/client_ip.hpp"

#include <boost/beast/http/fields.hpp>

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <utility>

namespace analytics::http {
namespace {

using field_list = std::initializer_list<std::pair<const char*, const char*>>;

boost::beast::http::fields fields_of(field_list list)
{
    boost::beast::http::fields f;
    for (const auto& [name, value] : list) {
        f.insert(name, value);
    }
    return f;
}

unsigned status_of(field_list list, unsigned version = 11)
{
    std::string storage;
    return scan_head(fields_of(list), version, storage).refused.status;
}

TEST(scan_head, accepts_an_http_1_1_request_with_one_host)
{
    EXPECT_EQ(status_of({{"Host", "api.example"}}), 0U);
    EXPECT_EQ(status_of({{"Host", ""}}), 0U);  // RFC 9112 § 3.2: empty when there is no authority
}

TEST(scan_head, refuses_an_http_1_1_request_without_host_but_not_an_http_1_0_one)
{
    EXPECT_EQ(status_of({{"Accept", "*/*"}}), 400U);
    EXPECT_EQ(status_of({{"Accept", "*/*"}}, 10), 0U);
}

TEST(scan_head, refuses_two_host_fields_in_any_version)
{
    EXPECT_EQ(status_of({{"Host", "a"}, {"Host", "b"}}), 400U);
    EXPECT_EQ(status_of({{"Host", "a"}, {"host", "a"}}, 10), 400U);
}

TEST(scan_head, refuses_two_authorization_fields)
{
    EXPECT_EQ(status_of({{"Host", "a"}, {"Authorization", "Bearer x"}}), 0U);
    const auto refused =
        status_of({{"Host", "a"}, {"Authorization", "Bearer x"}, {"authorization", "Bearer y"}});
    EXPECT_EQ(refused, 400U);
}

TEST(scan_head, answers_501_to_any_transfer_coding_but_chunked_alone)
{
    EXPECT_EQ(status_of({{"Host", "a"}, {"Transfer-Encoding", "chunked"}}), 0U);
    EXPECT_EQ(status_of({{"Host", "a"}, {"Transfer-Encoding", " Chunked "}}), 0U);
    for (const char* coding : {"gzip, chunked", "gzip", "identity", "chunked, chunked",
                               "chunked;q=1", "", "x-chunked"}) {
        EXPECT_EQ(status_of({{"Host", "a"}, {"Transfer-Encoding", coding}}), 501U) << coding;
    }
    EXPECT_EQ(
        status_of({{"Host", "a"}, {"Transfer-Encoding", "gzip"}, {"Transfer-Encoding", "chunked"}}),
        501U);
}

TEST(scan_head, refusals_are_in_the_error_format_fields)
{
    std::string storage;
    const auto head = scan_head(fields_of({{"Transfer-Encoding", "gzip, chunked"}}), 11, storage);
    // No Host is named first: one answer per request, the most basic problem.
    EXPECT_EQ(head.refused.code, "BAD_REQUEST");
    EXPECT_FALSE(head.refused.message.empty());
    const auto coding =
        scan_head(fields_of({{"Host", "a"}, {"Transfer-Encoding", "gzip, chunked"}}), 11, storage);
    EXPECT_EQ(coding.refused.code, "NOT_IMPLEMENTED");
}

TEST(scan_head, finds_the_fields_the_session_reads_in_any_case)
{
    std::string storage;
    // The views point into the fields: they must outlive the scan's result.
    const auto fields = fields_of({{"host", "a"},
                                   {"x-request-id", "req-1"},
                                   {"X-Request-Id", "req-2"},
                                   {"TraceParent", "00-abc"},
                                   {"user-agent", "curl/8"},
                                   {"EXPECT", "100-Continue"}});
    const auto head = scan_head(fields, 11, storage);
    EXPECT_FALSE(head.refused);
    EXPECT_EQ(head.request_id, "req-1");  // the first, as a lookup by name finds it
    EXPECT_EQ(head.traceparent, "00-abc");
    EXPECT_EQ(head.user_agent, "curl/8");
    EXPECT_TRUE(head.expects_continue);
    EXPECT_TRUE(head.forwarded_for.empty());
}

TEST(scan_head, keeps_the_first_field_even_when_it_is_empty)
{
    std::string storage;
    // A lookup by name finds the first line; an empty first line must not let a later one in.
    const auto fields = fields_of({{"Host", "a"},
                                   {"User-Agent", ""},
                                   {"User-Agent", "curl/8"},
                                   {"X-Request-Id", ""},
                                   {"X-Request-Id", "req-2"},
                                   {"traceparent", ""},
                                   {"traceparent", "00-abc"}});
    const auto head = scan_head(fields, 11, storage);
    EXPECT_EQ(head.user_agent, "");
    EXPECT_EQ(head.request_id, "");
    EXPECT_EQ(head.traceparent, "");
}

TEST(scan_head, joins_every_x_forwarded_for_line_in_order)
{
    std::string storage;
    const auto one_line = fields_of({{"Host", "a"}, {"X-Forwarded-For", "6.6.6.6, 10.0.0.5"}});
    EXPECT_EQ(scan_head(one_line, 11, storage).forwarded_for, "6.6.6.6, 10.0.0.5");
    const auto three_lines = fields_of({{"X-Forwarded-For", "6.6.6.6"},
                                        {"Host", "a"},
                                        {"x-forwarded-for", "198.51.100.1"},
                                        {"X-FORWARDED-FOR", "10.0.0.5"}});
    EXPECT_EQ(scan_head(three_lines, 11, storage).forwarded_for, "6.6.6.6,198.51.100.1,10.0.0.5");
}

TEST(scan_head, joins_x_forwarded_for_exactly_as_joined_forwarded_for_does)
{
    for (const field_list lines :
         {field_list{{"X-Forwarded-For", ""}, {"X-Forwarded-For", "1.2.3.4"}},
          field_list{{"X-Forwarded-For", "1.2.3.4"}, {"X-Forwarded-For", ""}},
          field_list{
              {"X-Forwarded-For", "a"}, {"X-Forwarded-For", ""}, {"X-Forwarded-For", "b"}}}) {
        const auto fields = fields_of(lines);
        std::string storage;
        EXPECT_EQ(scan_head(fields, 11, storage).forwarded_for, joined_forwarded_for(fields));
    }
}

TEST(origin_form, leaves_an_origin_form_target_alone)
{
    std::string storage;
    EXPECT_EQ(origin_form("/health?x=1", storage), "/health?x=1");
    EXPECT_EQ(origin_form("*", storage), "*");
    EXPECT_EQ(origin_form("example.com:443", storage), "example.com:443");
}

TEST(origin_form, takes_path_and_query_of_an_absolute_form_target)
{
    std::string storage;
    EXPECT_EQ(origin_form("http://host/health", storage), "/health");
    EXPECT_EQ(origin_form("HTTP://host:8000/api/metrics/summary?type=cpu", storage),
              "/api/metrics/summary?type=cpu");
    EXPECT_EQ(origin_form("https://[::1]:8443/ready", storage), "/ready");
    EXPECT_EQ(origin_form("http://host", storage), "/");
    EXPECT_EQ(origin_form("http://host?type=cpu", storage), "/?type=cpu");
}

}  // namespace
}  // namespace analytics::http
