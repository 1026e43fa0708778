// The pipelined Redis client against real redis-server processes: the shared test server
// (REDIS_TEST_PORT) and, for tests that kill, stop or configure a server, private ones started
// here on free ports.

#include "redis/client.hpp"
#include "support/client_runner.hpp"
#include "support/coro_helpers.hpp"
#include "support/redis_admin.hpp"
#include "support/redis_server.hpp"
#include "support/run_coro.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <functional>
#include <iostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace analytics::redis {
namespace {

using test::elapsed_ms;
using test::eventually;
using test::report;
using test::sleep_for;
using test::spawn_all;

using test::admin_connection;
using test::free_port;
using test::redis_process;
using test::wait_until_answering;

using namespace std::chrono_literals;
using steady_clock = std::chrono::steady_clock;

class redis_client : public ::testing::Test {
protected:
    // Like userver's RedisTest: every test starts from an empty database.
    redis_client() { admin_connection(test::redis_test_port()).command({"FLUSHDB"}); }

    static client_options options_for(std::uint16_t port)
    {
        client_options o = test::client_options_for(port);
        o.reconnect_max = 200ms;
        return o;
    }

    // Runs `body` next to the client's run(), waiting first for the connection when asked;
    // stops the client afterwards and checks that run() returned.
    template <class Body>
    void with_client(const client_options& options, Body body, bool wait_connected = true,
                     std::chrono::milliseconds limit = 30s)
    {
        test::with_client(options, std::move(body), wait_connected, limit);
    }
};

TEST_F(redis_client, returns_every_reply_to_its_caller_in_order)
{
    constexpr int calls = 10'000;
    std::vector<std::int64_t> seen(calls, 0);
    auto options = options_for(test::redis_test_port());
    options.command_timeout = 10s;

    with_client(options, [&](client& c) -> net::awaitable<void> {
        const auto start = steady_clock::now();
        co_await spawn_all(calls, [&](int i) -> net::awaitable<void> {
            auto r = co_await c.exec(command("INCR", "counter"));
            seen[static_cast<std::size_t>(i)] =
                (r && r->type == reply::kind::integer) ? r->integer : -1;
        });
        report("incr_10000_concurrent_ms", elapsed_ms(start), "ms");
    });

    // INCR numbers the commands in the order the server ran them; each caller must hold the
    // number of its own command, which is its issue order.
    int wrong = 0;
    for (int i = 0; i < calls; ++i) {
        if (seen[static_cast<std::size_t>(i)] != i + 1) {
            if (wrong++ == 0) {
                ADD_FAILURE() << "caller " << i << " got " << seen[static_cast<std::size_t>(i)];
            }
        }
    }
    EXPECT_EQ(wrong, 0);
}

TEST_F(redis_client, pipelines_ten_thousand_set_and_get_calls_on_distinct_keys)
{
    constexpr int calls = 10'000;
    int mismatches = 0;
    std::int64_t keys_in_db = 0;
    auto options = options_for(test::redis_test_port());
    options.command_timeout = 10s;

    with_client(options, [&](client& c) -> net::awaitable<void> {
        const auto start = steady_clock::now();
        co_await spawn_all(calls, [&](int i) -> net::awaitable<void> {
            const std::string key = "key:" + std::to_string(i);
            const std::string value = "value:" + std::to_string(i);
            auto set = co_await c.exec(command("SET", key, value));
            auto get = co_await c.exec(command("GET", key));
            if (!set || set->str != "OK" || !get || get->str != value) {
                ++mismatches;
            }
        });
        report("set_get_10000_concurrent_ms", elapsed_ms(start), "ms");
        auto size = co_await c.exec(command("DBSIZE"));
        keys_in_db = size ? size->integer : -1;
    });

    EXPECT_EQ(mismatches, 0);
    EXPECT_EQ(keys_in_db, calls);
}

TEST_F(redis_client, returns_an_error_reply_to_its_caller_without_disturbing_its_neighbours)
{
    std::vector<result<reply>> replies(3, errc::not_connected);

    with_client(options_for(test::redis_test_port()), [&](client& c) -> net::awaitable<void> {
        co_await c.exec(command("SET", "text", "hello"));
        // The three go out in one write, so the error reply sits between two good ones.
        static constexpr std::array<std::string_view, 3> keys{"n", "text", "n"};
        co_await spawn_all(3, [&](int i) -> net::awaitable<void> {
            replies[static_cast<std::size_t>(i)] =
                co_await c.exec(command("INCR", keys[static_cast<std::size_t>(i)]));
        });
    });

    ASSERT_TRUE(replies[0] && replies[1] && replies[2]);
    EXPECT_EQ(replies[0]->type, reply::kind::integer);
    EXPECT_EQ(replies[0]->integer, 1);
    EXPECT_TRUE(replies[1]->is_error());
    EXPECT_EQ(replies[1]->str, "ERR value is not an integer or out of range");
    EXPECT_EQ(replies[2]->integer, 2);
}

TEST_F(redis_client, converts_every_reply_kind)
{
    with_client(options_for(test::redis_test_port()), [&](client& c) -> net::awaitable<void> {
        auto status = co_await c.exec(command("SET", "k", std::string_view("a\0b", 3)));
        auto bulk = co_await c.exec(command("GET", "k"));
        auto nil = co_await c.exec(command("GET", "missing"));
        auto integer = co_await c.exec(command("RPUSH", "list", "x", "", "z"));
        auto array = co_await c.exec(command("LRANGE", "list", "0", "-1"));
        auto empty_array = co_await c.exec(command("LRANGE", "missing", "0", "-1"));

        EXPECT_EQ(status->type, reply::kind::status);
        EXPECT_EQ(status->str, "OK");
        EXPECT_EQ(bulk->type, reply::kind::string);
        EXPECT_EQ(bulk->str, std::string("a\0b", 3));
        EXPECT_TRUE(nil->is_nil());
        EXPECT_EQ(integer->integer, 3);
        CO_ASSERT_TRUE(array->type == reply::kind::array);
        CO_ASSERT_TRUE(array->elements.size() == 3U);
        EXPECT_EQ(array->elements[1].str, "");
        EXPECT_EQ(array->elements[2].str, "z");
        EXPECT_EQ(empty_array->type, reply::kind::array);
        EXPECT_TRUE(empty_array->elements.empty());
    });
}

TEST_F(redis_client, copies_braced_argument_lists_so_they_may_be_gone_before_the_await)
{
    const script s("return ARGV[1]");
    with_client(options_for(test::redis_test_port()), [&](client& c) -> net::awaitable<void> {
        // GCC 12 rejects a braced list inside a co_await expression, so these are awaited in a
        // second step, after the lists' temporary arrays have been destroyed.
        auto echo = c.exec({"ECHO", "braced"});
        auto echo_with_timeout = c.exec({"ECHO", "braced with timeout"}, 1s);
        auto evaluated = c.eval(s, {}, {"from eval"}, 1s);

        auto r1 = co_await std::move(echo);
        auto r2 = co_await std::move(echo_with_timeout);
        auto r3 = co_await std::move(evaluated);
        CO_ASSERT_TRUE(r1 && r2 && r3);
        EXPECT_EQ(r1->str, "braced");
        EXPECT_EQ(r2->str, "braced with timeout");
        EXPECT_EQ(r3->str, "from eval");
    });
}

TEST_F(redis_client, rejects_an_empty_command_without_disturbing_the_pipeline)
{
    with_client(options_for(test::redis_test_port()), [&](client& c) -> net::awaitable<void> {
        auto empty = co_await c.exec(std::span<const std::string_view>{}, 1s);
        auto next = co_await c.exec(command("ECHO", "next"));
        EXPECT_EQ(empty.error(), boost::system::errc::invalid_argument);
        CO_ASSERT_TRUE(next);
        EXPECT_EQ(next->str, "next");
    });
}

TEST_F(redis_client, reconnects_by_itself_after_the_server_kills_its_connection)
{
    with_client(options_for(test::redis_test_port()), [&](client& c) -> net::awaitable<void> {
        EXPECT_EQ(c.connects(), 1U);
        const std::string killed =
            admin_connection(test::redis_test_port()).command({"CLIENT", "KILL", "TYPE", "normal"});
        EXPECT_NE(killed, ":0");

        const auto start = steady_clock::now();
        EXPECT_TRUE(co_await eventually([&] { return c.connects() == 2 && c.connected(); }, 5s));
        report("reconnect_after_client_kill_ms", elapsed_ms(start), "ms");

        auto r = co_await c.exec(command("PING"));
        CO_ASSERT_TRUE(r);
        EXPECT_EQ(r->str, "PONG");
    });
}

TEST_F(redis_client, reports_each_usable_connection_and_its_loss_to_its_owner)
{
    std::vector<bool> changes;
    auto options = options_for(test::redis_test_port());
    options.on_connection_change = [&](bool up) { changes.push_back(up); };
    with_client(options, [&](client& c) -> net::awaitable<void> {
        EXPECT_EQ(changes, std::vector<bool>{true});
        admin_connection(test::redis_test_port()).command({"CLIENT", "KILL", "TYPE", "normal"});
        EXPECT_TRUE(co_await eventually([&] { return changes.size() == 3; }, 5s));
        EXPECT_TRUE(c.connected());
    });
    // stop() reports nothing.
    EXPECT_EQ(changes, (std::vector<bool>{true, false, true}));
}

TEST_F(redis_client, fails_commands_in_flight_with_connection_lost_when_the_connection_drops)
{
    result<reply> blocked = errc::not_connected;
    result<reply> behind = errc::not_connected;
    double failed_after_ms = 0;

    with_client(options_for(test::redis_test_port()), [&](client& c) -> net::awaitable<void> {
        const auto start = steady_clock::now();
        // BLPOP holds the connection server-side, and the GET pipelined behind it waits too.
        co_await spawn_all(3, [&](int i) -> net::awaitable<void> {
            if (i == 0) {
                blocked = co_await c.exec(command("BLPOP", "nothing", "5"), 3s);
                failed_after_ms = elapsed_ms(start);
            } else if (i == 1) {
                behind = co_await c.exec(command("GET", "k"), 3s);
            } else {
                co_await sleep_for(50ms);
                admin_connection(test::redis_test_port())
                    .command({"CLIENT", "KILL", "TYPE", "normal"});
            }
        });
        EXPECT_TRUE(co_await eventually([&] { return c.connected(); }, 5s));
    });

    EXPECT_EQ(blocked.error(), errc::connection_lost);
    EXPECT_EQ(behind.error(), errc::connection_lost);
    EXPECT_LT(failed_after_ms, 1000.0);
}

TEST_F(redis_client, recovers_when_the_server_process_is_killed_and_restarted)
{
    redis_process server;
    auto options = options_for(server.port());
    options.command_timeout = 500ms;
    options.reconnect_max = 100ms;

    with_client(options, [&](client& c) -> net::awaitable<void> {
        auto set = co_await c.exec(command("SET", "k", "before"));
        EXPECT_TRUE(set && set->str == "OK");

        server.kill();
        EXPECT_TRUE(co_await eventually([&] { return !c.connected(); }, 2s));

        // During the outage a command fails at once instead of waiting for its 500 ms deadline.
        double slowest_ms = 0;
        for (int i = 0; i < 100; ++i) {
            const auto start = steady_clock::now();
            auto r = co_await c.exec(command("GET", "k"));
            slowest_ms = std::max(slowest_ms, elapsed_ms(start));
            EXPECT_EQ(r.error(), errc::not_connected);
        }
        report("fail_fast_while_down_slowest_of_100_ms", slowest_ms, "ms");
        EXPECT_LT(slowest_ms, 250.0);  // half the deadline: slack for a loaded machine

        server.start();
        const auto start = steady_clock::now();
        EXPECT_TRUE(co_await eventually([&] { return c.connected(); }, 5s));
        report("reconnect_after_restart_ms", elapsed_ms(start), "ms");
        EXPECT_EQ(c.connects(), 2U);

        auto again = co_await c.exec(command("SET", "k", "after"));
        auto get = co_await c.exec(command("GET", "k"));
        EXPECT_TRUE(again && again->str == "OK");
        EXPECT_TRUE(get && get->str == "after");
    });
}

TEST_F(redis_client, fails_at_once_with_not_connected_when_no_server_listens)
{
    auto options = options_for(free_port());
    options.command_timeout = 500ms;

    with_client(
        options,
        [&](client& c) -> net::awaitable<void> {
            co_await sleep_for(100ms);  // a few refused attempts
            EXPECT_FALSE(c.connected());
            EXPECT_EQ(c.connects(), 0U);
            const auto start = steady_clock::now();
            auto r = co_await c.exec(command("PING"));
            EXPECT_LT(elapsed_ms(start), 250.0);  // not its 500 ms deadline
            EXPECT_EQ(r.error(), errc::not_connected);
        },
        false);
}

TEST_F(redis_client, times_out_close_to_its_deadline_against_a_stalled_server_and_keeps_working)
{
    with_client(options_for(test::redis_test_port()), [&](client& c) -> net::awaitable<void> {
        // CLIENT PAUSE ALL holds every client's commands (this admin's too) for 300 ms.
        EXPECT_EQ(
            admin_connection(test::redis_test_port()).command({"CLIENT", "PAUSE", "300", "ALL"}),
            "+OK");
        const auto start = steady_clock::now();
        auto r = co_await c.exec(command("PING"), 100ms);
        const double took = elapsed_ms(start);
        report("timeout_100ms_observed_ms", took, "ms");
        EXPECT_EQ(r.error(), errc::timeout);
        EXPECT_GE(took, 99.0);
        EXPECT_LT(took, 250.0);  // before the pause's 300 ms would have answered it

        co_await sleep_for(300ms);
        auto after = co_await c.exec(command("SET", "after", "1"));
        EXPECT_TRUE(after && after->str == "OK");
        EXPECT_TRUE(c.connected());
        EXPECT_EQ(c.connects(), 1U);  // a timeout alone does not cost the connection
    });
}

TEST_F(redis_client, drops_a_late_reply_and_gives_the_next_command_its_own_reply)
{
    with_client(options_for(test::redis_test_port()), [&](client& c) -> net::awaitable<void> {
        admin_connection(test::redis_test_port()).command({"CLIENT", "PAUSE", "300", "ALL"});
        auto first = co_await c.exec(command("ECHO", "first"), 50ms);
        EXPECT_EQ(first.error(), errc::timeout);

        // "first" is still queued on the server; its reply comes back before this one's and
        // must be thrown away, not handed to the next caller.
        auto second = co_await c.exec(command("ECHO", "second"), 2s);
        auto third = co_await c.exec(command("ECHO", "third"));
        CO_ASSERT_TRUE(second);
        EXPECT_EQ(second->str, "second");
        CO_ASSERT_TRUE(third);
        EXPECT_EQ(third->str, "third");
    });
}

TEST_F(redis_client, drops_the_connection_when_a_health_check_ping_gets_no_reply)
{
    redis_process server;
    auto options = options_for(server.port());
    options.health_check_interval = 50ms;
    options.command_timeout = 100ms;  // the PING still waits max(command_timeout, 1 s)
    options.connect_timeout = 300ms;

    with_client(options, [&](client& c) -> net::awaitable<void> {
        server.freeze();
        const auto start = steady_clock::now();
        EXPECT_TRUE(co_await eventually([&] { return !c.connected(); }, 3s));
        const double noticed = elapsed_ms(start);
        report("frozen_server_detected_after_ms", noticed, "ms");
        EXPECT_GE(noticed, 900.0);
        EXPECT_LT(noticed, 1500.0);

        // While frozen, the kernel still accepts connections but the handshake PING goes
        // unanswered, so the client must not claim to be connected.
        co_await sleep_for(500ms);
        EXPECT_FALSE(c.connected());
        EXPECT_EQ(c.connects(), 1U);

        server.thaw();
        EXPECT_TRUE(co_await eventually([&] { return c.connected(); }, 5s));
        EXPECT_EQ(c.connects(), 2U);
        auto r = co_await c.exec(command("PING"));
        EXPECT_TRUE(r && r->str == "PONG");
    });
}

TEST_F(redis_client, authenticates_and_selects_the_configured_database)
{
    redis_process server({}, "s3cret");
    auto options = options_for(server.port());
    options.password = "s3cret";
    options.db = 3;

    with_client(options, [&](client& c) -> net::awaitable<void> {
        auto set = co_await c.exec(command("SET", "where", "db3"));
        EXPECT_TRUE(set && set->str == "OK");
    });

    admin_connection admin(server.port(), "s3cret");
    EXPECT_EQ(admin.command({"GET", "where"}), "$nil");
    EXPECT_EQ(admin.command({"SELECT", "3"}), "+OK");
    EXPECT_EQ(admin.command({"GET", "where"}), "$db3");
}

TEST_F(redis_client, authenticates_as_an_acl_user_and_is_held_to_its_acl)
{
    redis_process server;
    admin_connection admin(server.port());
    ASSERT_EQ(admin.command({"ACL", "SETUSER", "app", "on", ">app-pass", "~app:*", "+ping", "+set",
                             "+get"}),
              "+OK");
    auto options = test::client_options_for(server.port());
    options.username = "app";
    options.password = "app-pass";

    with_client(options, [&](client& c) -> net::awaitable<void> {
        auto mine = co_await c.exec(command("SET", "app:k", "v"));
        auto other_key = co_await c.exec(command("SET", "other:k", "v"));
        auto other_command = co_await c.exec(command("FLUSHALL"));
        CO_ASSERT_TRUE(mine && other_key && other_command);
        EXPECT_EQ(mine->str, "OK");
        EXPECT_TRUE(other_key->is_error() && other_key->str.starts_with("NOPERM"))
            << other_key->str;
        EXPECT_TRUE(other_command->is_error() && other_command->str.starts_with("NOPERM"))
            << other_command->str;
    });
    EXPECT_EQ(admin.command({"GET", "app:k"}), "$v");
    EXPECT_EQ(admin.command({"EXISTS", "other:k"}), ":0");
}

TEST_F(redis_client, stays_disconnected_and_keeps_retrying_when_the_password_is_wrong)
{
    redis_process server({}, "s3cret");
    auto options = options_for(server.port());
    options.password = "wrong";

    with_client(
        options,
        [&](client& c) -> net::awaitable<void> {
            co_await sleep_for(300ms);
            EXPECT_FALSE(c.connected());
            EXPECT_EQ(c.connects(), 0U);
            auto r = co_await c.exec(command("PING"));
            EXPECT_EQ(r.error(), errc::not_connected);
        },
        false);

    // Each attempt opened a connection and was refused at AUTH; the server counts them.
    admin_connection admin(server.port(), "s3cret");
    const std::string stats = admin.command({"INFO", "stats"});
    const auto at = stats.find("total_connections_received:");
    ASSERT_NE(at, std::string::npos);
    EXPECT_GT(std::stoi(stats.substr(at + 27)), 3);
}

TEST_F(redis_client, falls_back_to_eval_when_the_server_does_not_know_the_script)
{
    const script s("return {KEYS[1], ARGV[1]}");
    admin_connection admin(test::redis_test_port());
    EXPECT_EQ(admin.command({"SCRIPT", "FLUSH"}), "+OK");

    with_client(options_for(test::redis_test_port()), [&](client& c) -> net::awaitable<void> {
        auto first = co_await c.eval(s, command("k"), command("v"), 1s);
        CO_ASSERT_TRUE(first);
        CO_ASSERT_TRUE(first->type == reply::kind::array);
        CO_ASSERT_TRUE(first->elements.size() == 2U);
        EXPECT_EQ(first->elements[0].str, "k");
        EXPECT_EQ(first->elements[1].str, "v");

        // EVAL cached the script under the SHA-1 we computed, so EVALSHA now hits.
        EXPECT_EQ(admin.command({"SCRIPT", "EXISTS", s.sha1()}), "*1 :1");
        auto second = co_await c.eval(s, command("k2"), command("v2"), 1s);
        CO_ASSERT_TRUE(second);
        EXPECT_EQ(second->elements[0].str, "k2");
    });

    EXPECT_EQ(admin.command({"SCRIPT", "LOAD", s.source()}), "$" + s.sha1());
}

TEST_F(redis_client, returns_a_script_error_as_an_error_reply)
{
    const script s("return redis.error_reply('BOOM it failed')");
    with_client(options_for(test::redis_test_port()), [&](client& c) -> net::awaitable<void> {
        auto r = co_await c.eval(s, command(), command(), 1s);
        CO_ASSERT_TRUE(r);
        EXPECT_TRUE(r->is_error());
        EXPECT_EQ(r->str, "BOOM it failed");
    });
}

TEST_F(redis_client, sends_a_pipeline_back_to_back_with_nothing_of_other_callers_between)
{
    constexpr int callers = 200;
    int wrong = 0;
    with_client(options_for(test::redis_test_port()), [&](client& c) -> net::awaitable<void> {
        // Every caller writes the same key and reads it back in one pipeline: only when its
        // two commands run back to back does it read its own value.
        co_await spawn_all(callers, [&](int i) -> net::awaitable<void> {
            const std::string value = std::to_string(i);
            const auto set = command("SET", "shared", value);
            const auto get = command("GET", "shared");
            auto p = c.pipeline("shared", {set, get}, 5s);
            auto r = co_await std::move(p);
            wrong += (r && r->size() == 2U && (*r)[1].str == value) ? 0 : 1;
        });
    });
    EXPECT_EQ(wrong, 0);
}

TEST_F(redis_client, opens_a_second_connection_for_the_write_channel)
{
    with_client(options_for(test::redis_test_port()), [&](client& c) -> net::awaitable<void> {
        EXPECT_EQ(c.connects(), 1U);
        const auto set = command("SET", "k", "v");
        const auto wait = command("WAIT", "0", "0");
        auto p = c.pipeline("k", {set, wait}, 2s, channel::write);
        auto r = co_await std::move(p);
        CO_ASSERT_TRUE(r && r->size() == 2U);
        EXPECT_EQ((*r)[0].str, "OK");
        EXPECT_EQ((*r)[1].integer, 0);  // no replicas
        EXPECT_EQ(c.connects(), 2U);
        const std::string clients =
            admin_connection(test::redis_test_port()).command({"CLIENT", "LIST"});
        EXPECT_GE(std::count(clients.begin(), clients.end(), '\n'), 2);
    });
}

TEST_F(redis_client, loads_its_scripts_when_it_reconnects_so_a_transaction_finds_them)
{
    redis_process server;
    const script s("return redis.call('INCR', KEYS[1])");
    auto options = options_for(server.port());
    options.command_timeout = 1s;

    with_client(options, [&](client& c) -> net::awaitable<void> {
        auto first = co_await c.eval(s, command("n"), {}, 1s);
        EXPECT_TRUE(first && first->integer == 1);

        // A restarted server has an empty script cache.
        server.kill();
        server.start();
        EXPECT_TRUE(co_await eventually([&] { return c.connects() == 2 && c.connected(); }, 5s));

        // EVALSHA inside MULTI cannot fall back to EVAL: the handshake loaded the script.
        const auto multi = command("MULTI");
        const auto evalsha = command("EVALSHA", s.sha1(), "1", "n");
        const auto exec = command("EXEC");
        auto p = c.pipeline("n", {multi, evalsha, exec}, 1s);
        auto r = co_await std::move(p);
        CO_ASSERT_TRUE(r && r->size() == 3U);
        CO_ASSERT_TRUE((*r)[2].type == reply::kind::array);
        EXPECT_EQ((*r)[2].elements.at(0).type, reply::kind::integer);
        EXPECT_EQ(c.stats().noscript, 0U);
    });
}

TEST_F(redis_client, loads_the_scripts_again_and_resends_a_pipeline_refused_with_noscript)
{
    const script s("return redis.call('INCR', KEYS[1])");
    with_client(options_for(test::redis_test_port()), [&](client& c) -> net::awaitable<void> {
        c.register_script(s);
        auto warm = co_await c.exec(command("PING"));
        EXPECT_TRUE(warm);
        EXPECT_EQ(admin_connection(test::redis_test_port()).command({"SCRIPT", "FLUSH"}), "+OK");

        const auto evalsha = command("EVALSHA", s.sha1(), "1", "n");
        const auto wait = command("WAIT", "0", "0");
        auto p = c.pipeline("n", {evalsha, wait}, 1s);
        auto r = co_await std::move(p);
        CO_ASSERT_TRUE(r && r->size() == 2U);
        EXPECT_EQ((*r)[0].type, reply::kind::integer) << (*r)[0].str;
        EXPECT_EQ((*r)[0].integer, 1);
        EXPECT_EQ(c.stats().noscript, 1U);
    });
}

TEST_F(redis_client, stop_fails_pending_commands_and_ends_run)
{
    net::io_context ioc;
    client c(ioc.get_executor(), options_for(test::redis_test_port()));
    bool run_returned = false;
    steady_clock::time_point run_returned_at;
    net::co_spawn(ioc, c.run(), [&](std::exception_ptr e) {
        run_returned = true;
        run_returned_at = steady_clock::now();
        if (e) {
            std::rethrow_exception(e);
        }
    });

    result<reply> pending = errc::not_connected;
    result<reply> after_stop = errc::not_connected;
    steady_clock::time_point stopped_at;
    test::run_coro(ioc, [&]() -> net::awaitable<void> {
        EXPECT_TRUE(co_await eventually([&] { return c.connected(); }, 5s));
        co_await spawn_all(2, [&](int i) -> net::awaitable<void> {
            if (i == 0) {
                pending = co_await c.exec(command("BLPOP", "nothing", "5"), 3s);
            } else {
                co_await sleep_for(50ms);
                stopped_at = steady_clock::now();
                c.stop();
            }
        });
        after_stop = co_await c.exec(command("PING"));
    }());

    EXPECT_EQ(pending.error(), errc::stopped);
    EXPECT_EQ(after_stop.error(), errc::stopped);
    EXPECT_FALSE(c.connected());
    ASSERT_TRUE(run_returned);
    const double took =
        std::chrono::duration<double, std::milli>(run_returned_at - stopped_at).count();
    report("run_returned_after_stop_ms", took, "ms");
    // Guards against a hang only: run() must not wait for the 5 s BLPOP or its 3 s deadline.
    EXPECT_LT(took, 2000.0);
}

TEST_F(redis_client, stop_before_run_makes_run_return_at_once)
{
    net::io_context ioc;
    client c(ioc.get_executor(), options_for(test::redis_test_port()));
    c.stop();
    test::run_coro(ioc, c.run(), 2s);
    EXPECT_FALSE(c.connected());
    EXPECT_EQ(c.connects(), 0U);
}

}  // namespace
}  // namespace analytics::redis
