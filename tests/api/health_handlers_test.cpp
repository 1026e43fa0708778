#include "api/health_handlers.hpp"

#include "http/router.hpp"
#include "support/fake_clock.hpp"
#include "support/run_coro.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>

namespace analytics::api {
namespace {

using namespace std::chrono_literals;

std::string_view no_headers(const void*, std::string_view)
{
    return {};
}

redis::node_state master(std::string address, std::size_t slots, bool connected)
{
    return {std::move(address), redis::node_role::master, slots, connected, "online"};
}

redis::node_state replica(std::string address, std::string health = "online")
{
    return {std::move(address), redis::node_role::replica, 0, false, std::move(health)};
}

struct health_fixture {
    redis_health state{true, true, {master("127.0.0.1:6379", 16384, true)}, false};
    std::atomic<bool> shutting_down{false};
    test::fake_clock clock;
    redis::write_refusals refusals{clock, 2s};
    health_handlers handlers{[this] { return state; }, shutting_down, refusals};
    http::router router;

    health_fixture() { handlers.register_routes(router); }

    http::response get(std::string_view path)
    {
        net::io_context ioc;
        http::request_context ctx;
        http::request req(http::method::get, path, {}, nullptr, &no_headers, ctx);
        return test::run_coro(ioc, router.dispatch(req));
    }

    boost::json::object body(std::string_view path)
    {
        return boost::json::parse(get(path).body).as_object();
    }

    void refuse_writes()
    {
        refusals.observe(redis::reply::text(
            redis::reply::kind::error, "OOM command not allowed when used memory > 'maxmemory'."));
    }

    // Three shards of a cluster, the second with its master `second_up`.
    void cluster(bool second_up)
    {
        state.cluster = true;
        state.connected = second_up;
        state.serving = true;
        state.nodes = {master("10.0.0.1:7000", 5461, true), master("10.0.0.2:7001", 5462, second_up),
                       master("10.0.0.3:7002", 5461, true), replica("10.0.0.4:7003"),
                       replica("10.0.0.5:7004", "failed"), replica("10.0.0.6:7005")};
    }
};

TEST(health_handlers, a_single_node_adds_its_one_node_to_the_original_fields)
{
    health_fixture f;
    f.state = {true, true, {master("127.0.0.1:6379", 16384, true)}, false};
    const auto r = f.get("/health");
    ASSERT_EQ(r.status, 200U);
    const auto body = boost::json::parse(r.body).as_object();
    EXPECT_EQ(body.at("status").as_string(), "healthy");
    EXPECT_EQ(body.at("redis_connected").as_bool(), true);
    EXPECT_EQ(body.at("timestamp").as_string().size(), 20U);
    ASSERT_EQ(body.at("redis_nodes").as_array().size(), 1U);
    const auto node = body.at("redis_nodes").as_array()[0].as_object();
    EXPECT_EQ(node.at("address").as_string(), "127.0.0.1:6379");
    EXPECT_EQ(node.at("role").as_string(), "master");
    EXPECT_EQ(node.at("connected").as_bool(), true);
    // Slots and the cluster's view of a node mean nothing without a cluster.
    EXPECT_FALSE(node.contains("slots"));
    EXPECT_FALSE(node.contains("health"));
}

TEST(health_handlers, a_cluster_lists_each_shard_with_its_slots_and_connection)
{
    health_fixture f;
    f.cluster(true);
    const auto body = boost::json::parse(f.get("/health").body).as_object();
    EXPECT_EQ(body.at("status").as_string(), "healthy");
    const auto& nodes = body.at("redis_nodes").as_array();
    ASSERT_EQ(nodes.size(), 6U);
    EXPECT_EQ(nodes[1].as_object().at("address").as_string(), "10.0.0.2:7001");
    EXPECT_EQ(nodes[1].as_object().at("slots").as_int64(), 5462);
    EXPECT_EQ(nodes[1].as_object().at("connected").as_bool(), true);
    EXPECT_EQ(nodes[1].as_object().at("health").as_string(), "online");
    // The service holds no connection to a replica, so it claims nothing about one.
    EXPECT_EQ(nodes[4].as_object().at("role").as_string(), "replica");
    EXPECT_FALSE(nodes[4].as_object().contains("connected"));
    EXPECT_FALSE(nodes[4].as_object().contains("slots"));
    EXPECT_EQ(nodes[4].as_object().at("health").as_string(), "failed");
}

TEST(health_handlers, one_shard_down_is_degraded_but_still_ready)
{
    health_fixture f;
    f.cluster(false);
    const auto health = boost::json::parse(f.get("/health").body).as_object();
    EXPECT_EQ(health.at("status").as_string(), "degraded");
    EXPECT_EQ(health.at("redis_connected").as_bool(), false);
    EXPECT_EQ(health.at("redis_nodes").as_array()[1].as_object().at("connected").as_bool(), false);

    const auto ready = f.get("/ready");
    EXPECT_EQ(ready.status, 200U);
    EXPECT_EQ(boost::json::parse(ready.body).as_object().at("status").as_string(), "degraded");
}

TEST(health_handlers, no_shard_reachable_is_not_ready)
{
    health_fixture f;
    f.cluster(false);
    f.state.serving = false;
    const auto ready = f.get("/ready");
    ASSERT_EQ(ready.status, 503U);
    const auto body = boost::json::parse(ready.body).as_object();
    EXPECT_EQ(body.at("code").as_string(), "REDIS_UNAVAILABLE");
    EXPECT_EQ(body.at("redis_connected").as_bool(), false);
    EXPECT_EQ(body.at("redis_nodes").as_array().size(), 6U);
}

TEST(health_handlers, shutting_down_is_not_ready_whatever_redis_says)
{
    health_fixture f;
    f.cluster(true);
    f.shutting_down = true;
    const auto ready = f.get("/ready");
    ASSERT_EQ(ready.status, 503U);
    const auto body = boost::json::parse(ready.body).as_object();
    EXPECT_EQ(body.at("code").as_string(), "SHUTTING_DOWN");
    EXPECT_EQ(body.at("status").as_string(), "healthy");
}

TEST(health_handlers, a_node_address_is_escaped_in_the_body)
{
    health_fixture f;
    f.cluster(true);
    f.state.nodes[0].address = "evil\"host\\:7000";
    const auto body = boost::json::parse(f.get("/health").body).as_object();
    EXPECT_EQ(body.at("redis_nodes").as_array()[0].as_object().at("address").as_string(),
              "evil\"host\\:7000");
}

TEST(health_handlers, say_healthy_without_a_reason)
{
    health_fixture f;
    const auto body = f.body("/health");
    EXPECT_EQ(body.at("status"), "healthy");
    EXPECT_FALSE(body.contains("reason"));
    EXPECT_EQ(f.get("/ready").status, 200U);
}

TEST(health_handlers, say_degraded_because_redis_is_unreachable)
{
    health_fixture f;
    f.state = {false, false, {master("127.0.0.1:6379", 16384, false)}, false};
    const auto body = f.body("/health");
    EXPECT_EQ(body.at("status"), "degraded");
    EXPECT_EQ(body.at("reason"), "redis_unreachable");
    EXPECT_EQ(body.at("redis_connected"), false);
    EXPECT_EQ(f.get("/health").status, 200U);
    EXPECT_EQ(f.get("/ready").status, 503U);
}

TEST(health_handlers, say_degraded_while_redis_refuses_writes_and_stay_ready)
{
    health_fixture f;
    f.refuse_writes();
    const auto body = f.body("/health");
    EXPECT_EQ(body.at("status"), "degraded");
    EXPECT_EQ(body.at("reason"), "redis_refusing_writes");
    EXPECT_EQ(body.at("refusal"), "oom");
    EXPECT_EQ(body.at("redis_connected"), true);
    // Every instance shares the Redis: taking this one out of rotation helps no one.
    EXPECT_EQ(f.get("/ready").status, 200U);
    EXPECT_EQ(boost::json::parse(f.get("/ready").body).at("reason"), "redis_refusing_writes");

    f.clock.advance(2s);
    EXPECT_EQ(f.body("/health").at("status"), "healthy");
}

}  // namespace
}  // namespace analytics::api
