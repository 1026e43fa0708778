// Pure tests of reading a cluster's layout (redis/cluster_topology.hpp) from CLUSTER SHARDS and
// CLUSTER SLOTS replies, written in RESP as Redis 7.0 sends them and read by our RESP reader.

#include "redis/cluster_topology.hpp"

#include "redis/errc.hpp"
#include "redis/resp.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>

namespace analytics::redis {
namespace {

std::string bulk(std::string_view s)
{
    return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n";
}

std::string num(long long n)
{
    return ":" + std::to_string(n) + "\r\n";
}

std::string arr(std::initializer_list<std::string> items)
{
    std::string out = "*" + std::to_string(items.size()) + "\r\n";
    for (const auto& i : items) {
        out += i;
    }
    return out;
}

reply parse_one(const std::string& resp)
{
    auto parsed = parse_replies(resp);
    EXPECT_FALSE(parsed.failed) << parsed.error;
    EXPECT_EQ(parsed.replies.size(), 1U);
    return parsed.replies.empty() ? reply{} : parsed.replies.front();
}

// A CLUSTER SHARDS node entry as Redis 7.0 writes it.
std::string shard_node(std::string_view id, long long port, std::string_view ip,
                       std::string_view endpoint, std::string_view role, std::string_view health)
{
    return arr({bulk("id"), bulk(id), bulk("port"), num(port), bulk("ip"), bulk(ip),
                bulk("endpoint"), bulk(endpoint), bulk("role"), bulk(role),
                bulk("replication-offset"), num(72156), bulk("health"), bulk(health)});
}

const std::string a_id(40, 'a');
const std::string b_id(40, 'b');
const std::string c_id(40, 'c');
const std::string d_id(40, 'd');

TEST(parse_cluster_shards, reads_masters_replicas_and_slot_ranges)
{
    const auto r = parse_one(
        arr({arr({bulk("slots"), arr({num(0), num(5460), num(10923), num(10999)}), bulk("nodes"),
                  arr({shard_node(a_id, 7000, "10.0.0.1", "10.0.0.1", "master", "online"),
                       shard_node(b_id, 7003, "10.0.0.4", "10.0.0.4", "replica", "loading")})}),
             arr({bulk("slots"), arr({num(5461), num(10922)}), bulk("nodes"),
                  arr({shard_node(c_id, 7001, "10.0.0.2", "redis-2", "master", "online")})})}));
    const auto t = parse_cluster_shards(r, "10.0.0.1");
    ASSERT_TRUE(t) << t.error().message();
    ASSERT_EQ(t->nodes.size(), 3U);
    EXPECT_EQ(t->nodes[0].address(), "10.0.0.1:7000");
    EXPECT_EQ(t->nodes[0].id, a_id);
    EXPECT_EQ(t->nodes[0].role, node_role::master);
    EXPECT_EQ(t->nodes[0].health, "online");
    EXPECT_EQ(t->nodes[1].address(), "10.0.0.4:7003");
    EXPECT_EQ(t->nodes[1].role, node_role::replica);
    EXPECT_EQ(t->nodes[1].health, "loading");
    // The endpoint, when known, is how clients reach the node.
    EXPECT_EQ(t->nodes[2].address(), "redis-2:7001");

    ASSERT_EQ(t->ranges.size(), 3U);
    EXPECT_EQ(t->ranges[0].first, 0);
    EXPECT_EQ(t->ranges[0].last, 5460);
    EXPECT_EQ(t->ranges[0].master, 0U);
    EXPECT_EQ(t->ranges[1].first, 10923);
    EXPECT_EQ(t->ranges[1].last, 10999);
    EXPECT_EQ(t->ranges[1].master, 0U);
    EXPECT_EQ(t->ranges[2].first, 5461);
    EXPECT_EQ(t->ranges[2].master, 2U);
}

TEST(parse_cluster_shards, falls_back_to_the_ip_and_then_the_queried_host_for_unknown_endpoints)
{
    const auto r =
        parse_one(arr({arr({bulk("slots"), arr({num(0), num(16383)}), bulk("nodes"),
                            arr({shard_node(a_id, 7000, "10.0.0.1", "?", "master", "online"),
                                 shard_node(b_id, 7003, "", "", "replica", "online")})})}));
    const auto t = parse_cluster_shards(r, "redis.example");
    ASSERT_TRUE(t);
    ASSERT_EQ(t->nodes.size(), 2U);
    EXPECT_EQ(t->nodes[0].address(), "10.0.0.1:7000");
    EXPECT_EQ(t->nodes[1].address(), "redis.example:7003");
}

TEST(parse_cluster_shards, leaves_out_the_slots_of_a_shard_without_a_reachable_master)
{
    const auto r = parse_one(
        arr({arr({bulk("slots"), arr({num(0), num(99)}), bulk("nodes"),
                  arr({shard_node(a_id, 0, "", "", "master", "failed"),
                       shard_node(b_id, 7003, "10.0.0.4", "10.0.0.4", "replica", "online")})}),
             arr({bulk("slots"), arr({num(100), num(16383)}), bulk("nodes"),
                  arr({shard_node(c_id, 7001, "10.0.0.2", "10.0.0.2", "master", "online")})})}));
    const auto t = parse_cluster_shards(r, "");
    ASSERT_TRUE(t);
    ASSERT_EQ(t->nodes.size(), 2U);
    ASSERT_EQ(t->ranges.size(), 1U);
    EXPECT_EQ(t->ranges[0].first, 100);
    EXPECT_EQ(t->nodes[t->ranges[0].master].address(), "10.0.0.2:7001");
}

TEST(parse_cluster_shards, gives_a_tls_client_the_tls_port_and_a_plain_client_the_plain_one)
{
    // `tls-cluster yes` with a plain port too: Redis 7.0 lists both.
    const auto both = arr({bulk("id"), bulk(a_id), bulk("port"), num(6379), bulk("tls-port"),
                           num(6380), bulk("ip"), bulk("10.0.0.1"), bulk("endpoint"),
                           bulk("10.0.0.1"), bulk("role"), bulk("master"), bulk("health"),
                           bulk("online")});
    // TLS only (`port 0`): no plain port listed.
    const auto tls_only = arr({bulk("id"), bulk(b_id), bulk("tls-port"), num(6390), bulk("ip"),
                               bulk("10.0.0.2"), bulk("endpoint"), bulk("10.0.0.2"), bulk("role"),
                               bulk("master"), bulk("health"), bulk("online")});
    const auto r = parse_one(arr({arr({bulk("slots"), arr({num(0), num(8191)}), bulk("nodes"),
                                       arr({both})}),
                                  arr({bulk("slots"), arr({num(8192), num(16383)}),
                                       bulk("nodes"), arr({tls_only})})}));
    const auto over_tls = parse_cluster_shards(r, "", true);
    ASSERT_TRUE(over_tls);
    ASSERT_EQ(over_tls->nodes.size(), 2U);
    EXPECT_EQ(over_tls->nodes[0].address(), "10.0.0.1:6380");
    EXPECT_EQ(over_tls->nodes[1].address(), "10.0.0.2:6390");
    const auto plain = parse_cluster_shards(r, "");
    ASSERT_TRUE(plain);
    ASSERT_EQ(plain->nodes.size(), 2U);
    EXPECT_EQ(plain->nodes[0].address(), "10.0.0.1:6379");
    EXPECT_EQ(plain->nodes[1].address(), "10.0.0.2:6390");
}

TEST(parse_cluster_shards, refuses_replies_of_the_wrong_shape)
{
    for (const std::string& resp :
         {std::string("+OK\r\n"), arr({bulk("slots")}),
          arr({arr({bulk("slots"), arr({num(0)}), bulk("nodes"), arr({})})}),
          arr({arr({bulk("slots"), arr({num(5), num(1)}), bulk("nodes"), arr({})})}),
          arr({arr({bulk("slots"), arr({num(0), num(16384)}), bulk("nodes"), arr({})})}),
          arr({arr({bulk("nodes"), arr({})})}),
          arr({arr({bulk("slots"), arr({}), bulk("nodes"), arr({bulk("x")})})})}) {
        const auto t = parse_cluster_shards(parse_one(resp), "h");
        ASSERT_FALSE(t) << resp;
        EXPECT_EQ(t.error(), errc::unexpected_reply);
    }
}

TEST(parse_cluster_slots, reads_each_range_with_its_master_and_replicas_once_per_node)
{
    const auto r = parse_one(
        arr({arr({num(0), num(5460), arr({bulk("10.0.0.1"), num(7000), bulk(a_id), arr({})}),
                  arr({bulk("10.0.0.4"), num(7003), bulk(b_id), arr({})})}),
             arr({num(5461), num(10922), arr({bulk("10.0.0.2"), num(7001), bulk(c_id)})}),
             arr({num(10923), num(16383), arr({bulk("10.0.0.1"), num(7000), bulk(a_id)})}),
             // An empty host means "the host you asked".
             arr({num(0), num(0), arr({bulk(""), num(7005), bulk(d_id)})})}));
    const auto t = parse_cluster_slots(r, "10.0.0.9");
    ASSERT_TRUE(t) << t.error().message();
    ASSERT_EQ(t->nodes.size(), 4U);
    EXPECT_EQ(t->nodes[0].address(), "10.0.0.1:7000");
    EXPECT_EQ(t->nodes[0].role, node_role::master);
    EXPECT_EQ(t->nodes[1].address(), "10.0.0.4:7003");
    EXPECT_EQ(t->nodes[1].role, node_role::replica);
    EXPECT_EQ(t->nodes[1].id, b_id);
    EXPECT_EQ(t->nodes[3].address(), "10.0.0.9:7005");
    ASSERT_EQ(t->ranges.size(), 4U);
    EXPECT_EQ(t->ranges[2].first, 10923);
    EXPECT_EQ(t->ranges[2].master, 0U);
    EXPECT_EQ(t->ranges[1].master, 2U);
}

TEST(parse_cluster_slots, refuses_replies_of_the_wrong_shape)
{
    for (const std::string& resp : {std::string("-ERR nope\r\n"), arr({arr({num(0), num(5)})}),
                                    arr({arr({num(0), num(16384), arr({bulk("h"), num(1)})})}),
                                    arr({arr({num(0), num(5), arr({num(1), num(1)})})}),
                                    arr({arr({num(0), num(5), bulk("h")})})}) {
        const auto t = parse_cluster_slots(parse_one(resp), "h");
        ASSERT_FALSE(t) << resp;
        EXPECT_EQ(t.error(), errc::unexpected_reply);
    }
}

TEST(cluster_node, writes_an_ipv6_address_in_brackets)
{
    cluster_node n;
    n.host = "::1";
    n.port = 7000;
    EXPECT_EQ(n.address(), "[::1]:7000");
}

}  // namespace
}  // namespace analytics::redis
