#pragma once
// An asynchronous, pipelined Redis client over one TCP connection, in Boost.Redis's shape:
// `run()` keeps the connection healthy (connect, AUTH, SELECT, periodic PING, reconnect with
// capped exponential backoff and jitter); any number of coroutines call `exec` concurrently and
// their commands are pipelined: everything queued within one turn of the event loop goes out in
// one write, and replies are matched to callers in order.
//
// Every command carries a deadline. While disconnected, commands fail at once with
// errc::not_connected. A reply that arrives after its caller timed out is read and dropped.
// hiredis supplies only the reply reader; commands are written by redis::append_command.
//
// Commands must produce exactly one reply each: SUBSCRIBE, MONITOR and CLIENT REPLY OFF/SKIP
// would break the in-order matching and are not supported. Blocking commands (BLPOP...) hold up
// every command pipelined behind them, including the health-check PING, so keep them shorter
// than max(command_timeout, 1s) or give them a connection of their own.
//
// Lifetime: call stop() and let run() return before destroying the client; a coroutine that is
// still suspended in run(), exec() or eval() refers to it.
//
// Thread safety: a client belongs to one io_context running on one thread (one client per
// worker). All member functions must be called from that thread, except `connected()`, which
// may be read from anywhere.

#include "common/asio.hpp"
#include "redis/errc.hpp"
#include "redis/reply.hpp"
#include "redis/script.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/system/result.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace analytics::redis {

class write_refusals;

struct client_options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 6379;
    std::string password;                                   // AUTH when not empty
    int db = 0;                                             // SELECT when not 0
    std::chrono::milliseconds command_timeout{100};         // default deadline of exec()
    std::chrono::milliseconds connect_timeout{1000};
    std::chrono::milliseconds health_check_interval{1000};  // PING period while connected
    std::chrono::milliseconds reconnect_min{50};            // first back-off delay
    // Back-off cap. A restarted Redis is back in service within this time (plus a connect),
    // which issue 10's chaos test holds to 1 s; a refused connect every half second or so per
    // worker costs a down server nothing.
    std::chrono::milliseconds reconnect_max{500};
    // Told the outcome of every caller's command (may be null): Redis refusing writes.
    write_refusals* refusals = nullptr;
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

    /// Connects and keeps the connection healthy until stop(). Spawn it once; stop() is the way
    /// to end it (per-operation cancellation of run() is not supported).
    net::awaitable<void> run();

    /// Ends run(): closes the connection, fails pending commands with errc::stopped. Commands
    /// issued afterwards fail at once with errc::stopped. Safe to call more than once, and
    /// before run() was spawned.
    void stop();

    /// True while a connection is established and authenticated.
    bool connected() const noexcept;

    /// Sends one command (`{"SET", key, value}`) and waits for its reply or the deadline.
    /// An error reply from Redis is returned as a reply of kind::error (not as an error code),
    /// so callers can read its text; transport failures are error codes: not_connected (at
    /// once, nothing sent), timeout, connection_lost, stopped.
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

    /// EVALSHA script numkeys keys... args...; on a NOSCRIPT error reply it retries once with EVAL.
    /// One deadline covers both attempts. `s` and the strings viewed by keys and args must stay
    /// alive until the co_await completes.
    net::awaitable<result<reply>> eval(const script& s, std::span<const std::string_view> keys,
                                       std::span<const std::string_view> args,
                                       std::chrono::milliseconds timeout);

    /// As above, for braced lists: `co_await c.eval(s, {key}, {"10", "60000"}, 50ms)`.
    net::awaitable<result<reply>> eval(const script& s,
                                       std::initializer_list<std::string_view> keys,
                                       std::initializer_list<std::string_view> args,
                                       std::chrono::milliseconds timeout);

    /// The executor the client runs on: its owners' coroutines share its thread.
    net::any_io_executor get_executor() const noexcept;

    /// Number of times a connection was (re)established (and authenticated) since construction.
    std::uint64_t connects() const noexcept;

    const client_options& options() const noexcept { return options_; }

private:
    // The connection state lives in `impl` so that hiredis types stay out of this header.
    struct impl;
    client_options options_;
    std::unique_ptr<impl> impl_;
};

}  // namespace analytics::redis
