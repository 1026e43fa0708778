#pragma once
// The HTTP/1.1 server of one worker: an acceptor (SO_REUSEPORT, so every worker thread has its
// own on the same port and the kernel spreads connections) and one coroutine per connection.
//
// A session reads requests with Beast's parser under hard limits (header limit -> 431, body
// limit -> 413, malformed -> 400 and close), a read deadline for the whole request (a client
// that sends half a request and stalls is dropped after `read_timeout`), an idle deadline
// between keep-alive requests, and a write deadline. Deadlines are enforced by one sweeping
// timer per worker (within 100 ms), not a timer per operation. Handlers never see Beast types.
//
// Thread safety: a listener and its sessions live on one io_context thread; every member
// function must be called on that thread. `connection_gate` is shared by all workers.

#include "common/asio.hpp"
#include "config/cidr.hpp"
#include "http/router.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <vector>

namespace analytics::http {

struct server_options {
    std::size_t max_connections = 10000;
    std::chrono::seconds read_timeout{10};
    std::chrono::seconds idle_timeout{60};
    std::size_t header_limit = 8 * 1024;
    std::size_t body_limit = 64 * 1024;
    std::vector<config::cidr> trusted_proxies;
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
    listener(net::io_context& ioc, const server_options& options, const router& routes,
             connection_gate& gate);

    /// Opens the acceptor on `endpoint` with SO_REUSEADDR and SO_REUSEPORT and listens.
    /// Throws boost::system::system_error when the address cannot be bound.
    void open(const net::ip::tcp::endpoint& endpoint);

    /// The port actually bound (useful after binding port 0).
    std::uint16_t port() const;

    /// Starts the accept loop.
    void start();

    /// Graceful shutdown: stops accepting, closes connections that wait for a request, and
    /// lets every request in progress finish with `Connection: close`.
    void drain();

    /// Closes every remaining connection at once (the shutdown deadline passed).
    void close_all();

    /// Connections this worker holds open.
    std::size_t sessions() const noexcept { return sessions_.size(); }

private:
    struct session_slot;

    net::awaitable<void> accept_loop();
    net::awaitable<void> sweep_deadlines();
    net::awaitable<void> session(net::ip::tcp::socket socket);

    net::io_context& ioc_;
    const server_options& options_;
    const router& router_;
    connection_gate& gate_;
    net::ip::tcp::acceptor acceptor_;
    std::list<session_slot*> sessions_;
    bool draining_ = false;
};

}  // namespace analytics::http
