#pragma once
// Keeps Redis's server-assisted client-side caching on for one worker: broadcast tracking of a
// key prefix on the worker's main connection (`CLIENT TRACKING on REDIRECT <id> BCAST PREFIX
// <prefix> NOLOOP`), with the invalidations redirected to a subscriber connection listening on
// `__redis__:invalidate`. From then on Redis reports every change of a key under the prefix
// (write, DEL, expiry, eviction) by any client except this connection itself (NOLOOP: the
// worker knows what it wrote), and a flush (FLUSHDB, FLUSHALL) as a nil message.
//
// The listener hears: invalidated(key) for each reported key; all_invalidated() for a flush,
// and whenever reports may have stopped or been missed: either connection dropped (tracking
// lives and dies with the main connection, and redirects to one subscriber connection id), and
// again when tracking is on once more. active() is true only while reports flow, so a worker
// keeps in-process copies only then; while it is false, hits must be served from Redis.
//
// The main connection's up/down changes come from client_options::on_connection_change, wired
// to connection_changed(); the subscriber's from its state handler (registered here).
//
// Lifetime: construct before spawning the subscriber's run(); spawn run(); stop() before the
// client and the subscriber go.
//
// Thread safety: one per worker, on that worker's thread, like the client and subscriber it uses.

#include "common/asio.hpp"
#include "redis/client.hpp"
#include "redis/subscriber.hpp"

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace analytics::cache {

class client_tracking {
public:
    struct listener {
        std::function<void(std::string_view key)> invalidated;
        std::function<void()> all_invalidated;
    };

    /// Tracks keys starting with `prefix`; each CLIENT TRACKING call may take `timeout`.
    client_tracking(redis::client& redis, redis::subscriber& subscriber, std::string prefix,
                    std::chrono::milliseconds timeout);

    /// Sets the one listener (before run()).
    void listen(listener l) { listener_ = std::move(l); }

    /// Turns tracking on whenever both connections are up and it is off, until stop().
    net::awaitable<void> run();
    void stop();

    /// For client_options::on_connection_change of the main connection.
    void connection_changed(bool up);

    /// True while every change of a tracked key reaches the listener.
    bool active() const noexcept { return active_; }

    /// How many times tracking was turned on since construction.
    std::uint64_t activations() const noexcept { return activations_; }

private:
    net::awaitable<bool> enable(std::int64_t redirect_to);
    void changed(const char* cause);
    void on_message(const redis::reply& payload);

    redis::client& redis_;
    redis::subscriber& subscriber_;
    std::string prefix_;
    std::chrono::milliseconds timeout_;
    listener listener_;
    net::steady_timer wake_;  // an event: cancelled when either connection changes
    std::uint64_t generation_ = 0;
    std::uint64_t activations_ = 0;
    unsigned failures_ = 0;  // failed attempts since tracking was last on
    bool active_ = false;
    bool stopped_ = false;
};

}  // namespace analytics::cache
