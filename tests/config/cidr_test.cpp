#include "config/cidr.hpp"

#include <gtest/gtest.h>

#include <string>

namespace analytics::config {
namespace {

boost::asio::ip::address addr(const std::string& text)
{
    return boost::asio::ip::make_address(text);
}

cidr net(std::string_view text)
{
    const auto parsed = cidr::parse(text);
    EXPECT_TRUE(parsed) << text;
    return parsed.value_or(cidr{});
}

TEST(cidr, parses_an_ipv4_network)
{
    const auto n = net("10.0.0.0/8");
    EXPECT_TRUE(n.contains(addr("10.0.0.0")));
    EXPECT_TRUE(n.contains(addr("10.255.255.255")));
    EXPECT_FALSE(n.contains(addr("11.0.0.0")));
    EXPECT_FALSE(n.contains(addr("9.255.255.255")));
    EXPECT_EQ(to_string(n), "10.0.0.0/8");
}

TEST(cidr, handles_prefixes_that_do_not_end_on_a_byte)
{
    const auto n = net("192.168.4.0/22");
    EXPECT_TRUE(n.contains(addr("192.168.4.1")));
    EXPECT_TRUE(n.contains(addr("192.168.7.255")));
    EXPECT_FALSE(n.contains(addr("192.168.8.0")));
    EXPECT_FALSE(n.contains(addr("192.168.3.255")));
}

TEST(cidr, treats_a_bare_ipv4_address_as_a_host_route)
{
    const auto n = net("127.0.0.1");
    EXPECT_EQ(n, net("127.0.0.1/32"));
    EXPECT_TRUE(n.contains(addr("127.0.0.1")));
    EXPECT_FALSE(n.contains(addr("127.0.0.2")));
}

TEST(cidr, treats_a_bare_ipv6_address_as_a_host_route)
{
    const auto n = net("::1");
    EXPECT_EQ(n, net("::1/128"));
    EXPECT_TRUE(n.contains(addr("::1")));
    EXPECT_FALSE(n.contains(addr("::2")));
}

TEST(cidr, matches_everything_of_its_family_with_prefix_zero)
{
    EXPECT_TRUE(net("0.0.0.0/0").contains(addr("203.0.113.9")));
    EXPECT_TRUE(net("0.0.0.0/0").contains(addr("255.255.255.255")));
    EXPECT_FALSE(net("0.0.0.0/0").contains(addr("2001:db8::1")));
    EXPECT_TRUE(net("::/0").contains(addr("2001:db8::1")));
}

TEST(cidr, matches_exactly_one_address_with_a_full_prefix)
{
    EXPECT_TRUE(net("203.0.113.9/32").contains(addr("203.0.113.9")));
    EXPECT_FALSE(net("203.0.113.9/32").contains(addr("203.0.113.8")));
    EXPECT_TRUE(net("2001:db8::9/128").contains(addr("2001:db8::9")));
    EXPECT_FALSE(net("2001:db8::9/128").contains(addr("2001:db8::8")));
}

TEST(cidr, parses_an_ipv6_network)
{
    const auto n = net("2001:db8::/32");
    EXPECT_TRUE(n.contains(addr("2001:db8:ffff::1")));
    EXPECT_FALSE(n.contains(addr("2001:db9::1")));
    EXPECT_FALSE(n.contains(addr("10.0.0.1")));
    EXPECT_EQ(to_string(n), "2001:db8::/32");
}

TEST(cidr, clears_host_bits_so_spellings_of_one_network_are_equal)
{
    EXPECT_EQ(net("10.1.2.3/8"), net("10.0.0.0/8"));
    EXPECT_EQ(to_string(net("10.1.2.3/8")), "10.0.0.0/8");
    EXPECT_EQ(net("2001:db8::1/32"), net("2001:db8::/32"));
}

TEST(cidr, matches_an_ipv4_mapped_ipv6_address_against_an_ipv4_network)
{
    EXPECT_TRUE(net("10.0.0.0/8").contains(addr("::ffff:10.1.2.3")));
    EXPECT_FALSE(net("10.0.0.0/8").contains(addr("::ffff:11.1.2.3")));
    EXPECT_TRUE(net("127.0.0.1/32").contains(addr("::ffff:127.0.0.1")));
}

TEST(cidr, matches_an_ipv4_address_against_an_ipv4_mapped_network)
{
    EXPECT_TRUE(net("::ffff:10.0.0.0/104").contains(addr("10.9.8.7")));
    EXPECT_FALSE(net("::ffff:10.0.0.0/104").contains(addr("11.9.8.7")));
}

TEST(cidr, does_not_treat_other_ipv6_addresses_as_ipv4)
{
    EXPECT_FALSE(net("0.0.0.0/0").contains(addr("::1")));
    EXPECT_FALSE(net("10.0.0.0/8").contains(addr("::10.1.2.3")));
}

TEST(cidr, rejects_malformed_text)
{
    for (const std::string_view bad : {
             "",
             "/8",
             "10.0.0.0/",
             "10.0.0.0/33",
             "::/129",
             "10.0.0.0/-1",
             "10.0.0.0/+8",
             "10.0.0.0/08",
             "10.0.0.0/8/8",
             "10.0.0.0/ 8",
             " 10.0.0.0/8",
             "10.0.0/8",
             "10.0.0.256/8",
             "010.0.0.1",
             "10.0.0.0/8a",
             "example.com/8",
             "fe80::1%eth0/64",
             "fe80::1%1",
             "10.0.0.0/1000",
             "::ffff::1/64",
         }) {
        EXPECT_FALSE(cidr::parse(bad)) << '"' << bad << '"';
    }
}

TEST(parse_cidr_list, parses_items_separated_by_commas_and_spaces)
{
    const auto list = parse_cidr_list(" 10.0.0.0/8 , 192.168.0.0/16,::1 ");
    ASSERT_TRUE(list);
    ASSERT_EQ(list->size(), 3u);
    EXPECT_EQ((*list)[0], net("10.0.0.0/8"));
    EXPECT_EQ((*list)[1], net("192.168.0.0/16"));
    EXPECT_EQ((*list)[2], net("::1/128"));
}

TEST(parse_cidr_list, gives_an_empty_list_for_empty_text)
{
    const auto list = parse_cidr_list("");
    ASSERT_TRUE(list);
    EXPECT_TRUE(list->empty());
    const auto blank = parse_cidr_list("   ");
    ASSERT_TRUE(blank);
    EXPECT_TRUE(blank->empty());
}

TEST(parse_cidr_list, rejects_empty_items_between_commas)
{
    EXPECT_FALSE(parse_cidr_list("10.0.0.0/8,,::1"));
    EXPECT_FALSE(parse_cidr_list("10.0.0.0/8,"));
    EXPECT_FALSE(parse_cidr_list(",10.0.0.0/8"));
    EXPECT_FALSE(parse_cidr_list("10.0.0.0/8, ,::1"));
}

TEST(parse_cidr_list, rejects_the_whole_list_when_one_item_is_malformed)
{
    EXPECT_FALSE(parse_cidr_list("10.0.0.0/8,10.0.0.0/33"));
    EXPECT_FALSE(parse_cidr_list("10.0.0.0/8 192.168.0.0/16"));
}

TEST(default_trusted_proxies, trusts_only_loopback)
{
    const auto list = default_trusted_proxies();
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0], net("127.0.0.1/32"));
    EXPECT_EQ(list[1], net("::1/128"));
    EXPECT_EQ(to_string(list[0]) + "," + to_string(list[1]), "127.0.0.1/32,::1/128");
}

}  // namespace
}  // namespace analytics::config
