#pragma once
// A Redis pub/sub connection (RESP2 SUBSCRIBE), separate from redis::client because a
// subscribed connection carries pushed messages, not one reply per command. It owns its
// connection (TCP, or TLS as the options say: redis::transport) and keeps it healthy by itself:
// connect, AUTH (with the ACL user, if any), CLIENT ID, SUBSCRIBE to every registered
// channel, a PING every health_check_interval (a missing pong within max(command_timeout, 1 s)
// drops the connection), and reconnect with capped exponential backoff and jitter.
//
// Each message on a channel is handed to that channel's handler as (channel, payload); the
// payload is the reply as Redis sent it: a string for PUBLISH, an array of keys or nil for
// CLIENT TRACKING's `__redis__:invalidate`. State handlers hear `true` once every channel is
// subscribed and `false` when that connection is lost: messages published while the connection
// was down are gone, so a user that must not miss one re-reads its state on `true`.
// client_id() is the connection's CLIENT ID while it is up (for CLIENT TRACKING ... REDIRECT);
// it changes with every reconnect.
//
// Lifetime: register channels and state handlers before spawning run(); call stop() and let
// run() return before destroying the subscriber.
//
// Thread safety: a subscriber belongs to one io_context running on one thread; handlers run on
// that thread. All member functions must be called from it, except connected().

#include "common/asio.hpp"
#include "redis/client.hpp"
#include "redis/reply.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace analytics::redis {

class subscriber {
public:
    using message_handler = std::function<void(std::string_view channel, const reply& payload)>;
    using state_handler = std::function<void(bool up)>;

    /// Connects as `options` says (host, port, TLS, user and password, timeouts, backoff; db and
    /// on_connection_change do not apply: channels are server-wide).
    subscriber(net::any_io_executor executor, client_options options);
    ~subscriber();

    subscriber(const subscriber&) = delete;
    subscriber& operator=(const subscriber&) = delete;

    /// Subscribes to `channel` on every connection; `handler` receives its messages. Call
    /// before run(). Handlers must not throw (an exception is logged and the message dropped).
    void subscribe(std::string channel, message_handler handler);

    /// Adds a handler of up/down changes. Call before run().
    void on_state_change(state_handler handler);

    /// Connects and stays subscribed until stop().
    net::awaitable<void> run();

    /// Ends run() and closes the connection; state handlers are not called. Safe to call more
    /// than once, and before run() was spawned.
    void stop();

    /// True while subscribed to every channel. May be read from any thread.
    bool connected() const noexcept;

    /// The connection's CLIENT ID while connected(), else 0.
    std::int64_t client_id() const noexcept;

    /// Number of times the subscription was (re)established since construction.
    std::uint64_t connects() const noexcept;

private:
    struct impl;
    client_options options_;
    std::unique_ptr<impl> impl_;
};

}  // namespace analytics::redis
