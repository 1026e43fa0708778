// End-to-end tests of what the server refuses before routing (RFC 9112, answered as nginx
// answers): a missing or repeated Host, two Authorization headers, transfer codings other than
// chunked, oversized chunk extensions; and the absolute-form target it must accept. A refused
// HEAD is answered with the error's head alone.

#include "e2e/http_client.hpp"
#include "e2e/service_process.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <string>
#include <sys/socket.h>
#include <sys/time.h>

namespace analytics::test {
namespace {

using namespace std::chrono_literals;

// Sends `bytes` on a fresh connection and reads the one answer; the connection must then close.
http_reply answer_to(std::uint16_t port, const std::string& bytes, bool closes = true)
{
    http_connection c(port, 5s);
    c.send_raw(bytes);
    auto r = c.read_reply();
    if (!r) {
        ADD_FAILURE() << "no answer to: " << bytes.substr(0, 120);
        return {};
    }
    if (closes) {
        EXPECT_EQ(r->header("connection"), "close");
        EXPECT_TRUE(c.wait_closed());
    }
    return *r;
}

void expect_error(const http_reply& r, unsigned status, const std::string& code)
{
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.header("content-type"), "application/json; charset=utf-8");
    const auto body = boost::json::parse(r.body).as_object();
    EXPECT_EQ(body.at("code").as_string(), code);
    EXPECT_FALSE(body.at("message").as_string().empty());
    EXPECT_EQ(body.at("timestamp").as_string().size(), 20U);
}

TEST(http_strictness_e2e, an_http_1_1_request_without_host_or_with_two_is_400)
{
    service_process svc;
    expect_error(answer_to(svc.port(), "GET /health HTTP/1.1\r\n\r\n"), 400, "BAD_REQUEST");
    expect_error(answer_to(svc.port(), "GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400,
                 "BAD_REQUEST");
    expect_error(answer_to(svc.port(), "GET /health HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"), 400,
                 "BAD_REQUEST");
    // HTTP/1.0 did not require Host.
    EXPECT_EQ(answer_to(svc.port(), "GET /health HTTP/1.0\r\n\r\n").status, 200U);
}

TEST(http_strictness_e2e, two_authorization_headers_are_400_and_change_nothing)
{
    service_process svc(std::map<std::string, std::string>{{"ADMIN_TOKEN", "e2e-admin-token-16"}});
    const std::string body = R"({"failure_rate":1})";
    const auto r = answer_to(svc.port(),
                             "PUT /api/admin/external-service HTTP/1.1\r\nHost: a\r\n"
                             "Authorization: Bearer e2e-admin-token-16\r\n"
                             "Authorization: Bearer wrong\r\n"
                             "Content-Type: application/json\r\nContent-Length: " +
                                 std::to_string(body.size()) + "\r\n\r\n" + body);
    expect_error(r, 400, "BAD_REQUEST");
    // Nothing was applied: the settings in force still have the failure rate of the start.
    const auto now =
        http_request(svc.port(), "PUT", "/api/admin/external-service", R"({"latency_ms":0})",
                     {{"Authorization", "Bearer e2e-admin-token-16"}});
    ASSERT_EQ(now.status, 200U) << now.body;
    EXPECT_EQ(now.json().as_object().at("failure_rate").to_number<double>(), 0.0);
}

TEST(http_strictness_e2e, a_transfer_coding_other_than_chunked_alone_is_501)
{
    service_process svc;
    const std::string body = "5\r\nhello\r\n0\r\n\r\n";
    for (const std::string coding : {"gzip, chunked", "identity", "gzip"}) {
        const auto r = answer_to(svc.port(),
                                 "POST /api/metrics HTTP/1.1\r\nHost: a\r\n"
                                 "Content-Type: application/json\r\n"
                                 "Transfer-Encoding: " +
                                     coding + "\r\n\r\n" + body);
        expect_error(r, 501, "NOT_IMPLEMENTED");
    }
}

TEST(http_strictness_e2e, a_200_kb_chunk_extension_is_answered_400_and_logged)
{
    service_process svc;
    const std::string head =
        "POST /api/metrics HTTP/1.1\r\nHost: a\r\nX-Request-Id: long-extension\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    const auto r = answer_to(svc.port(),
                             head + "5;" + std::string(200 * 1024, 'x') + "\r\nhello\r\n0\r\n\r\n");
    expect_error(r, 400, "BAD_REQUEST");
    EXPECT_NE(r.body.find("extension"), std::string::npos) << r.body;
    // More than 1 KiB of extensions in total, however they are spread over chunks.
    std::string spread = head;
    for (int i = 0; i < 40; ++i) {
        spread += "1;ext" + std::to_string(i) + "=" + std::string(30, 'v') + "\r\nx\r\n";
    }
    expect_error(answer_to(svc.port(), spread + "0\r\n\r\n"), 400, "BAD_REQUEST");
    // A few short extensions are fine (405: the body was read and the router answered).
    const auto small = answer_to(svc.port(),
                                 "POST /health HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
                                 "chunked\r\nConnection: close\r\n\r\n"
                                 "5;a=b;c=\"d\"\r\nhello\r\n0\r\n\r\n");
    EXPECT_EQ(small.status, 405U);
    // Every answer is logged; nothing escaped a session.
    EXPECT_TRUE(svc.wait_for_lines("\"status\":400", 2, 5s));
    for (const auto& line : svc.lines()) {
        EXPECT_EQ(line.find("exception"), std::string::npos) << line;
    }
    EXPECT_EQ(http_request(svc.port(), "GET", "/health").status, 200U);
}

// Everything the server sends on a fresh connection for `bytes`, until it closes (or 5 s pass).
std::string raw_exchange(std::uint16_t port, const std::string& bytes)
{
    namespace net = boost::asio;
    net::io_context ioc;
    net::ip::tcp::socket socket(ioc);
    socket.connect({net::ip::address_v4::loopback(), port});
    const timeval timeout{5, 0};
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    net::write(socket, net::buffer(bytes));
    std::string received;
    boost::system::error_code ec;
    net::read(socket, net::dynamic_buffer(received), ec);
    return received;
}

TEST(http_strictness_e2e, a_refused_head_request_gets_the_error_head_without_its_body)
{
    service_process svc;
    // Refused once the head is read (two Host fields), and refused before the parser has the
    // request line (a target over the header limit): the method is known either way.
    for (const std::string& request :
         {std::string("HEAD /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
          "HEAD /" + std::string(9000, 'x') + " HTTP/1.1\r\nHost: a\r\n\r\n"}) {
        const std::string answer = raw_exchange(svc.port(), request);
        const auto head_end = answer.find("\r\n\r\n");
        ASSERT_NE(head_end, std::string::npos) << answer;
        EXPECT_TRUE(answer.starts_with("HTTP/1.1 4")) << answer;
        // The head says how long the error's body is, and no body follows.
        EXPECT_NE(answer.find("Content-Length: "), std::string::npos) << answer;
        EXPECT_EQ(answer.size(), head_end + 4) << answer;
    }
    EXPECT_EQ(http_request(svc.port(), "GET", "/health").status, 200U);
}

TEST(http_strictness_e2e, an_absolute_form_target_is_routed_by_its_path)
{
    service_process svc;
    http_connection c(svc.port());
    c.send_raw("GET http://127.0.0.1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    auto health = c.read_reply();
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200U);
    EXPECT_EQ(boost::json::parse(health->body).as_object().at("status").as_string(), "healthy");
    c.send_raw(
        "GET HTTP://example.com:8000/api/metrics/summary?type=absolute_form HTTP/1.1\r\n"
        "Host: example.com:8000\r\n\r\n");
    auto summary = c.read_reply();
    ASSERT_TRUE(summary);
    EXPECT_EQ(summary->status, 200U) << summary->body;
    EXPECT_EQ(boost::json::parse(summary->body).as_object().at("type").as_string(),
              "absolute_form");
}

}  // namespace
}  // namespace analytics::test
