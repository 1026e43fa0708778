#pragma once
// The HTTP/1.1 server of one worker: an acceptor (SO_REUSEPORT, so every worker thread has its
// own on the same port and the kernel spreads connections) and one coroutine per connection.
//
// A connection is served in the shape of Beast's awaitable http_session: read a request,
// dispatch it, write the answer, record it, and again while keep-alive; then close. Reading
// enforces hard limits, each answered in the contract's error format and followed by a close:
// headers over the limit -> 431, a body over the limit -> 413, a malformed request -> 400, a
// head RFC 9112 forbids (no Host in HTTP/1.1, two Host or two Authorization fields) -> 400, a
// transfer coding other than chunked -> 501, chunk extensions or trailers over 1 KiB -> 400, an
// unfinished body the process's body budget cannot hold -> 503 (http::body_budget), and a client
// over HTTP_MAX_CONNECTIONS_PER_CLIENT -> 429 before its first request (client_connections).
//
// Deadlines: a connection's first request must arrive in full within the read timeout counted
// from accept (a connection that never sends a byte is dropped then); later requests within the
// read timeout counted from their first byte, with the idle timeout between requests; writes
// within the read timeout. They are enforced by one sweeping timer per worker (within 100 ms),
// not a timer per operation.
//
// Shutdown, as Envoy drains: drain() makes every answer carry `Connection: close` and closes a
// connection once it has waited `idle_grace` for a request (never one whose request is being
// read or answered); stop_accepting() then closes the acceptor without resetting connections
// whose handshake has completed; requests in flight finish. Handlers never see Beast types.
//
// Thread safety: a listener and its sessions live on one io_context thread; every member
// function must be called on that thread. `connection_gate`, client_connections and
// body_budget are shared by all workers.

#include "common/asio.hpp"
#include "config/cidr.hpp"
#include "http/body_budget.hpp"
#include "http/client_connections.hpp"
#include "http/router.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <vector>

namespace analytics::telemetry {
class shard;
}

namespace analytics::http {

struct server_options {
    std::size_t max_connections = 10000;
    std::chrono::seconds read_timeout{10};
    std::chrono::seconds idle_timeout{60};
    std::size_t header_limit = 8 * 1024;
    std::size_t body_limit = 64 * 1024;
    std::vector<config::cidr> trusted_proxies;
    unsigned ipv6_prefix = 64;  // request_context::client_key()
};

/// Counts open connections across all workers and enforces HTTP_MAX_CONNECTIONS.
class connection_gate {
public:
    explicit connection_gate(std::size_t max) : max_(max) {}

    bool try_enter() noexcept
    {
        if (open_.fetch_add(1, std::memory_order_relaxed) >= max_) {
            open_.fetch_sub(1, std::memory_order_relaxed);
            return false;
        }
        return true;
    }
    void leave() noexcept { open_.fetch_sub(1, std::memory_order_relaxed); }
    std::size_t open() const noexcept { return open_.load(std::memory_order_relaxed); }

private:
    std::size_t max_;
    std::atomic<std::size_t> open_{0};
};

class listener {
public:
    /// Every request answered is counted in `stats`, the shard of the thread running `ioc`.
    listener(net::io_context& ioc, const server_options& options, const router& routes,
             connection_gate& gate, client_connections& clients, body_budget& bodies,
             telemetry::shard& stats);

    /// Opens the acceptor on `endpoint` with SO_REUSEADDR and SO_REUSEPORT and listens.
    /// Throws boost::system::system_error when the address cannot be bound.
    void open(const net::ip::tcp::endpoint& endpoint);

    /// The port actually bound (useful after binding port 0).
    std::uint16_t port() const;

    /// Starts the accept loop.
    void start();

    /// Starts draining: from now on every answer carries `Connection: close`, and a connection
    /// waiting for a request is closed once it has waited `idle_grace`. Accepting goes on.
    void drain(std::chrono::milliseconds idle_grace);

    /// Stops accepting: new handshakes are turned away, connections already established are
    /// still accepted for a moment, then the acceptor closes. Implies drain() if not draining.
    void stop_accepting();

    /// Closes every remaining connection at once (the shutdown deadline passed).
    void close_all();

    /// Connections this worker holds open.
    std::size_t sessions() const noexcept { return sessions_.size(); }

private:
    struct session_slot;
    class connection;

    net::awaitable<void> accept_loop();
    net::awaitable<void> sweep_deadlines();
    net::awaitable<void> close_acceptor_after_handshakes();
    net::awaitable<void> session(net::ip::tcp::socket socket, net::ip::address peer,
                                 client_connections::admission admission);

    net::io_context& ioc_;
    const server_options& options_;
    const router& router_;
    connection_gate& gate_;
    client_connections& clients_;
    body_budget& bodies_;
    telemetry::shard& stats_;
    net::ip::tcp::acceptor acceptor_;
    std::list<session_slot*> sessions_;
    bool draining_ = false;
    std::chrono::milliseconds idle_grace_{0};
};

}  // namespace analytics::http
