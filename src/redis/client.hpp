#pragma once
// The one Redis object domain code holds: an asynchronous, pipelined client, in Boost.Redis's
// shape, for a single Redis server or a Redis Cluster.
//
// Single node (options.cluster_nodes empty): one connection to host:port, kept healthy by
// `run()` (connect, TLS handshake when options.tls is set, AUTH, SELECT, load the scripts,
// periodic PING, reconnect with capped exponential backoff and jitter). Cluster (options.cluster_nodes lists seed nodes): the slot
// map is read from CLUSTER SHARDS (CLUSTER SLOTS on servers before 7), refreshed every
// cluster_refresh_interval and soon after anything suggests it changed, and every master gets
// a connection of its own; each command goes to the master of its key's slot.
//
// Any number of coroutines call exec/eval/pipeline concurrently; commands for one connection
// queued within one turn of the event loop go out in one write, and replies are matched to
// callers in order. Every call carries a deadline. While the connection a call needs is down,
// the call fails at once with errc::not_connected (nothing sent). A reply that arrives after
// its caller timed out is read and dropped. hiredis supplies only the reply reader; commands
// are written by redis::append_command.
//
// In a cluster, refusals that mean "not run here" are handled within the caller's deadline and
// never reach it: MOVED (the slot is updated at once, the map refreshed soon, the call sent to
// the new owner), ASK (ASKING + the call on the importing node, back to back), TRYAGAIN (short
// back-off, then again). CLUSTERDOWN is returned as errc::cluster_down. A call whose connection
// dropped after it was sent is errc::connection_lost and is never sent again: it may have run.
//
// Scripts: every script the client has run (or was given with register_script) is loaded with
// SCRIPT LOAD by each new connection before it takes commands, and on every live connection
// when it is first seen, so a promoted replica (the script cache is not replicated) does not
// answer EVALSHA with NOSCRIPT, inside MULTI or a pipeline either. eval() still falls back to
// EVAL on NOSCRIPT, and a batch refused with NOSCRIPT (a SCRIPT FLUSH) is sent again after
// the scripts are loaded once more.
//
// Commands must produce exactly one reply each: SUBSCRIBE, MONITOR and CLIENT REPLY OFF/SKIP
// would break the in-order matching and are not supported. Blocking commands (BLPOP...) hold up
// every command pipelined behind them, including the health-check PING, so keep them shorter
// than max(command_timeout, 1s) or give them a connection of their own (channel::write).
//
// Lifetime: call stop() and let run() return before destroying the client; a coroutine that is
// still suspended in run(), exec() or eval() refers to it.
//
// Thread safety: a client belongs to one io_context running on one thread (one client per
// worker). All member functions must be called from that thread, except `connected()`,
// `any_connected()`, `nodes()` and `connects()`, which may be read from anywhere.

#include "common/asio.hpp"
#include "redis/cluster_topology.hpp"
#include "redis/errc.hpp"
#include "redis/reply.hpp"
#include "redis/script.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/system/result.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace analytics::common {
class tls_context;
}

namespace analytics::telemetry {
class shard;
}

namespace analytics::redis {

class write_refusals;

/// A Redis node's address: a seed of the cluster.
struct node_address {
    std::string host;
    std::uint16_t port = 0;
};

struct client_options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 6379;
    std::string password;                                   // AUTH when not empty
    std::string username;  // an ACL user: AUTH username password (needs the password)
    // When set, every connection (each node's, the subscriber's) runs TLS with this context,
    // which one process may share among all its clients: it is safe across threads.
    std::shared_ptr<common::tls_context> tls;
    // The name sent as SNI and required in the server's certificate; empty: the host connected to
    // (in a cluster, each node's address as the slot map gives it).
    std::string tls_server_name;
    int db = 0;                                             // SELECT when not 0
    std::chrono::milliseconds command_timeout{100};         // default deadline of exec()
    std::chrono::milliseconds connect_timeout{1000};
    std::chrono::milliseconds health_check_interval{1000};  // PING period while connected
    std::chrono::milliseconds reconnect_min{50};            // first back-off delay
    // Back-off cap. A restarted Redis is back in service within this time (plus a connect), which
    // the chaos suite (tests/chaos/) holds to 1 s; a refused connect every half second or so per
    // worker costs a down server nothing.
    std::chrono::milliseconds reconnect_max{500};
    // Told the outcome of every caller's command (may be null): Redis refusing writes.
    write_refusals* refusals = nullptr;
    // Counts every caller's command and its round trip (may be null): the shard of the worker
    // whose thread runs the client.
    telemetry::shard* stats = nullptr;
    // Called on the client's thread with true each time a connection becomes usable (after the
    // handshake) and with false when a usable connection is lost, so that state the server keeps
    // per connection (CLIENT TRACKING) can be set up again. It must not call into the client
    // synchronously; spawn a coroutine for that. Not called by stop(), nor on a cluster (no
    // one connection carries every key there).
    std::function<void(bool connected)> on_connection_change;
    // Redis Cluster seed nodes; empty: a single server at host:port. With seeds, host and
    // port are not used and db must be 0 (a cluster has one database).
    std::vector<node_address> cluster_nodes;
    // The slot map is read again this often (as redis-plus-plus does), and sooner after a
    // MOVED or a lost master connection, but never more often than the minimum interval.
    std::chrono::milliseconds cluster_refresh_interval{10000};
    std::chrono::milliseconds cluster_min_refresh_interval{100};
};

/// Which connection of a node a pipeline() uses. `shared` is the node's connection that every
/// other call uses; `write` is a second one, opened on first use, for writes followed by a
/// WAIT, so that reads never queue behind a WAIT.
enum class channel { shared, write };

/// One node as this client sees it, for /health.
struct node_state {
    std::string address;  // host:port
    node_role role = node_role::master;
    std::size_t slots = 0;   // slots it serves (masters)
    bool connected = false;  // this client's connection to it is up (only masters get one)
    std::string health;      // the cluster's view: "online", "failed", "loading"; "" unknown
};

/// Counters of cluster events since construction (for tests and logs).
struct client_stats {
    std::uint64_t moved = 0;        // MOVED replies followed
    std::uint64_t ask = 0;          // ASK replies followed
    std::uint64_t try_again = 0;    // TRYAGAIN replies waited out
    std::uint64_t noscript = 0;     // NOSCRIPT replies repaired (EVAL fallback or reload)
    std::uint64_t map_updates = 0;  // slot maps read and applied
};

template <class T>
using result = boost::system::result<T>;

/// The arguments of one command as an array of views, for exec() and eval():
/// `co_await c.exec(redis::command("SET", key, value), 50ms)`. Arguments are anything a
/// std::string_view can be made from (format numbers first); the views refer to them.
template <class... Args>
std::array<std::string_view, sizeof...(Args)> command(const Args&... args)
{
    return {std::string_view(args)...};
}

class client {
public:
    client(net::any_io_executor executor, client_options options);
    ~client();

    client(const client&) = delete;
    client& operator=(const client&) = delete;

    /// Connects and keeps the connections healthy (and, in a cluster, the slot map current)
    /// until stop(). Spawn it once; stop() is the way to end it (per-operation cancellation of
    /// run() is not supported).
    net::awaitable<void> run();

    /// Ends run(): closes the connections, fails pending commands with errc::stopped. Commands
    /// issued afterwards fail at once with errc::stopped. Safe to call more than once, and
    /// before run() was spawned.
    void stop();

    /// True while every shard can be served: single node, the connection is up; cluster, the
    /// slot map is known and the connection to every master that serves slots is up.
    bool connected() const noexcept;

    /// True while at least one shard can be served (single node: as connected()). A cluster
    /// with one shard failing over is not connected() but still any_connected().
    bool any_connected() const noexcept;

    /// True in cluster mode.
    bool is_cluster() const noexcept;

    /// Every node of the slot map (single node: the one server), masters first.
    std::vector<node_state> nodes() const;

    /// True when the master of `slot` is known and this client's connection to it is up.
    bool slot_servable(std::uint16_t slot) const noexcept;

    /// Sends one command and waits for its reply or the deadline. In a cluster it goes to the
    /// master of its first key's slot (redis::first_key); a command without a key (PING, INFO,
    /// TIME, CLIENT ...) goes to a connected master. An error reply from Redis is returned as a
    /// reply of kind::error (not as an error code), so callers can read its text; failures are
    /// error codes: not_connected (at once, nothing sent), timeout, connection_lost, stopped,
    /// cluster_down, try_again, too_many_redirects.
    ///
    /// The argument views are copied when exec() is called and the deadline starts then; the
    /// strings they view must stay alive until the co_await completes. GCC 12 rejects a braced
    /// list inside a co_await expression ("array used as initializer", a compiler bug), so with
    /// it write `co_await c.exec(redis::command("GET", key), 50ms)`.
    net::awaitable<result<reply>> exec(std::span<const std::string_view> args,
                                       std::chrono::milliseconds timeout);
    net::awaitable<result<reply>> exec(std::initializer_list<std::string_view> args);

    /// As above with options().command_timeout, for an array: `c.exec(redis::command("PING"))`.
    net::awaitable<result<reply>> exec(std::span<const std::string_view> args);

    /// As above, for a braced list of arguments with an explicit deadline (a std::span cannot be
    /// built from a braced list in C++20): `co_await c.exec({"GET", key}, 50ms)`.
    net::awaitable<result<reply>> exec(std::initializer_list<std::string_view> args,
                                       std::chrono::milliseconds timeout);

    /// As exec(), sent to the master of `routing_key`'s slot whatever the command's own keys.
    net::awaitable<result<reply>> exec_on(std::string_view routing_key,
                                          std::span<const std::string_view> args,
                                          std::chrono::milliseconds timeout);

    /// EVALSHA script numkeys keys... args..., sent to the master of keys[0]'s slot (any
    /// connected master when there are no keys); on a NOSCRIPT error reply it retries once with
    /// EVAL. One deadline covers every attempt. In a cluster all keys must share one slot
    /// (asserted in debug builds; errc::cross_slot otherwise, nothing sent). `s` and the
    /// strings viewed by keys and args must stay alive until the co_await completes.
    net::awaitable<result<reply>> eval(const script& s, std::span<const std::string_view> keys,
                                       std::span<const std::string_view> args,
                                       std::chrono::milliseconds timeout);

    /// As above, for braced lists: `co_await c.eval(s, {key}, {"10", "60000"}, 50ms)`.
    net::awaitable<result<reply>> eval(const script& s,
                                       std::initializer_list<std::string_view> keys,
                                       std::initializer_list<std::string_view> args,
                                       std::chrono::milliseconds timeout);

    /// Sends `commands` back to back on one connection of the master of `routing_key`'s slot,
    /// with nothing of any other caller in between, and returns every reply in order: for
    /// `MULTI, EVALSHA ..., EXEC` or `EVALSHA ...; WAIT 1 <ms>`. `ch` picks the node's shared
    /// connection or its write connection. The commands' keys must be in routing_key's slot.
    /// When no keyed command ran because the node refused them all (MOVED, ASK, TRYAGAIN,
    /// NOSCRIPT), the whole batch is sent again where and when it may run; keyless commands
    /// in it (WAIT, PING) then run again too. When some ran and some were refused, the replies
    /// are returned as they are. The views must stay alive until the co_await completes.
    net::awaitable<result<std::vector<reply>>> pipeline(
        std::string_view routing_key, std::span<const std::span<const std::string_view>> commands,
        std::chrono::milliseconds timeout, channel ch = channel::shared);

    /// As above, for a braced list of commands:
    /// `auto set = redis::command("SET", k, v); auto wait = redis::command("WAIT", "1", "50");`
    /// `auto r = c.pipeline(k, {set, wait}, 100ms, redis::channel::write); co_await std::move(r);`
    net::awaitable<result<std::vector<reply>>> pipeline(
        std::string_view routing_key,
        std::initializer_list<std::span<const std::string_view>> commands,
        std::chrono::milliseconds timeout, channel ch = channel::shared);

    /// Makes the client load `s` on every connection, now and whenever one is (re)established,
    /// so EVALSHA of it in a pipeline or MULTI finds it. eval() registers its script itself.
    void register_script(const script& s);

    /// The executor the client runs on: its owners' coroutines share its thread.
    net::any_io_executor get_executor() const noexcept;

    /// Number of times a connection was (re)established (and authenticated) since
    /// construction, summed over every connection of the client.
    std::uint64_t connects() const noexcept;

    /// Cluster events so far.
    client_stats stats() const noexcept;

    const client_options& options() const noexcept { return options_; }

private:
    // The connections and the slot map live in `impl`, so that hiredis and Asio's socket
    // types stay out of this header.
    struct impl;
    client_options options_;
    std::unique_ptr<impl> impl_;
};

}  // namespace analytics::redis
