// Server-assisted client-side caching against real redis-server processes: what Redis reports
// to a worker's tracking, and that the tracking is off exactly while reports may be missed.

#include "cache/client_tracking.hpp"
#include "support/coro_helpers.hpp"
#include "support/redis_admin.hpp"
#include "support/redis_server.hpp"
#include "support/run_coro.hpp"
#include "support/tracked_redis.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <string>
#include <vector>

namespace analytics::cache {
namespace {

using test::admin_connection;
using test::elapsed_ms;
using test::eventually;
using test::redis_process;
using test::report;
using test::sleep_for;
using test::tracked_redis;

using namespace std::chrono_literals;
using steady_clock = std::chrono::steady_clock;

// What the tracking told its listener.
struct heard {
    std::vector<std::string> keys;
    int flushes = 0;

    bool has(const std::string& key) const
    {
        return std::find(keys.begin(), keys.end(), key) != keys.end();
    }
};

// Runs `body` with a started rig on `port` whose tracking is on, then stops the rig.
template <class Body>
void with_tracking(std::uint16_t port, heard& h, Body body)
{
    net::io_context ioc;
    tracked_redis rig(ioc.get_executor(), test::client_options_for(port));
    rig.tracking.listen(
        {[&](std::string_view key) { h.keys.emplace_back(key); }, [&] { ++h.flushes; }});
    rig.start();
    test::run_coro(
        ioc,
        [&]() -> net::awaitable<void> {
            std::exception_ptr failure;
            try {
                const bool on = co_await eventually([&] { return rig.tracking.active(); }, 5s);
                EXPECT_TRUE(on) << "tracking did not turn on";
                co_await body(rig);
            } catch (...) {
                failure = std::current_exception();
            }
            rig.stop();
            if (failure) {
                std::rethrow_exception(failure);
            }
        }(),
        30s);
    ioc.run_for(1s);  // let the run loops return
}

class client_tracking_redis : public ::testing::Test {
protected:
    client_tracking_redis() { admin_connection(test::redis_test_port()).command({"FLUSHDB"}); }
};

TEST_F(client_tracking_redis, reports_every_change_of_a_tracked_key_by_another_client)
{
    heard h;
    with_tracking(test::redis_test_port(), h, [&](tracked_redis& rig) -> net::awaitable<void> {
        admin_connection admin(test::redis_test_port());
        admin.command({"SET", "summary:set", "1"});
        admin.command({"SET", "other:key", "1"});
        admin.command({"SET", "summary:expiring", "1", "PX", "30"});
        admin.command({"SET", "summary:deleted", "1"});
        EXPECT_TRUE(co_await eventually([&] { return h.has("summary:deleted"); }, 2s));
        const auto before_delete = h.keys.size();
        admin.command({"DEL", "summary:deleted"});
        EXPECT_TRUE(co_await eventually([&] { return h.keys.size() > before_delete; }, 2s));
        // The expiry is reported too (a second report of the key).
        EXPECT_TRUE(co_await eventually(
            [&] { return std::count(h.keys.begin(), h.keys.end(), "summary:expiring") == 2; }, 2s));

        // This worker's own writes are not reported back to it (NOLOOP).
        auto own = co_await rig.redis.exec(redis::command("SET", "summary:own", "1"));
        EXPECT_TRUE(own && !own->is_error());
        admin.command({"SET", "summary:after_own", "1"});
        EXPECT_TRUE(co_await eventually([&] { return h.has("summary:after_own"); }, 2s));
    });
    EXPECT_TRUE(h.has("summary:set"));
    EXPECT_FALSE(h.has("other:key"));
    EXPECT_FALSE(h.has("summary:own"));
}

TEST_F(client_tracking_redis, reports_flushdb_and_flushall_as_everything_invalidated)
{
    heard h;
    with_tracking(test::redis_test_port(), h, [&](tracked_redis&) -> net::awaitable<void> {
        const int at_start = h.flushes;
        admin_connection admin(test::redis_test_port());
        admin.command({"FLUSHDB"});
        EXPECT_TRUE(co_await eventually([&] { return h.flushes == at_start + 1; }, 2s));
        admin.command({"FLUSHALL"});
        EXPECT_TRUE(co_await eventually([&] { return h.flushes == at_start + 2; }, 2s));
    });
}

TEST_F(client_tracking_redis, is_off_while_the_main_connection_is_down_and_on_again_after)
{
    heard h;
    with_tracking(test::redis_test_port(), h, [&](tracked_redis& rig) -> net::awaitable<void> {
        const int at_start = h.flushes;
        admin_connection admin(test::redis_test_port());
        // Only the main connection: the subscriber's type is pubsub.
        admin.command({"CLIENT", "KILL", "TYPE", "normal"});
        EXPECT_TRUE(co_await eventually([&] { return !rig.tracking.active(); }, 2s));
        EXPECT_GT(h.flushes, at_start);
        const auto start = steady_clock::now();
        EXPECT_TRUE(co_await eventually([&] { return rig.tracking.active(); }, 5s));
        report("tracking_back_after_main_connection_kill_ms", elapsed_ms(start), "ms");
        EXPECT_EQ(rig.tracking.activations(), 2U);
        // The new connection tracks again.
        admin.command({"SET", "summary:after_reconnect", "1"});
        EXPECT_TRUE(co_await eventually([&] { return h.has("summary:after_reconnect"); }, 2s));
    });
}

TEST_F(client_tracking_redis, follows_the_subscriber_to_its_new_connection)
{
    heard h;
    with_tracking(test::redis_test_port(), h, [&](tracked_redis& rig) -> net::awaitable<void> {
        admin_connection admin(test::redis_test_port());
        const auto old_id = rig.subscriber.client_id();
        admin.command({"CLIENT", "KILL", "TYPE", "pubsub"});
        EXPECT_TRUE(co_await eventually([&] { return !rig.tracking.active(); }, 2s));
        EXPECT_TRUE(co_await eventually([&] { return rig.tracking.active(); }, 5s));
        EXPECT_NE(rig.subscriber.client_id(), old_id);
        // Redirected to the new subscriber connection.
        admin.command({"SET", "summary:after_resubscribe", "1"});
        EXPECT_TRUE(co_await eventually([&] { return h.has("summary:after_resubscribe"); }, 2s));
    });
}

TEST_F(client_tracking_redis, is_off_while_the_server_is_down_and_on_again_after_a_restart)
{
    redis_process server;
    heard h;
    with_tracking(server.port(), h, [&](tracked_redis& rig) -> net::awaitable<void> {
        server.kill();
        EXPECT_TRUE(co_await eventually([&] { return !rig.tracking.active(); }, 2s));
        server.start();
        const auto start = steady_clock::now();
        EXPECT_TRUE(co_await eventually([&] { return rig.tracking.active(); }, 5s));
        report("tracking_back_after_restart_ms", elapsed_ms(start), "ms");
        admin_connection(server.port()).command({"SET", "summary:after_restart", "1"});
        EXPECT_TRUE(co_await eventually([&] { return h.has("summary:after_restart"); }, 2s));
    });
}

// A server that refuses CLIENT TRACKING (an ACL here; Redis before 6 alike): tracking stays off,
// so no copy is kept in process, and attempts back off.
TEST_F(client_tracking_redis, stays_off_where_the_server_refuses_tracking)
{
    redis_process server(
        {"--user", "default", "on", "nopass", "~*", "&*", "+@all", "-client|tracking"});
    net::io_context ioc;
    tracked_redis rig(ioc.get_executor(), test::client_options_for(server.port()));
    heard h;
    rig.tracking.listen(
        {[&](std::string_view key) { h.keys.emplace_back(key); }, [&] { ++h.flushes; }});
    rig.start();
    test::run_coro(ioc, [&]() -> net::awaitable<void> {
        EXPECT_TRUE(co_await eventually(
            [&] { return rig.redis.connected() && rig.subscriber.connected(); }, 5s));
        co_await sleep_for(500ms);
        EXPECT_FALSE(rig.tracking.active());
        EXPECT_EQ(rig.tracking.activations(), 0U);
        rig.stop();
    }());
    ioc.run_for(1s);
}

}  // namespace
}  // namespace analytics::cache
