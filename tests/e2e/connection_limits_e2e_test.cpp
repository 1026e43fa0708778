// End-to-end tests of what one client can make the server hold: connections that never send a
// byte, connections beyond its share (HTTP_MAX_CONNECTIONS_PER_CLIENT), bodies it does not finish
// (HTTP_MAX_BUFFERED_BODY_BYTES); and IPv6 clients counted by network (RATE_LIMIT_IPV6_PREFIX).
// Other clients are other loopback addresses (127.0.0.2, ...): 127.0.0.1 is a trusted proxy by
// default, and proxies are not capped.

#include "e2e/http_client.hpp"
#include "e2e/metric_bodies.hpp"
#include "e2e/service_process.hpp"
#include "support/redis_deployment.hpp"
#include "ratelimit/sliding_window_limiter.hpp"
#include "support/redis_admin.hpp"
#include "support/redis_server.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace analytics::test {
namespace {

using namespace std::chrono_literals;
using env = std::map<std::string, std::string>;

void expect_error(const http_reply& r, unsigned status, const std::string& code)
{
    EXPECT_EQ(r.status, status) << r.body;
    const auto body = boost::json::parse(r.body).as_object();
    EXPECT_EQ(body.at("code").as_string(), code);
    EXPECT_EQ(body.at("timestamp").as_string().size(), 20U);
    EXPECT_FALSE(r.header("x-request-id").empty());
}

TEST(connection_limits_e2e, a_connection_that_never_sends_a_byte_gets_the_read_timeout)
{
    service_process svc(
        env{{"HTTP_READ_TIMEOUT_SECONDS", "1"}, {"HTTP_IDLE_TIMEOUT_SECONDS", "60"}});
    http_connection silent(svc.port(), 5s);
    const auto started = std::chrono::steady_clock::now();
    EXPECT_TRUE(silent.wait_closed()) << "still open after 5 s";
    const auto waited = std::chrono::steady_clock::now() - started;
    EXPECT_GE(waited, 900ms);
    EXPECT_LT(waited, 3s);

    // Between requests the idle timeout applies, not the read timeout.
    http_connection kept(svc.port(), 5s);
    EXPECT_EQ(kept.request("GET", "/health").status, 200U);
    std::this_thread::sleep_for(2s);
    EXPECT_FALSE(kept.closed_by_server());
    EXPECT_EQ(kept.request("GET", "/health").status, 200U);
}

TEST(connection_limits_e2e, a_client_past_its_connection_cap_gets_429_and_others_are_served)
{
    service_process svc(env{{"HTTP_MAX_CONNECTIONS_PER_CLIENT", "3"}});
    std::vector<std::unique_ptr<http_connection>> held;
    for (int i = 0; i < 3; ++i) {
        held.push_back(std::make_unique<http_connection>(svc.port(), 5s, "127.0.0.2"));
        ASSERT_EQ(held.back()->request("GET", "/health").status, 200U) << i;
    }

    // The fourth is answered at once, before it sends anything, and closed.
    http_connection over(svc.port(), 5s, "127.0.0.2");
    const auto refused = over.read_reply();
    ASSERT_TRUE(refused.has_value()) << "no answer past the cap";
    expect_error(*refused, 429, "TOO_MANY_CONNECTIONS");
    EXPECT_EQ(refused->header("retry-after"), "1");
    EXPECT_EQ(refused->header("connection"), "close");
    EXPECT_TRUE(over.wait_closed());

    // Another client, and the trusted proxy with more connections than the cap, are served.
    http_connection other(svc.port(), 5s, "127.0.0.3");
    EXPECT_EQ(other.request("GET", "/health").status, 200U);
    std::vector<std::unique_ptr<http_connection>> proxied;
    for (int i = 0; i < 5; ++i) {
        proxied.push_back(std::make_unique<http_connection>(svc.port(), 5s));
        EXPECT_EQ(proxied.back()->request("GET", "/health").status, 200U) << i;
    }

    // A connection that ends gives its place back.
    held[0]->send_raw("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ASSERT_TRUE(held[0]->read_reply().has_value());
    EXPECT_TRUE(held[0]->wait_closed());
    std::this_thread::sleep_for(100ms);
    http_connection again(svc.port(), 5s, "127.0.0.2");
    EXPECT_EQ(again.request("GET", "/health").status, 200U);
}

TEST(connection_limits_e2e, bodies_past_the_buffered_bytes_limit_get_503_until_room_returns)
{
    service_process svc(
        env{{"HTTP_MAX_BUFFERED_BODY_BYTES", "100000"}, {"RATE_LIMIT_REQUESTS", "1000000"}});
    // A valid metric padded with a field the service ignores, 60,000 bytes in all.
    std::string body =
        R"({"timestamp":")" + now_rfc3339() + R"(","value":1,"type":"buffered_bodies","pad":")";
    body += std::string(60000 - body.size() - 2, 'p') + R"("})";
    ASSERT_EQ(body.size(), 60000U);
    const std::string head =
        "POST /api/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 60000\r\n\r\n";

    // The first unfinished body holds 60,000 of the 100,000 bytes; the second does not fit.
    http_connection first(svc.port(), 5s);
    first.send_raw(head + body.substr(0, 30000));
    std::this_thread::sleep_for(300ms);
    http_connection second(svc.port(), 5s);
    second.send_raw(head + body.substr(0, 30000));
    const auto busy = second.read_reply();
    ASSERT_TRUE(busy.has_value()) << "no answer to a body past the limit";
    expect_error(*busy, 503, "SERVER_BUSY");
    EXPECT_EQ(busy->header("retry-after"), "1");
    EXPECT_TRUE(second.wait_closed());

    // The first finishes; then there is room again.
    first.send_raw(body.substr(30000));
    const auto stored = first.read_reply();
    ASSERT_TRUE(stored.has_value());
    EXPECT_EQ(stored->status, 201U) << stored->body;
    http_connection third(svc.port(), 5s);
    third.send_raw(head + body.substr(0, 30000));
    std::this_thread::sleep_for(100ms);
    third.send_raw(body.substr(30000));
    const auto later = third.read_reply();
    ASSERT_TRUE(later.has_value());
    EXPECT_EQ(later->status, 201U) << later->body;
}

TEST(connection_limits_e2e, ipv6_clients_of_one_network_share_one_rate_limit)
{
    deployment_admin redis;  // one node or the cluster, as the service is given
    redis.flush();
    service_process svc;  // RATE_LIMIT_REQUESTS 10, RATE_LIMIT_IPV6_PREFIX 64
    const auto post_from = [&](const std::string& client) {
        return http_request(svc.port(), "POST", "/api/metrics",
                            metric_body(now_rfc3339(), "1", "ipv6_grouping"),
                            {{"X-Forwarded-For", client}})
            .status;
    };
    // Twelve addresses of one /64, through the trusted proxy (127.0.0.1): ten pass.
    for (int i = 1; i <= 10; ++i) {
        EXPECT_EQ(post_from("2001:db8:1:2::" + std::to_string(i)), 201U) << i;
    }
    EXPECT_EQ(post_from("2001:db8:1:2::11"), 429U);
    EXPECT_EQ(post_from("2001:db8:1:2:ffff:ffff:ffff:ffff"), 429U);
    // The next /64 is another client.
    EXPECT_EQ(post_from("2001:db8:1:3::1"), 201U);
    EXPECT_EQ(
        redis.integer({"EXISTS", ratelimit::sliding_window_limiter::key_for("2001:db8:1:2::/64")}),
        1);
}

}  // namespace
}  // namespace analytics::test
