#include "http/client_ip.hpp"

#include "http/message.hpp"

#include <boost/beast/http/fields.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace analytics::http {
namespace {

boost::asio::ip::address addr(const std::string& text)
{
    return boost::asio::ip::make_address(text);
}

std::vector<config::cidr> trusted(std::string_view list)
{
    auto parsed = config::parse_cidr_list(list);
    EXPECT_TRUE(parsed) << list;
    return parsed.value_or(std::vector<config::cidr>{});
}

// A load balancer at 10.0.0.5 in front of an nginx at 127.0.0.1.
const std::vector<config::cidr> k_proxies = trusted("127.0.0.1/32,::1/128,10.0.0.0/8,fd00::/8");

std::string client(std::string_view peer, std::string_view xff,
                   const std::vector<config::cidr>& proxies = k_proxies)
{
    return client_address(addr(std::string(peer)), xff, proxies).to_string();
}

TEST(client_address, ignores_x_forwarded_for_from_an_untrusted_peer)
{
    EXPECT_EQ(client("203.0.113.7", "198.51.100.1"), "203.0.113.7");
    EXPECT_EQ(client("203.0.113.7", "127.0.0.1"), "203.0.113.7");
}

TEST(client_address, uses_the_peer_when_the_header_is_empty)
{
    EXPECT_EQ(client("127.0.0.1", ""), "127.0.0.1");
    EXPECT_EQ(client("127.0.0.1", "   "), "127.0.0.1");
}

TEST(client_address, takes_the_forwarded_address_from_a_trusted_peer)
{
    EXPECT_EQ(client("127.0.0.1", "198.51.100.1"), "198.51.100.1");
}

TEST(client_address, takes_the_right_most_untrusted_address)
{
    // The left entry was written by the client and could say anything.
    EXPECT_EQ(client("127.0.0.1", "1.1.1.1, 198.51.100.1"), "198.51.100.1");
}

TEST(client_address, skips_a_chain_of_trusted_proxies)
{
    EXPECT_EQ(client("127.0.0.1", "6.6.6.6, 198.51.100.1, 10.0.0.5, 10.0.0.6"), "198.51.100.1");
}

TEST(client_address, takes_the_left_most_address_when_every_hop_is_trusted)
{
    EXPECT_EQ(client("127.0.0.1", "10.0.0.9, 10.0.0.5"), "10.0.0.9");
}

TEST(client_address, trusts_nothing_with_an_empty_trust_list)
{
    EXPECT_EQ(client("127.0.0.1", "198.51.100.1", {}), "127.0.0.1");
}

TEST(client_address, understands_ipv6_entries)
{
    EXPECT_EQ(client("::1", "2001:db8::1"), "2001:db8::1");
    EXPECT_EQ(client("::1", "2001:db8::1, fd00::5"), "2001:db8::1");
}

TEST(client_address, understands_bracketed_and_port_forms)
{
    EXPECT_EQ(client("127.0.0.1", "198.51.100.1:5678"), "198.51.100.1");
    EXPECT_EQ(client("127.0.0.1", "[2001:db8::1]"), "2001:db8::1");
    EXPECT_EQ(client("127.0.0.1", "[2001:db8::1]:443"), "2001:db8::1");
    EXPECT_EQ(client("127.0.0.1", "198.51.100.1, [::1]:80"), "198.51.100.1");
    EXPECT_EQ(client("127.0.0.1", "198.51.100.1, 10.0.0.5:1234"), "198.51.100.1");
}

TEST(client_address, tolerates_spaces_and_tabs_around_entries)
{
    EXPECT_EQ(client("127.0.0.1", "  198.51.100.1\t,\t10.0.0.5  "), "198.51.100.1");
    EXPECT_EQ(client("127.0.0.1", "198.51.100.1,10.0.0.5"), "198.51.100.1");
}

TEST(client_address, stops_at_garbage_and_uses_the_nearest_trusted_hop)
{
    EXPECT_EQ(client("127.0.0.1", "unknown"), "127.0.0.1");
    EXPECT_EQ(client("127.0.0.1", "198.51.100.1, garbage, 10.0.0.5"), "10.0.0.5");
    EXPECT_EQ(client("127.0.0.1", "198.51.100.1, 10.0.0.5, 999.1.1.1"), "127.0.0.1");
    EXPECT_EQ(client("127.0.0.1", "198.51.100.1, , 10.0.0.5"), "10.0.0.5");
    EXPECT_EQ(client("127.0.0.1", "198.51.100.1,"), "127.0.0.1");
}

TEST(client_address, rejects_malformed_address_forms)
{
    for (const std::string_view bad : {
             "198.51.100.1:",
             "198.51.100.1:99999",
             "198.51.100.1:80x",
             "[198.51.100.1]",
             "[2001:db8::1",
             "[2001:db8::1]x",
             "[2001:db8::1]:",
             "2001:db8:::1",
             "fe80::1%eth0",
             "[fe80::1%eth0]",
             "1.2.3",
             "010.1.1.1",
             "198.51.100.1 198.51.100.2",
             "\"198.51.100.1\"",
             "for=198.51.100.1",
             "a-very-long-entry-that-is-no-address-at-all-0123456789012345678901234567890",
         }) {
        EXPECT_EQ(client("127.0.0.1", bad), "127.0.0.1") << bad;
    }
}

TEST(client_address, reports_an_ipv4_mapped_peer_as_ipv4)
{
    EXPECT_EQ(client("::ffff:203.0.113.7", "198.51.100.1"), "203.0.113.7");
    EXPECT_EQ(client("::ffff:127.0.0.1", "198.51.100.1"), "198.51.100.1");
    EXPECT_EQ(client("::1", "::ffff:198.51.100.1"), "198.51.100.1");
}

TEST(client_address, accepts_several_header_lines_joined_with_commas)
{
    EXPECT_EQ(client("127.0.0.1", "6.6.6.6, 198.51.100.1,10.0.0.5, 10.0.0.6"), "198.51.100.1");
}

TEST(joined_forwarded_for, joins_every_header_line_in_order_and_ignores_other_fields)
{
    boost::beast::http::fields f;
    EXPECT_EQ(joined_forwarded_for(f), "");
    f.insert("X-Forwarded-For", "6.6.6.6, 198.51.100.1");
    f.insert("Host", "x");
    f.insert("x-forwarded-for", "10.0.0.5");
    EXPECT_EQ(joined_forwarded_for(f), "6.6.6.6, 198.51.100.1,10.0.0.5");
}

TEST(client_network, keeps_an_ipv4_address_whole)
{
    EXPECT_EQ(client_network(addr("203.0.113.7"), 64).to_string(), "203.0.113.7");
    EXPECT_EQ(client_network(addr("::ffff:203.0.113.7"), 64).to_string(), "203.0.113.7");
}

TEST(client_network, reduces_an_ipv6_address_to_its_prefix)
{
    EXPECT_EQ(client_network(addr("2001:db8:1:2:3:4:5:6"), 64).to_string(), "2001:db8:1:2::");
    EXPECT_EQ(client_network(addr("2001:db8:1:2:3:4:5:6"), 48).to_string(), "2001:db8:1::");
    EXPECT_EQ(client_network(addr("2001:db8:1:2:3:4:5:6"), 60).to_string(), "2001:db8:1::");
    EXPECT_EQ(client_network(addr("2001:db8:1:fff2::1"), 60).to_string(), "2001:db8:1:fff0::");
    EXPECT_EQ(client_network(addr("2001:db8:1:2:3:4:5:6"), 128).to_string(),
              "2001:db8:1:2:3:4:5:6");
    EXPECT_EQ(client_network(addr("ffff::1"), 1).to_string(), "8000::");
}

TEST(request_context, keys_an_ipv6_client_by_its_network_and_an_ipv4_client_by_its_address)
{
    request_context ctx;
    ctx.ipv6_prefix = 64;
    ctx.client = addr("2001:db8:1:2:3:4:5:6");
    EXPECT_EQ(ctx.client_key(), "2001:db8:1:2::/64");
    EXPECT_EQ(ctx.client_text(), "2001:db8:1:2:3:4:5:6");

    request_context v4;
    v4.ipv6_prefix = 64;
    v4.client = addr("203.0.113.7");
    EXPECT_EQ(v4.client_key(), "203.0.113.7");

    request_context whole;
    whole.ipv6_prefix = 128;
    whole.client = addr("2001:db8::1");
    EXPECT_EQ(whole.client_key(), "2001:db8::1");
}

}  // namespace
}  // namespace analytics::http
