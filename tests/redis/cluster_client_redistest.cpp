// The client in cluster mode against a real Redis Cluster of 3 masters + 3 replicas
// (support/redis_cluster.hpp): routing, MOVED after a slot is migrated by hand, ASK and
// TRYAGAIN during a migration, a manual failover (scripts reloaded on the promoted replica), a
// killed master (its slots fail fast until the replica takes over, the others never), and
// pipelines with WAIT on the write connection.

#include "redis/client.hpp"
#include "redis/slot.hpp"
#include "support/client_runner.hpp"
#include "support/coro_helpers.hpp"
#include "support/redis_admin.hpp"
#include "support/redis_cluster.hpp"

#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace analytics::redis {
namespace {

using test::admin_connection;
using test::elapsed_ms;
using test::eventually;
using test::report;
using test::sleep_for;
using test::spawn_all;
using test::with_client;

using namespace std::chrono_literals;
using steady_clock = std::chrono::steady_clock;

// A key of the form prefix{tag}, with a tag chosen so that the key's slot is served by
// `port`, or by any master other than `port` when `other` is set.
std::string key_served_by(const test::redis_cluster& cluster, std::string_view prefix,
                          std::uint16_t port, bool other = false)
{
    for (int i = 0;; ++i) {
        const std::string tag = std::to_string(i);
        const bool on_port = cluster.master_of_slot(key_slot(tag)) == port;
        if (on_port != other) {
            return std::string(prefix) + "{" + tag + "}";
        }
    }
}

// Resumes a SIGSTOPped node when the test leaves, whatever happens in it.
struct thaw_on_exit {
    pid_t pid;
    ~thaw_on_exit() { ::kill(pid, SIGCONT); }
};

class redis_cluster_client : public ::testing::Test {
protected:
    redis_cluster_client() : cluster_(test::redis_cluster::instance())
    {
        cluster_.wait_healthy();
        cluster_.flush();
    }

    client_options options() const
    {
        client_options o;
        o.cluster_nodes = {{"127.0.0.1", cluster_.ports().front()}};
        o.command_timeout = 1s;
        o.reconnect_min = 10ms;
        o.reconnect_max = 100ms;
        return o;
    }

    test::redis_cluster& cluster_;
};

TEST_F(redis_cluster_client, routes_every_key_to_the_master_that_serves_its_slot)
{
    constexpr int keys = 300;
    int failures = 0;
    client_stats stats;
    std::vector<node_state> nodes;
    bool every_slot_servable = false;
    with_client(options(), [&](client& c) -> net::awaitable<void> {
        co_await spawn_all(keys, [&](int i) -> net::awaitable<void> {
            const std::string key = "route:" + std::to_string(i);
            const std::string value = "v" + std::to_string(i);
            auto r = co_await c.exec(command("SET", key, value));
            failures += (r && r->str == "OK") ? 0 : 1;
        });
        // Keyless commands go to some master; exec_on picks the node by the routing key.
        auto ping = co_await c.exec(command("PING"));
        EXPECT_TRUE(ping && ping->str == "PONG");
        auto size = co_await c.exec_on("route:0", command("DBSIZE"), 1s);
        EXPECT_TRUE(size && size->integer > 0);
        stats = c.stats();
        nodes = c.nodes();
        every_slot_servable = true;
        for (std::uint16_t s = 0; s < slot_count; ++s) {
            every_slot_servable = every_slot_servable && c.slot_servable(s);
        }
        EXPECT_TRUE(c.any_connected());
    });
    EXPECT_EQ(failures, 0);
    // The map was right from the start: no call needed a redirection.
    EXPECT_EQ(stats.moved, 0U);
    EXPECT_GE(stats.map_updates, 1U);
    EXPECT_TRUE(every_slot_servable);

    // Each key is on the master of its slot: GET there answers the value, not MOVED.
    for (int i = 0; i < keys; ++i) {
        const std::string key = "route:" + std::to_string(i);
        const auto port = cluster_.master_of_slot(key_slot(key));
        EXPECT_EQ(admin_connection(port).command({"GET", key}), "$v" + std::to_string(i)) << key;
    }
    // The slots we compute are the server's.
    admin_connection admin(cluster_.ports().front());
    for (const std::string key : {"route:1", "route:{x}:1", "{}x", "a{b}c{d}", "\xff\x01"}) {
        EXPECT_EQ(admin.integer({"CLUSTER", "KEYSLOT", key}), key_slot(key)) << key;
    }

    ASSERT_EQ(nodes.size(), 6U);
    std::size_t slots = 0;
    int masters = 0;
    for (const auto& n : nodes) {
        if (n.role == node_role::master) {
            ++masters;
            slots += n.slots;
            EXPECT_TRUE(n.connected) << n.address;
        } else {
            EXPECT_EQ(n.slots, 0U);
        }
    }
    EXPECT_EQ(masters, 3);
    EXPECT_EQ(slots, std::size_t{slot_count});
    EXPECT_EQ(nodes.front().role, node_role::master);
}

TEST_F(redis_cluster_client, reads_the_map_from_the_next_seed_when_the_first_is_down)
{
    auto o = options();
    o.cluster_nodes.insert(o.cluster_nodes.begin(), {"127.0.0.1", test::free_port()});
    with_client(o, [&](client& c) -> net::awaitable<void> {
        auto r = co_await c.exec(command("SET", "seeded", "1"));
        EXPECT_TRUE(r && r->str == "OK");
    });
}

TEST_F(redis_cluster_client, follows_moved_after_a_slot_is_migrated_by_hand_without_an_error)
{
    const auto masters = cluster_.masters();
    const std::string key = key_served_by(cluster_, "moved:", masters[0]);
    const auto slot = key_slot(key);
    const auto to = masters[1];
    auto o = options();
    // Only the MOVED reply can tell the client: no periodic map read during the test.
    o.cluster_refresh_interval = std::chrono::hours(1);

    with_client(o, [&](client& c) -> net::awaitable<void> {
        auto set = co_await c.exec(command("SET", key, "before"));
        EXPECT_TRUE(set && set->str == "OK");
        cluster_.move_slot(slot, masters[0], to);

        auto get = co_await c.exec(command("GET", key));
        CO_ASSERT_TRUE(get);
        EXPECT_EQ(get->str, "before");
        EXPECT_EQ(c.stats().moved, 1U);

        // The slot was updated at once: the next calls go straight to the new owner.
        auto again = co_await c.exec(command("SET", key, "after"));
        auto eval =
            co_await c.eval(script("return redis.call('GET', KEYS[1])"), command(key), {}, 1s);
        EXPECT_TRUE(again && again->str == "OK");
        EXPECT_TRUE(eval && eval->str == "after");
        EXPECT_EQ(c.stats().moved, 1U);
    });
    EXPECT_EQ(admin_connection(to).command({"GET", key}), "$after");
    cluster_.move_slot(slot, to, masters[0]);
}

TEST_F(redis_cluster_client, follows_ask_while_a_slot_is_being_migrated)
{
    const auto masters = cluster_.masters();
    const std::string tag = key_served_by(cluster_, "", masters[0]);
    const std::string moved = "ask:1" + tag;
    const std::string stayed = "ask:2" + tag;
    const std::string created = "ask:3" + tag;
    const std::string in_multi = "ask:4" + tag;
    const auto slot = key_slot(tag);
    const auto from = masters[0];
    const auto to = masters[2];

    with_client(options(), [&](client& c) -> net::awaitable<void> {
        co_await c.exec(command("SET", moved, "m"));
        co_await c.exec(command("SET", stayed, "s"));
        cluster_.begin_migration(slot, from, to);
        cluster_.migrate_keys(from, to, {moved});

        // The source answers ASK for a key it no longer has; the importing node serves it
        // after ASKING.
        auto get_moved = co_await c.exec(command("GET", moved));
        auto get_stayed = co_await c.exec(command("GET", stayed));
        auto set_created = co_await c.exec(command("SET", created, "c"));
        const auto multi = command("MULTI");
        const auto incr = command("INCR", in_multi);
        const auto exec = command("EXEC");
        auto tx = c.pipeline(tag, {multi, incr, exec}, 1s);
        auto transaction = co_await std::move(tx);
        CO_ASSERT_TRUE(get_moved && get_stayed && set_created && transaction);
        EXPECT_EQ(get_moved->str, "m");
        EXPECT_EQ(get_stayed->str, "s");
        EXPECT_EQ(set_created->str, "OK");
        CO_ASSERT_TRUE(transaction->size() == 3U);
        CO_ASSERT_TRUE((*transaction)[2].type == reply::kind::array);
        EXPECT_EQ((*transaction)[2].elements.at(0).integer, 1);
        EXPECT_EQ(c.stats().ask, 3U);  // GET moved, SET created, the transaction
        EXPECT_EQ(c.stats().moved, 0U);

        cluster_.finish_migration(slot, from, to);
        auto after = co_await c.exec(command("GET", stayed));
        EXPECT_TRUE(after && after->str == "s");
    });
    admin_connection target(to);
    EXPECT_EQ(target.command({"GET", created}), "$c");
    EXPECT_EQ(target.command({"GET", in_multi}), "$1");
    cluster_.move_slot(slot, to, from);
}

TEST_F(redis_cluster_client, retries_tryagain_within_the_deadline_until_the_migration_ends)
{
    const auto masters = cluster_.masters();
    const std::string tag = key_served_by(cluster_, "", masters[1]);
    const std::string a = "try:a" + tag;
    const std::string b = "try:b" + tag;
    const auto slot = key_slot(tag);
    const auto from = masters[1];
    const auto to = masters[0];

    result<reply> short_deadline = errc::not_connected;
    result<reply> long_deadline = errc::not_connected;
    double short_took = 0;
    client_stats stats;
    with_client(options(), [&](client& c) -> net::awaitable<void> {
        co_await c.exec(command("SET", a, "1"));
        co_await c.exec(command("SET", b, "2"));
        cluster_.begin_migration(slot, from, to);
        cluster_.migrate_keys(from, to, {a});

        // The keys are split between the nodes: the source answers TRYAGAIN until the
        // migration ends.
        const auto start = steady_clock::now();
        short_deadline = co_await c.exec(command("MGET", a, b), 100ms);
        short_took = elapsed_ms(start);

        co_await spawn_all(2, [&](int i) -> net::awaitable<void> {
            if (i == 0) {
                long_deadline = co_await c.exec(command("MGET", a, b), 5s);
            } else {
                co_await sleep_for(200ms);
                cluster_.finish_migration(slot, from, to);
            }
        });
        stats = c.stats();
    });
    report("tryagain_until_a_100ms_deadline_ms", short_took, "ms");
    // TRYAGAIN, not a value: it gave up within its deadline instead of waiting for the migration.
    EXPECT_EQ(short_deadline.error(), errc::try_again);
    ASSERT_TRUE(long_deadline) << long_deadline.error().message();
    ASSERT_EQ(long_deadline->elements.size(), 2U);
    EXPECT_EQ(long_deadline->elements[0].str, "1");
    EXPECT_EQ(long_deadline->elements[1].str, "2");
    EXPECT_GT(stats.try_again, 2U);
    EXPECT_EQ(stats.moved, 1U);
    cluster_.move_slot(slot, to, from);
}

TEST_F(redis_cluster_client, reloads_its_scripts_on_a_replica_promoted_by_a_manual_failover)
{
    const auto masters = cluster_.masters();
    const auto master = masters[0];
    const auto replica = cluster_.replica_of(master);
    const std::string key = key_served_by(cluster_, "failover:", master);
    const script counter("return redis.call('INCR', KEYS[1])");

    int errors = 0;
    int calls_after = 0;
    std::vector<reply> transaction;
    client_stats stats;
    with_client(options(), [&](client& c) -> net::awaitable<void> {
        auto first = co_await c.eval(counter, command(key), {}, 1s);
        EXPECT_TRUE(first && first->integer == 1);
        // The script cache is not replicated: the replica does not know it yet.
        EXPECT_EQ(admin_connection(replica).command({"SCRIPT", "EXISTS", counter.sha1()}), "*1 :0");

        const auto start = steady_clock::now();
        // The failover is driven from another thread, so that calls keep flowing meanwhile.
        std::atomic<bool> promoted = false;
        std::exception_ptr failover_error;
        std::thread failover([&] {
            try {
                cluster_.manual_failover(replica);
            } catch (...) {
                failover_error = std::current_exception();
            }
            promoted = true;
        });
        co_await spawn_all(1, [&](int) -> net::awaitable<void> {
            // Calls all through the failover, each with a 1 s deadline: none may fail.
            while (calls_after < 20) {
                auto r = co_await c.eval(counter, command(key), {}, 1s);
                if (!r || r->is_error()) {
                    ++errors;
                    ADD_FAILURE() << (r ? r->str : r.error().message());
                }
                calls_after += promoted ? 1 : 0;
                co_await sleep_for(5ms);
                if (!promoted && elapsed_ms(start) > 30'000) {
                    break;
                }
            }
        });
        failover.join();
        if (failover_error) {
            std::rethrow_exception(failover_error);
        }
        // EVALSHA inside MULTI has no EVAL fallback: only the reload keeps NOSCRIPT away.
        const auto multi = command("MULTI");
        const auto evalsha = command("EVALSHA", counter.sha1(), "1", key);
        const auto exec = command("EXEC");
        auto tx = c.pipeline(key, {multi, evalsha, exec}, 1s);
        auto r = co_await std::move(tx);
        if (r) {
            transaction = std::move(*r);
        }
        stats = c.stats();
    });
    EXPECT_EQ(errors, 0);
    ASSERT_EQ(transaction.size(), 3U);
    ASSERT_EQ(transaction[2].type, reply::kind::array);
    EXPECT_EQ(transaction[2].elements.at(0).type, reply::kind::integer);
    EXPECT_GE(stats.moved, 1U);
    EXPECT_EQ(stats.noscript, 0U);  // loaded in the new master's handshake, not repaired
    EXPECT_EQ(admin_connection(replica).command({"SCRIPT", "EXISTS", counter.sha1()}), "*1 :1");
}

TEST_F(redis_cluster_client, fails_fast_on_a_killed_masters_slots_until_its_replica_takes_over)
{
    const auto masters = cluster_.masters();
    const auto victim = masters[2];
    const std::string doomed = key_served_by(cluster_, "killed:", victim);
    const std::string spared = key_served_by(cluster_, "spared:", victim, true);

    int doomed_failures = 0;
    int spared_failures = 0;
    double slowest_failure_ms = 0;
    double outage_ms = -1;
    bool saw_partial_health = false;
    with_client(options(), [&](client& c) -> net::awaitable<void> {
        auto warm = co_await c.exec(command("SET", doomed, "0"));
        EXPECT_TRUE(warm && warm->str == "OK");
        ::kill(cluster_.pid_of(victim), SIGKILL);
        const auto killed = steady_clock::now();

        while (elapsed_ms(killed) < 20'000) {
            result<reply> d = errc::not_connected;
            result<reply> s = errc::not_connected;
            double d_took = 0;
            co_await spawn_all(2, [&](int i) -> net::awaitable<void> {
                const auto start = steady_clock::now();
                if (i == 0) {
                    d = co_await c.exec(command("INCR", doomed), 500ms);
                    d_took = elapsed_ms(start);
                } else {
                    s = co_await c.exec(command("INCR", spared), 500ms);
                }
            });
            if (!s) {
                ++spared_failures;
                ADD_FAILURE() << "a call to a healthy shard failed: " << s.error().message();
            }
            if (d) {
                if (doomed_failures > 0) {
                    outage_ms = elapsed_ms(killed);
                    break;
                }
            } else {
                ++doomed_failures;
                slowest_failure_ms = std::max(slowest_failure_ms, d_took);
                EXPECT_TRUE(d.error() == errc::not_connected ||
                            d.error() == errc::connection_lost || d.error() == errc::cluster_down)
                    << d.error().message();
                if (!c.connected() && c.any_connected() && !c.slot_servable(key_slot(doomed)) &&
                    c.slot_servable(key_slot(spared))) {
                    saw_partial_health = true;
                }
            }
            co_await sleep_for(10ms);
        }
        EXPECT_TRUE(co_await eventually([&] { return c.connected(); }, 5s));
    });
    cluster_.restart(victim);

    report("killed_master_slots_unavailable_ms", outage_ms, "ms");
    report("killed_master_slowest_failed_call_ms", slowest_failure_ms, "ms");
    EXPECT_GT(doomed_failures, 0);
    EXPECT_GT(outage_ms, 0.0) << "the replica never took over";
    EXPECT_EQ(spared_failures, 0);
    EXPECT_TRUE(saw_partial_health);
    cluster_.wait_healthy();
}

TEST_F(redis_cluster_client, a_pipeline_with_wait_returns_the_number_of_replicas_that_acked)
{
    const std::string key = "durable:{w}";
    with_client(options(), [&](client& c) -> net::awaitable<void> {
        const auto set = command("SET", key, "v");
        const auto wait = command("WAIT", "1", "1000");
        auto p = c.pipeline(key, {set, wait}, 2s, channel::write);
        auto r = co_await std::move(p);
        CO_ASSERT_TRUE(r);
        CO_ASSERT_TRUE(r->size() == 2U);
        EXPECT_EQ((*r)[0].str, "OK");
        EXPECT_EQ((*r)[1].type, reply::kind::integer);
        EXPECT_EQ((*r)[1].integer, 1);
    });
    const auto replica = cluster_.replica_of(cluster_.master_of_slot(key_slot(key)));
    admin_connection admin(replica);
    admin.command({"READONLY"});
    EXPECT_EQ(admin.command({"GET", key}), "$v");
}

// Writes `key` and WAITs for its frozen replica on `ch`, while a read of the same node runs on
// the shared connection; true when the read finished first.
bool read_finishes_before_the_wait(const client_options& options, const std::string& key,
                                   pid_t replica_pid, channel ch)
{
    bool read_first = false;
    with_client(options, [&](client& c) -> net::awaitable<void> {
        auto warm = co_await c.exec(command("SET", key, "0"));
        EXPECT_TRUE(warm);
        ::kill(replica_pid, SIGSTOP);
        bool wait_done = false;
        co_await spawn_all(2, [&](int i) -> net::awaitable<void> {
            if (i == 0) {
                const auto set = command("SET", key, "1");
                const auto wait = command("WAIT", "1", "300");
                auto p = c.pipeline(key, {set, wait}, 2s, ch);
                auto r = co_await std::move(p);
                // The replica is frozen: no acknowledgement within the WAIT's 300 ms.
                EXPECT_TRUE(r && r->size() == 2U && (*r)[1].integer == 0);
                wait_done = true;
            } else {
                co_await sleep_for(20ms);
                auto r = co_await c.exec(command("GET", key), 2s);
                EXPECT_TRUE(r && r->str == "1");
                read_first = !wait_done;
            }
        });
        ::kill(replica_pid, SIGCONT);
    });
    return read_first;
}

TEST_F(redis_cluster_client, reads_do_not_queue_behind_a_wait_on_the_write_channel)
{
    const std::string key = "behind:{b}";
    const auto replica = cluster_.replica_of(cluster_.master_of_slot(key_slot(key)));
    const thaw_on_exit thaw{cluster_.pid_of(replica)};
    EXPECT_TRUE(read_finishes_before_the_wait(options(), key, thaw.pid, channel::write));
    cluster_.wait_healthy();
    // The same on the shared connection: the read waits behind the WAIT.
    EXPECT_FALSE(read_finishes_before_the_wait(options(), key, thaw.pid, channel::shared));
}

}  // namespace
}  // namespace analytics::redis
