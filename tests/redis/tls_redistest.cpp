// Redis over TLS, beyond what every client and subscriber test already runs over TLS: which
// server certificates are accepted, mutual TLS, the handshake under the connect deadline, and a
// Redis Cluster whose nodes speak TLS (tls-cluster), also as the README's least-privilege user.
// Private redis-server processes with certificates made by openssl at run time.

#include "common/tls_context.hpp"
#include "redis/client.hpp"
#include "redis/slot.hpp"
#include "support/client_runner.hpp"
#include "support/coro_helpers.hpp"
#include "support/documented_acl.hpp"
#include "support/redis_admin.hpp"
#include "support/redis_server.hpp"
#include "support/redis_tls.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace analytics::redis {
namespace {

using test::admin_connection;
using test::eventually;
using test::redis_process;
using test::sleep_for;
using test::with_client;

using namespace std::chrono_literals;
using steady_clock = std::chrono::steady_clock;

const test::test_pki& pki()
{
    return test::shared_pki();
}

// Options for reaching `server` over TLS with the test CA trusted.
client_options tls_options(const redis_process& server)
{
    auto o = test::client_options_for(server.port());
    o.connect_timeout = 500ms;
    return o;
}

// A server presenting `identity` instead of the good certificate.
std::vector<std::string> presenting(const test::tls_identity& identity)
{
    return {"--tls-cert-file", identity.cert_file, "--tls-key-file", identity.key_file};
}

// Runs a client that must never connect: a few attempts, then a command fails at once.
void expect_refused(const client_options& options)
{
    with_client(
        options,
        [&](client& c) -> net::awaitable<void> {
            co_await sleep_for(300ms);
            EXPECT_FALSE(c.connected());
            EXPECT_EQ(c.connects(), 0U);
            const auto start = steady_clock::now();
            auto r = co_await c.exec(command("PING"), 1s);
            EXPECT_EQ(r.error(), errc::not_connected);
            EXPECT_LT(test::elapsed_ms(start), 50.0) << "a command waited for a refused server";
        },
        false);
}

// Runs a client that must connect and answer.
void expect_served(const client_options& options)
{
    with_client(options, [&](client& c) -> net::awaitable<void> {
        auto r = co_await c.exec(command("PING"));
        CO_ASSERT_TRUE(r);
        EXPECT_EQ(r->str, "PONG");
    });
}

TEST(redis_tls, presents_its_client_certificate_where_the_server_requires_one)
{
    redis_process server({"--tls-auth-clients", "yes"}, {}, true);
    expect_refused(tls_options(server));

    auto with_certificate = tls_options(server);
    with_certificate.tls = test::client_tls(&pki().client());
    expect_served(with_certificate);
}

TEST(redis_tls, refuses_a_server_whose_certificate_does_not_chain_to_the_trusted_ca)
{
    redis_process server(presenting(pki().untrusted()), {}, true);
    expect_refused(tls_options(server));
}

TEST(redis_tls, refuses_an_expired_server_certificate)
{
    redis_process server(presenting(pki().expired()), {}, true);
    expect_refused(tls_options(server));
}

TEST(redis_tls, requires_the_configured_server_name_in_the_certificate)
{
    redis_process server({}, {}, true);  // a certificate for localhost, 127.0.0.1 and ::1
    auto wrong = tls_options(server);
    wrong.tls_server_name = "wrong.example";
    expect_refused(wrong);

    // The name is checked instead of the address connected to.
    auto right = tls_options(server);
    right.tls_server_name = "localhost";
    expect_served(right);

    redis_process other(presenting(pki().wrong_name()), {}, true);
    expect_refused(tls_options(other));
    auto named = tls_options(other);
    named.tls_server_name = "wrong.example";
    expect_served(named);
}

TEST(redis_tls, accepts_any_certificate_only_with_verification_turned_off)
{
    redis_process server(presenting(pki().untrusted()), {}, true);
    auto insecure = tls_options(server);
    insecure.tls = std::make_shared<common::tls_context>(pki().ca_file());
    insecure.tls->skip_verification();
    expect_served(insecure);
}

TEST(redis_tls, a_server_that_never_completes_the_handshake_fails_the_attempt_at_the_connect_timeout)
{
    // A plain Redis port reads the TLS ClientHello as the start of an inline command and waits
    // for its end: the TCP connection is accepted, the handshake never completes.
    redis_process server({}, {}, false);
    auto options = test::client_options_for(server.port());
    options.tls = test::client_tls();
    options.connect_timeout = 300ms;
    with_client(
        options,
        [&](client& c) -> net::awaitable<void> {
            // A command sent at once waits for the first attempt, which the connect deadline
            // ends, then fails without waiting for its own deadline.
            const auto start = steady_clock::now();
            auto r = co_await c.exec(command("PING"), 5s);
            const double took = test::elapsed_ms(start);
            test::report("tls_handshake_cut_after_ms", took, "ms");
            EXPECT_EQ(r.error(), errc::not_connected);
            EXPECT_GE(took, 250.0);
            EXPECT_LT(took, 2000.0);
            EXPECT_FALSE(c.connected());
        },
        false);
}

// ---- a Redis Cluster over TLS ----------------------------------------------------------------

// One TLS cluster for the tests below, started on first use (about 2 s); each test leaves it as
// it found it.
test::tls_cluster& cluster()
{
    static test::tls_cluster c;
    return c;
}

client_options cluster_options()
{
    client_options o;
    o.cluster_nodes = {cluster().seeds().front()};
    o.tls = test::client_tls();
    o.command_timeout = 1s;
    o.reconnect_min = 10ms;
    o.reconnect_max = 100ms;
    // Only a MOVED reply can tell the client of a reassigned slot.
    o.cluster_refresh_interval = std::chrono::hours(1);
    return o;
}

// A key whose slot node 0 serves and that no other test uses.
std::string key_on_first_node(std::string_view prefix)
{
    for (int i = 0;; ++i) {
        std::string key = std::string(prefix) + "{" + std::to_string(i) + "}";
        if (key_slot(key) <= 5460) {
            return key;
        }
    }
}

// Writes a key on every shard, then moves an empty slot of node 0 to node 1 behind the client's
// back: its next command there gets MOVED with the node's TLS port and follows it.
void serves_every_shard_and_follows_moved(const client_options& options)
{
    const auto& nodes = cluster().nodes();
    const std::string moved_key = key_on_first_node("summary:tls-moved:");
    const auto slot = key_slot(moved_key);
    std::vector<node_state> seen;
    with_client(options, [&](client& c) -> net::awaitable<void> {
        for (int i = 0; i < 30; ++i) {
            const std::string key = "summary:tls-route:" + std::to_string(i);
            auto r = co_await c.exec(command("SET", key, "v"));
            EXPECT_TRUE(r && r->str == "OK") << key << ": " << (r ? r->str : r.error().message());
        }
        seen = c.nodes();
        cluster().reassign(slot, *nodes[1]);
        auto set = co_await c.exec(command("SET", moved_key, "moved"));
        EXPECT_TRUE(set && set->str == "OK") << (set ? set->str : set.error().message());
        EXPECT_EQ(c.stats().moved, 1U);
    });
    EXPECT_EQ(admin_connection(nodes[1]->port()).command({"GET", moved_key}), "$moved");
    for (const auto& n : nodes) {
        admin_connection(n->port()).command({"FLUSHALL"});
    }
    cluster().reassign(slot, *nodes[0]);

    // The client reached the nodes at their TLS ports, as the slot map gives them to it.
    ASSERT_EQ(seen.size(), 3U);
    for (const auto& n : nodes) {
        const std::string address = "127.0.0.1:" + std::to_string(n->tls_port());
        bool found = false;
        for (const auto& s : seen) {
            found = found || (s.address == address && s.connected);
        }
        EXPECT_TRUE(found) << address << " is not among the connected nodes";
    }
}

TEST(redis_tls_cluster, serves_every_shard_over_tls_and_follows_moved_to_the_tls_port)
{
    serves_every_shard_and_follows_moved(cluster_options());
}

TEST(redis_tls_cluster, works_as_the_documented_least_privilege_user_on_every_node)
{
    const auto acl = test::readme_acl("cluster-pass");
    for (const auto& n : cluster().nodes()) {
        ASSERT_EQ(admin_connection(n->port()).command(acl.setuser), "+OK");
    }
    auto options = cluster_options();
    options.username = acl.username;
    options.password = "cluster-pass";
    serves_every_shard_and_follows_moved(options);
    for (const auto& n : cluster().nodes()) {
        admin_connection admin(n->port());
        // Nothing the client sent was refused.
        EXPECT_EQ(admin.command({"ACL", "LOG"}), "*0") << "node " << n->port();
        admin.command({"ACL", "DELUSER", acl.username});
    }
}

}  // namespace
}  // namespace analytics::redis
