// The pub/sub connection against real redis-server processes: the shared test server
// (REDIS_TEST_PORT) and private ones for tests that kill, freeze or protect a server.

#include "redis/subscriber.hpp"
#include "support/coro_helpers.hpp"
#include "support/redis_admin.hpp"
#include "support/redis_server.hpp"
#include "support/run_coro.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <exception>
#include <string>
#include <utility>
#include <vector>

namespace analytics::redis {
namespace {

using test::admin_connection;
using test::elapsed_ms;
using test::eventually;
using test::redis_process;
using test::report;
using test::sleep_for;

using namespace std::chrono_literals;
using steady_clock = std::chrono::steady_clock;

struct received {
    std::string channel;
    std::string text;  // a string payload, or "nil"
};

// A subscriber on `options` recording what reaches its handlers: messages of `channels` and
// every up/down change.
class recorder {
public:
    recorder(net::io_context& ioc, client_options options, const std::vector<std::string>& channels)
        : sub(ioc.get_executor(), std::move(options))
    {
        for (const auto& c : channels) {
            sub.subscribe(c, [this](std::string_view channel, const reply& payload) {
                messages.push_back(
                    {std::string(channel), payload.is_nil() ? "nil" : std::string(payload.str)});
            });
        }
        sub.on_state_change([this](bool up) {
            states.push_back(up);
            ids.push_back(sub.client_id());
        });
    }

    subscriber sub;
    std::vector<received> messages;
    std::vector<bool> states;
    std::vector<std::int64_t> ids;  // client_id() as each state handler saw it
};

// Runs `body` next to the subscriber's run(), waiting first for it to be up when asked; stops
// it afterwards and checks that run() returned.
template <class Body>
void with_subscriber(recorder& r, net::io_context& ioc, Body body, bool wait_up = true)
{
    bool run_returned = false;
    net::co_spawn(ioc, r.sub.run(), [&](std::exception_ptr e) {
        run_returned = true;
        if (e) {
            std::rethrow_exception(e);
        }
    });
    test::run_coro(
        ioc,
        [&]() -> net::awaitable<void> {
            std::exception_ptr failure;
            try {
                if (wait_up) {
                    const bool up = co_await eventually([&] { return r.sub.connected(); }, 5s);
                    EXPECT_TRUE(up) << "the subscriber did not connect";
                }
                co_await body();
            } catch (...) {
                failure = std::current_exception();
            }
            r.sub.stop();
            if (failure) {
                std::rethrow_exception(failure);
            }
        }(),
        30s);
    EXPECT_TRUE(run_returned) << "run() did not return after stop()";
}

TEST(redis_subscriber, delivers_each_message_to_the_handler_of_its_channel)
{
    net::io_context ioc;
    recorder r(ioc, test::client_options_for(test::redis_test_port()), {"sub.a", "sub.b"});
    with_subscriber(r, ioc, [&]() -> net::awaitable<void> {
        admin_connection admin(test::redis_test_port());
        EXPECT_EQ(admin.integer({"PUBLISH", "sub.a", "first"}), 1);
        EXPECT_EQ(admin.integer({"PUBLISH", "sub.other", "not for us"}), 0);
        EXPECT_EQ(admin.integer({"PUBLISH", "sub.b", "second"}), 1);
        EXPECT_EQ(admin.integer({"PUBLISH", "sub.a", std::string(100'000, 'x')}), 1);
        EXPECT_TRUE(co_await eventually([&] { return r.messages.size() == 3; }, 2s));
    });
    ASSERT_EQ(r.messages.size(), 3U);
    EXPECT_EQ(r.messages[0].channel, "sub.a");
    EXPECT_EQ(r.messages[0].text, "first");
    EXPECT_EQ(r.messages[1].channel, "sub.b");
    EXPECT_EQ(r.messages[1].text, "second");
    EXPECT_EQ(r.messages[2].text.size(), 100'000U);
    EXPECT_EQ(r.states, std::vector<bool>{true});  // stop() reports nothing
}

TEST(redis_subscriber, exposes_the_client_id_of_its_connection_for_redirection)
{
    net::io_context ioc;
    recorder r(ioc, test::client_options_for(test::redis_test_port()), {"sub.id"});
    with_subscriber(r, ioc, [&]() -> net::awaitable<void> {
        const auto id = std::to_string(r.sub.client_id());
        EXPECT_GT(r.sub.client_id(), 0);
        // The server lists that id as a connection subscribed to one channel.
        const std::string listed =
            admin_connection(test::redis_test_port()).command({"CLIENT", "LIST", "ID", id});
        EXPECT_NE(listed.find("id=" + id + " "), std::string::npos) << listed;
        EXPECT_NE(listed.find(" sub=1 "), std::string::npos) << listed;
        co_return;
    });
    EXPECT_EQ(r.sub.client_id(), 0);
}

TEST(redis_subscriber, resubscribes_with_a_new_id_after_the_server_kills_its_connection)
{
    net::io_context ioc;
    recorder r(ioc, test::client_options_for(test::redis_test_port()), {"sub.kill"});
    with_subscriber(r, ioc, [&]() -> net::awaitable<void> {
        admin_connection admin(test::redis_test_port());
        const auto first_id = r.sub.client_id();
        EXPECT_NE(admin.command({"CLIENT", "KILL", "ID", std::to_string(first_id)}), ":0");
        const auto start = steady_clock::now();
        EXPECT_TRUE(
            co_await eventually([&] { return r.sub.connects() == 2 && r.sub.connected(); }, 5s));
        report("subscriber_reconnect_after_client_kill_ms", elapsed_ms(start), "ms");
        EXPECT_NE(r.sub.client_id(), first_id);
        EXPECT_EQ(admin.integer({"PUBLISH", "sub.kill", "after"}), 1);
        EXPECT_TRUE(co_await eventually([&] { return r.messages.size() == 1; }, 2s));
    });
    EXPECT_EQ(r.states, (std::vector<bool>{true, false, true}));
    ASSERT_EQ(r.ids.size(), 3U);
    EXPECT_EQ(r.ids[1], 0);  // no id while down
    EXPECT_NE(r.ids[2], r.ids[0]);
}

TEST(redis_subscriber, reports_down_and_recovers_when_the_server_is_killed_and_restarted)
{
    redis_process server;
    net::io_context ioc;
    auto options = test::client_options_for(server.port());
    recorder r(ioc, options, {"sub.restart"});
    with_subscriber(r, ioc, [&]() -> net::awaitable<void> {
        server.kill();
        EXPECT_TRUE(co_await eventually([&] { return !r.sub.connected(); }, 2s));
        co_await sleep_for(200ms);  // a few refused attempts
        server.start();
        EXPECT_TRUE(co_await eventually([&] { return r.sub.connected(); }, 5s));
        EXPECT_EQ(admin_connection(server.port()).integer({"PUBLISH", "sub.restart", "back"}), 1);
        EXPECT_TRUE(co_await eventually([&] { return r.messages.size() == 1; }, 2s));
    });
    EXPECT_EQ(r.states, (std::vector<bool>{true, false, true}));
}

TEST(redis_subscriber, notices_a_frozen_server_by_its_missing_pong)
{
    redis_process server;
    net::io_context ioc;
    auto options = test::client_options_for(server.port());
    options.health_check_interval = 50ms;
    options.command_timeout = 100ms;  // the pong may still take max(command_timeout, 1 s)
    options.connect_timeout = 300ms;
    recorder r(ioc, options, {"sub.frozen"});
    with_subscriber(r, ioc, [&]() -> net::awaitable<void> {
        server.freeze();
        const auto start = steady_clock::now();
        EXPECT_TRUE(co_await eventually([&] { return !r.sub.connected(); }, 3s));
        const double noticed = elapsed_ms(start);
        report("subscriber_frozen_server_detected_after_ms", noticed, "ms");
        EXPECT_GE(noticed, 900.0);
        // Accepted by the kernel but never answered: not up while frozen.
        co_await sleep_for(500ms);
        EXPECT_FALSE(r.sub.connected());
        server.thaw();
        EXPECT_TRUE(co_await eventually([&] { return r.sub.connected(); }, 5s));
    });
    EXPECT_EQ(r.states, (std::vector<bool>{true, false, true}));
}

TEST(redis_subscriber, authenticates_and_stays_down_with_a_wrong_password)
{
    redis_process server({}, "s3cret");
    {
        net::io_context ioc;
        auto options = test::client_options_for(server.port());
        options.password = "s3cret";
        recorder r(ioc, options, {"sub.auth"});
        with_subscriber(r, ioc, [&]() -> net::awaitable<void> {
            EXPECT_EQ(
                admin_connection(server.port(), "s3cret").integer({"PUBLISH", "sub.auth", "hello"}),
                1);
            EXPECT_TRUE(co_await eventually([&] { return r.messages.size() == 1; }, 2s));
        });
    }
    net::io_context ioc;
    auto options = test::client_options_for(server.port());
    options.password = "wrong";
    recorder r(ioc, options, {"sub.auth"});
    with_subscriber(
        r, ioc,
        [&]() -> net::awaitable<void> {
            co_await sleep_for(300ms);
            EXPECT_FALSE(r.sub.connected());
            EXPECT_EQ(r.sub.connects(), 0U);
        },
        false);
    EXPECT_TRUE(r.states.empty());
}

TEST(redis_subscriber, subscribes_as_an_acl_user_allowed_its_channel)
{
    redis_process server;
    ASSERT_EQ(admin_connection(server.port())
                  .command({"ACL", "SETUSER", "listener", "on", ">pw", "resetchannels",
                            "&sub.acl", "+ping", "+subscribe", "+client|id"}),
              "+OK");
    net::io_context ioc;
    auto options = test::client_options_for(server.port());
    options.username = "listener";
    options.password = "pw";
    recorder r(ioc, options, {"sub.acl"});
    with_subscriber(r, ioc, [&]() -> net::awaitable<void> {
        EXPECT_EQ(admin_connection(server.port()).integer({"PUBLISH", "sub.acl", "hello"}), 1);
        EXPECT_TRUE(co_await eventually([&] { return r.messages.size() == 1; }, 2s));
    });
    ASSERT_EQ(r.messages.size(), 1U);
    EXPECT_EQ(r.messages[0].text, "hello");
}

TEST(redis_subscriber, stop_before_run_makes_run_return_at_once)
{
    net::io_context ioc;
    subscriber sub(ioc.get_executor(), test::client_options_for(test::redis_test_port()));
    sub.stop();
    test::run_coro(ioc, sub.run(), 1s);
    EXPECT_FALSE(sub.connected());
}

}  // namespace
}  // namespace analytics::redis
