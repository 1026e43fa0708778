#include "http/client_connections.hpp"

#include <gtest/gtest.h>

#include <string>

namespace analytics::http {
namespace {

using admission = client_connections::admission;

boost::asio::ip::address addr(const std::string& text)
{
    return boost::asio::ip::make_address(text);
}

client_connections table(std::size_t max_per_client)
{
    return client_connections(max_per_client, 64, *config::parse_cidr_list("10.0.0.5/32"));
}

TEST(client_connections, refuses_a_client_past_its_cap_and_admits_it_again_after_a_close)
{
    auto t = table(2);
    EXPECT_EQ(t.enter(addr("203.0.113.7")), admission::counted);
    EXPECT_EQ(t.enter(addr("203.0.113.7")), admission::counted);
    EXPECT_EQ(t.enter(addr("203.0.113.7")), admission::refused);
    EXPECT_EQ(t.enter(addr("203.0.113.8")), admission::counted);  // another client
    t.leave(addr("203.0.113.7"));
    EXPECT_EQ(t.enter(addr("203.0.113.7")), admission::counted);
}

TEST(client_connections, counts_an_ipv6_network_as_one_client)
{
    auto t = table(2);
    EXPECT_EQ(t.enter(addr("2001:db8:1:2::1")), admission::counted);
    EXPECT_EQ(t.enter(addr("2001:db8:1:2:ffff::9")), admission::counted);
    EXPECT_EQ(t.enter(addr("2001:db8:1:2::77")), admission::refused);
    EXPECT_EQ(t.enter(addr("2001:db8:1:3::1")), admission::counted);  // the next /64
}

TEST(client_connections, counts_an_ipv4_mapped_peer_as_its_ipv4_address)
{
    auto t = table(1);
    EXPECT_EQ(t.enter(addr("192.0.2.1")), admission::counted);
    EXPECT_EQ(t.enter(addr("::ffff:192.0.2.1")), admission::refused);
}

TEST(client_connections, does_not_cap_a_trusted_proxy)
{
    auto t = table(1);
    for (int i = 0; i < 10; ++i) {
        EXPECT_EQ(t.enter(addr("10.0.0.5")), admission::uncapped);
    }
    EXPECT_EQ(t.clients(), 0U);
}

TEST(client_connections, forgets_a_client_with_its_last_connection)
{
    auto t = table(3);
    t.enter(addr("203.0.113.7"));
    t.enter(addr("203.0.113.7"));
    t.enter(addr("2001:db8::1"));
    EXPECT_EQ(t.clients(), 2U);
    t.leave(addr("203.0.113.7"));
    t.leave(addr("203.0.113.7"));
    t.leave(addr("2001:db8::1"));
    EXPECT_EQ(t.clients(), 0U);
}

TEST(client_connections, keeps_no_entry_for_a_refused_connection)
{
    client_connections t(1, 64, {});
    EXPECT_EQ(t.enter(addr("203.0.113.7")), admission::counted);
    EXPECT_EQ(t.enter(addr("203.0.113.7")), admission::refused);
    EXPECT_EQ(t.clients(), 1U);
    t.leave(addr("203.0.113.7"));
    EXPECT_EQ(t.clients(), 0U);
}

}  // namespace
}  // namespace analytics::http
