#pragma once
// One pipelined connection to one Redis server, kept healthy: `run()` connects (over TCP, or TLS
// when the options carry a TLS context: redis::transport; the TLS handshake counts against the
// connect timeout), authenticates, selects the database, loads the client's scripts, checks the
// server with a periodic PING, and reconnects with capped exponential backoff and jitter. Any number of coroutines send
// batches of commands over it; everything queued within one turn of the event loop goes out
// in one write, the commands of one batch back to back, and replies are matched to callers in
// order.
//
// Every batch carries a deadline. While disconnected, a batch fails at once with
// errc::not_connected (nothing sent). A reply that arrives after its caller gave up is read
// and dropped. A batch whose connection drops after it was sent fails with
// errc::connection_lost: it may or may not have run, so nothing here sends it again.
//
// redis::client owns its connections (one per Redis node, a second per node for writes that
// wait for replicas) and routes commands to them; domain code never sees this class.
//
// Lifetime: call stop() and let run() return before destroying the connection.
//
// Thread safety: one io_context thread, like the client that owns it; `connected()` and
// `connects()` may be read from anywhere.

#include "common/asio.hpp"
#include "redis/client.hpp"
#include "redis/command_batch.hpp"
#include "redis/errc.hpp"
#include "redis/reply.hpp"
#include "redis/script_registry.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/container/small_vector.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace analytics::redis {

/// The replies of one batch, in command order; one reply is held inline.
using reply_list = boost::container::small_vector<reply, 1>;

class connection {
public:
    using clock = std::chrono::steady_clock;

    /// Connects to options.host:options.port (AUTH and SELECT as the options say). `scripts`
    /// are loaded on every new connection and must outlive this object; `on_state_change` is
    /// called (on the connection's thread) with the new value whenever connected() changes.
    connection(net::any_io_executor executor, client_options options,
               const script_registry& scripts, std::function<void(bool)> on_state_change);
    ~connection();

    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    /// Connects and keeps the connection healthy until stop(). Spawn it once.
    net::awaitable<void> run();

    /// Ends run() and closes the connection. Batches in flight fail with `reason` (stopped when
    /// the client shuts down, connection_lost when the node is retired); batches sent later
    /// fail at once. Safe to call more than once, and before run() was spawned.
    void stop(errc reason = errc::stopped);

    /// True while a connection is established, authenticated and loaded with the scripts.
    bool connected() const noexcept;

    /// True until the first connection attempt has either succeeded or failed: a caller may
    /// wait for a brand-new connection instead of failing at once.
    bool first_attempt_pending() const noexcept;

    /// Waits until connected, the current attempt failed, stop(), or the deadline.
    net::awaitable<void> wait_connected(clock::time_point deadline);

    /// Sends the batch and waits for all its replies or the deadline; the replies replace the
    /// contents of `out`. An error reply is a reply; transport failures are error codes:
    /// not_connected, timeout, connection_lost, stopped, invalid_argument (an empty batch or
    /// command). The batch, the strings it views and `out` must stay alive until the co_await
    /// completes.
    net::awaitable<boost::system::error_code> request(const command_batch& batch,
                                                      clock::time_point deadline, reply_list& out);

    /// Queues a command whose reply is not awaited (SCRIPT LOAD of a newly registered script),
    /// when a connection is up or being set up; does nothing otherwise.
    void send_and_forget(std::span<const std::string_view> args);

    /// Number of times a connection was established since construction.
    std::uint64_t connects() const noexcept;

    const client_options& options() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace analytics::redis
