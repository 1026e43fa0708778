#include "redis/client.hpp"

#include "common/logging.hpp"
#include "redis/resp.hpp"
#include "redis/write_refusals.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/container/small_vector.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cstddef>
#include <deque>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "telemetry/registry.hpp"

namespace analytics::redis {

namespace {

using boost::system::error_code;
using steady_clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using net::experimental::awaitable_operators::operator||;
using net::experimental::awaitable_operators::operator&&;

// Pending-command objects kept for reuse; enough for a busy worker's typical pipeline depth
// without holding on to the memory of a rare burst.
constexpr std::size_t max_spare_pending = 1024;

// A write buffer that grew beyond this during a burst is given back afterwards.
constexpr std::size_t max_kept_buffer_capacity = 1024 * 1024;

// The argument views of one command. Commands rarely have more than a handful of arguments,
// so they fit inline and queueing a command allocates nothing for them.
using arg_list = boost::container::small_vector<std::string_view, 16>;

// A health-check PING may wait for at least this long: a busy server (a slow script, a large
// SAVE) should not be mistaken for a dead one by an aggressive command_timeout.
constexpr std::chrono::milliseconds min_ping_timeout = 1s;

}  // namespace

// One command waiting for its reply. The timer is the event the caller waits on: it expires at
// the deadline, and the reader cancels it when the reply (or a failure) is stored in `outcome`.
// Both the caller and the in-flight queue hold it, so a reply that arrives after the caller gave
// up still finds an object to land in and is dropped there.
struct pending_command {
    explicit pending_command(const net::any_io_executor& executor) : timer(executor) {}

    net::steady_timer timer;
    std::optional<result<reply>> outcome;
    bool abandoned = false;  // the caller stopped waiting (deadline or cancellation)
};

struct client::impl {
    impl(const net::any_io_executor& executor, const client_options& options)
        : options_(options),
          resolver_(executor),
          socket_(executor),
          connect_timer_(executor),
          backoff_timer_(executor),
          health_timer_(executor),
          writer_wake_(executor),
          executor_(executor),
          rng_(std::random_device{}())
    {
    }

    // ---- run loop ---------------------------------------------------------------------------

    net::awaitable<void> run()
    {
        while (!stopped_) {
            if (auto ec = co_await connect(); ec) {
                if (stopped_) {
                    break;
                }
                log_connect_failure(ec);
                ++failures_;
                co_await backoff();
                continue;
            }

            co_await serve();
            if (stopped_) {
                break;
            }
            if (session_was_connected_) {
                log::warn("redis.disconnected", {{"host", options_.host},
                                                 {"port", options_.port},
                                                 {"cause", session_cause_},
                                                 {"error", session_error_.message()}});
            } else {
                // A failed AUTH/SELECT/PING was logged where it happened; anything else that
                // ended a connection before it was usable (EOF, reset) is logged here.
                if (std::string_view(session_cause_) != "handshake") {
                    log_connect_failure(session_error_);
                }
                ++failures_;
            }
            co_await backoff();
        }
        error_code ignored;
        socket_.close(ignored);
        log::info("redis.stopped", {{"host", options_.host}, {"port", options_.port}});
    }

    void stop()
    {
        stopped_ = true;
        connected_.store(false, std::memory_order_relaxed);
        resolver_.cancel();
        connect_timer_.cancel();
        backoff_timer_.cancel();
        drop(errc::stopped, "stop");
        error_code ignored;
        socket_.close(ignored);
        fail_all(errc::stopped);
    }

    // ---- connecting -------------------------------------------------------------------------

    // Resolves and connects within connect_timeout. The watchdog closes the socket when the
    // deadline passes, so the connect finishes promptly whether or not the resolver and
    // connect operations honour per-operation cancellation.
    net::awaitable<error_code> connect()
    {
        error_code ignored;
        socket_.close(ignored);
        connecting_ = true;
        connect_timed_out_ = false;
        connect_timer_.expires_after(options_.connect_timeout);
        auto outcome = co_await (resolve_and_connect() || connect_watchdog());
        connecting_ = false;
        if (stopped_) {
            socket_.close(ignored);
            co_return errc::stopped;
        }
        if (outcome.index() == 1 || connect_timed_out_) {
            socket_.close(ignored);
            co_return errc::timeout;
        }
        co_return std::get<0>(outcome);
    }

    net::awaitable<error_code> resolve_and_connect()
    {
        auto [resolve_ec, endpoints] = co_await resolver_.async_resolve(
            options_.host, std::to_string(options_.port), common::use_nothrow);
        if (resolve_ec) {
            connecting_ = false;
            co_return resolve_ec;
        }
        auto [connect_ec, endpoint] =
            co_await net::async_connect(socket_, endpoints, common::use_nothrow);
        // From here on the watchdog must leave the socket alone, even if its deadline expired
        // in this same loop turn.
        connecting_ = false;
        if (connect_ec) {
            co_return connect_ec;
        }
        // Batches are written as soon as they are ready; Nagle's algorithm would only delay the
        // next batch behind the server's acknowledgement of the previous one.
        error_code ignored;
        socket_.set_option(net::ip::tcp::no_delay(true), ignored);
        socket_.set_option(net::socket_base::keep_alive(true), ignored);
        co_return error_code{};
    }

    net::awaitable<void> connect_watchdog()
    {
        auto [ec] = co_await connect_timer_.async_wait(common::use_nothrow);
        if (!ec && connecting_) {
            connect_timed_out_ = true;
            resolver_.cancel();
            error_code ignored;
            socket_.close(ignored);
        }
    }

    // ---- one connection ---------------------------------------------------------------------

    // Runs the reader, the writer and the handshake + health check over a freshly connected
    // socket, and returns when all three have ended. Each of them ends by calling drop(), which
    // wakes the other two, so no per-operation cancellation is needed.
    net::awaitable<void> serve()
    {
        reader_ = resp_reader::create();
        if (!reader_) {
            session_was_connected_ = false;
            session_error_ = make_error_code(boost::system::errc::not_enough_memory);
            co_return;
        }
        session_alive_ = true;
        session_was_connected_ = false;
        session_error_ = {};
        session_cause_ = "";
        co_await (read_loop() && write_loop() && handshake_then_health_check());
        reader_.reset();
    }

    net::awaitable<void> read_loop()
    {
        while (session_alive_) {
            auto [ec, n] =
                co_await socket_.async_read_some(net::buffer(read_buffer_), common::use_nothrow);
            if (!session_alive_) {
                co_return;
            }
            if (ec) {
                drop(ec, "read");
                co_return;
            }
            if (!reader_->feed(std::string_view(read_buffer_.data(), n))) {
                drop(errc::protocol_error, "protocol");
                co_return;
            }
            // One read may carry many replies (or part of one); hand out every complete reply.
            for (;;) {
                auto next = reader_->next();
                if (!next) {
                    log::error("redis.protocol_error", {{"error", reader_->error()}});
                    drop(errc::protocol_error, "protocol");
                    co_return;
                }
                if (!*next) {
                    break;
                }
                if (!deliver(std::move(**next))) {
                    log::error("redis.unexpected_reply", {});
                    drop(errc::unexpected_reply, "protocol");
                    co_return;
                }
            }
        }
    }

    // Writes everything queued since the previous write started in one async_write. While a
    // write is in flight new commands go to the other buffer; the two are swapped, so their
    // capacity is reused and a steady stream of commands allocates nothing here.
    net::awaitable<void> write_loop()
    {
        while (session_alive_) {
            if (outgoing_.empty()) {
                writer_wake_.expires_at(steady_clock::time_point::max());
                co_await writer_wake_.async_wait(common::use_nothrow);
                continue;
            }
            std::swap(outgoing_, writing_);
            auto [ec, n] =
                co_await net::async_write(socket_, net::buffer(writing_), common::use_nothrow);
            writing_.clear();
            if (writing_.capacity() > max_kept_buffer_capacity) {
                writing_.shrink_to_fit();
            }
            if (!session_alive_) {
                co_return;
            }
            if (ec) {
                drop(ec, "write");
                co_return;
            }
        }
    }

    net::awaitable<void> handshake_then_health_check()
    {
        // The handshake shares the connect deadline: a server that accepts but never answers
        // AUTH is as unusable as one that does not accept.
        const auto deadline = steady_clock::now() + options_.connect_timeout;
        if (!options_.password.empty()) {
            const std::array<std::string_view, 2> auth{"AUTH", options_.password};
            if (!co_await handshake_step(arg_list(auth.begin(), auth.end()), deadline)) {
                co_return;
            }
        }
        if (options_.db != 0) {
            const std::string db = std::to_string(options_.db);
            const std::array<std::string_view, 2> select{"SELECT", db};
            if (!co_await handshake_step(arg_list(select.begin(), select.end()), deadline)) {
                co_return;
            }
        }
        // A PING round trip proves the server is serving, not just that the kernel accepted
        // the connection (a stopped or overloaded server still completes TCP handshakes).
        static constexpr std::array<std::string_view, 1> ping{"PING"};
        if (!co_await handshake_step(arg_list(ping.begin(), ping.end()), deadline)) {
            co_return;
        }
        session_was_connected_ = true;
        failures_ = 0;
        failure_logged_ = false;
        ++connects_;
        connected_.store(true, std::memory_order_relaxed);
        log::info("redis.connected", {{"host", options_.host},
                                      {"port", options_.port},
                                      {"db", options_.db},
                                      {"connects", connects_}});
        co_await health_check_loop();
    }

    net::awaitable<bool> handshake_step(arg_list args, steady_clock::time_point deadline)
    {
        const std::string_view name = args[0];
        auto r = co_await request(std::move(args), deadline, false);
        if (!session_alive_) {
            co_return false;
        }
        if (!r) {
            log::write(failure_log_level(), "redis.handshake_failed",
                       {{"command", name}, {"error", r.error().message()}});
            drop(r.error(), "handshake");
            co_return false;
        }
        if (r->is_error()) {
            log::write(failure_log_level(), "redis.handshake_failed",
                       {{"command", name}, {"error", r->str}});
            drop(errc::server_error, "handshake");
            co_return false;
        }
        co_return true;
    }

    net::awaitable<void> health_check_loop()
    {
        static constexpr std::array<std::string_view, 1> ping{"PING"};
        const auto ping_timeout = std::max(options_.command_timeout, min_ping_timeout);
        while (session_alive_) {
            if (options_.health_check_interval.count() > 0) {
                health_timer_.expires_after(options_.health_check_interval);
            } else {
                // Health checks disabled: sleep until drop() cancels the timer.
                health_timer_.expires_at(steady_clock::time_point::max());
            }
            co_await health_timer_.async_wait(common::use_nothrow);
            if (!session_alive_) {
                co_return;
            }
            auto r = co_await request(arg_list(ping.begin(), ping.end()),
                                      steady_clock::now() + ping_timeout, false);
            if (!session_alive_) {
                co_return;
            }
            // Any reply, even an error such as LOADING, shows the server is alive; only
            // silence means the connection is dead.
            if (!r) {
                drop(r.error(), "health_check");
                co_return;
            }
        }
    }

    // Ends the current connection: wakes the reader, the writer and the health check, and fails
    // every command in flight. Only the first call per connection has an effect.
    void drop(error_code ec, const char* cause)
    {
        if (!session_alive_) {
            return;
        }
        session_alive_ = false;
        session_error_ = ec;
        session_cause_ = cause;
        connected_.store(false, std::memory_order_relaxed);
        error_code ignored;
        socket_.close(ignored);
        writer_wake_.cancel();
        health_timer_.cancel();
        fail_all(stopped_ ? errc::stopped : errc::connection_lost);
    }

    net::awaitable<void> backoff()
    {
        backoff_timer_.expires_after(next_backoff());
        co_await backoff_timer_.async_wait(common::use_nothrow);
    }

    // Capped exponential backoff with full jitter (the AWS Architecture Blog's variant), kept
    // above reconnect_min so that a dead server is never polled in a tight loop: after n failed
    // attempts the wait is uniform in [reconnect_min, min(reconnect_max, reconnect_min * 2^(n+1))].
    // Even the first retry is jittered, so the workers of a fleet that all lost the same server
    // do not come back in lockstep.
    std::chrono::milliseconds next_backoff()
    {
        const auto low = std::max<std::int64_t>(options_.reconnect_min.count(), 0);
        const auto cap = std::max<std::int64_t>(options_.reconnect_max.count(), low);
        const unsigned shift = std::min(failures_, 20U) + 1;
        const auto high = std::min(cap, std::max<std::int64_t>(low, 1) << shift);
        std::uniform_int_distribution<std::int64_t> pick(low, std::max(low, high));
        return std::chrono::milliseconds(pick(rng_));
    }

    // While Redis stays down (or keeps refusing our password) every attempt fails the same
    // way; one warning per streak of failures is enough, the rest go to debug.
    log::level failure_log_level()
    {
        const auto l = failure_logged_ ? log::level::debug : log::level::warning;
        failure_logged_ = true;
        return l;
    }

    void log_connect_failure(error_code ec)
    {
        log::write(failure_log_level(), "redis.connect_failed",
                   {{"host", options_.host}, {"port", options_.port}, {"error", ec.message()}});
    }

    // ---- commands ---------------------------------------------------------------------------

    // Queues one command and waits for its reply until `deadline`. Public commands require an
    // authenticated connection; the handshake and the health check only a live socket. The
    // argument views are held by value in this frame, so the caller's list may be gone by the
    // time the awaitable is first resumed.
    net::awaitable<result<reply>> request(arg_list args, steady_clock::time_point deadline,
                                          bool require_connected)
    {
        const auto started = steady_clock::now();
        // Commands of callers are counted in redis_commands_total and timed; the handshake's
        // and the health check's are not.
        auto finish = [&](result<reply> r) {
            if (require_connected) {
                record(r, steady_clock::now() - started);
                if (options_.refusals != nullptr) {
                    options_.refusals->observe(r);
                }
            }
            return r;
        };
        if (stopped_) {
            co_return finish(errc::stopped);
        }
        if (require_connected ? !connected_.load(std::memory_order_relaxed) : !session_alive_) {
            co_return finish(errc::not_connected);
        }
        // An empty command is "*0\r\n", which Redis answers with nothing: it would shift every
        // later reply onto the wrong caller.
        if (args.empty()) {
            co_return finish(make_error_code(boost::system::errc::invalid_argument));
        }
        if (started >= deadline) {
            co_return finish(errc::timeout);
        }
        append_command(outgoing_, std::span<const std::string_view>(args.data(), args.size()));

        auto p = acquire_pending();
        p->timer.expires_at(deadline);
        in_flight_.push_back(p);
        writer_wake_.cancel();

        auto [ec] = co_await p->timer.async_wait(common::use_nothrow);
        // The outcome wins over the timer: a reply stored in the same loop turn as the deadline
        // expired still reaches its caller.
        result<reply> out = errc::timeout;
        if (p->outcome) {
            out = std::move(*p->outcome);
        } else {
            p->abandoned = true;
            if (ec == net::error::operation_aborted) {
                out = ec;  // the caller's own cancellation, not our deadline
            }
        }
        recycle(std::move(p));
        co_return finish(std::move(out));
    }

    static void record(const result<reply>& r, steady_clock::duration took)
    {
        auto& stats = telemetry::local();
        telemetry::counter c = telemetry::counter::redis_ok;
        if (r && r->is_error()) {
            c = telemetry::counter::redis_error_reply;
        } else if (!r) {
            const auto& e = r.error();
            c = e == errc::timeout           ? telemetry::counter::redis_timeout
                : e == errc::not_connected   ? telemetry::counter::redis_not_connected
                : e == errc::connection_lost ? telemetry::counter::redis_connection_lost
                                             : telemetry::counter::redis_other_error;
        }
        stats.add(c);
        stats.observe(telemetry::histogram::redis_command,
                      std::chrono::duration_cast<std::chrono::nanoseconds>(took));
    }

    // EVALSHA first; argv is "EVALSHA", sha1, (numkeys), keys..., args..., and numkeys is
    // written here so that its digits live in this frame.
    net::awaitable<result<reply>> eval(const script& s, arg_list argv, std::size_t numkeys,
                                       steady_clock::time_point deadline)
    {
        std::array<char, 24> digits{};
        const auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), numkeys);
        argv[2] = std::string_view(digits.data(), static_cast<std::size_t>(end - digits.data()));

        auto r = co_await request(argv, deadline, true);
        if (!r || !r->is_error() || !r->str.starts_with("NOSCRIPT")) {
            co_return r;
        }
        // The server does not know the script (first use, a restart, SCRIPT FLUSH): EVAL sends
        // the source and caches it, so later calls are EVALSHA hits again.
        argv[0] = "EVAL";
        argv[1] = s.source();
        co_return co_await request(std::move(argv), deadline, true);
    }

    // Hands a reply to the oldest command in flight. Returns false when nothing was waiting,
    // which means the stream and the queue disagree and the connection cannot be trusted.
    bool deliver(reply&& r)
    {
        if (in_flight_.empty()) {
            return false;
        }
        auto p = std::move(in_flight_.front());
        in_flight_.pop_front();
        if (p->abandoned) {
            recycle(std::move(p));
            return true;
        }
        p->outcome.emplace(std::move(r));
        p->timer.cancel();
        return true;
    }

    void fail_all(errc e)
    {
        outgoing_.clear();
        while (!in_flight_.empty()) {
            auto p = std::move(in_flight_.front());
            in_flight_.pop_front();
            if (p->abandoned) {
                recycle(std::move(p));
                continue;
            }
            p->outcome.emplace(e);
            p->timer.cancel();
        }
    }

    std::shared_ptr<pending_command> acquire_pending()
    {
        if (spare_.empty()) {
            return std::make_shared<pending_command>(executor_);
        }
        auto p = std::move(spare_.back());
        spare_.pop_back();
        return p;
    }

    // Keeps a finished command for reuse once nobody else refers to it.
    void recycle(std::shared_ptr<pending_command>&& p)
    {
        if (p.use_count() != 1 || spare_.size() >= max_spare_pending) {
            return;
        }
        p->outcome.reset();
        p->abandoned = false;
        spare_.push_back(std::move(p));
    }

    // ---- state ------------------------------------------------------------------------------

    const client_options& options_;
    net::ip::tcp::resolver resolver_;
    net::ip::tcp::socket socket_;
    net::steady_timer connect_timer_;
    net::steady_timer backoff_timer_;
    net::steady_timer health_timer_;
    net::steady_timer writer_wake_;  // an event: cancelled to wake the writer
    net::any_io_executor executor_;

    std::optional<resp_reader> reader_;  // the reply parser of the current connection
    std::array<char, 16 * 1024> read_buffer_{};
    std::string outgoing_;  // commands queued since the current write started
    std::string writing_;   // the batch being written
    std::deque<std::shared_ptr<pending_command>> in_flight_;  // in the order they were queued
    std::vector<std::shared_ptr<pending_command>> spare_;

    std::minstd_rand rng_;
    std::atomic<bool> connected_{false};
    std::uint64_t connects_ = 0;
    unsigned failures_ = 0;  // failed attempts since the last successful connection
    bool stopped_ = false;
    bool connecting_ = false;
    bool connect_timed_out_ = false;
    bool failure_logged_ = false;  // a warning was logged for the current failure streak

    bool session_alive_ = false;
    bool session_was_connected_ = false;
    error_code session_error_;
    const char* session_cause_ = "";
};

client::client(net::any_io_executor executor, client_options options)
    : options_(std::move(options)), impl_(std::make_unique<impl>(executor, options_))
{
}

client::~client() = default;

net::awaitable<void> client::run()
{
    return impl_->run();
}

void client::stop()
{
    impl_->stop();
}

bool client::connected() const noexcept
{
    return impl_->connected_.load(std::memory_order_relaxed);
}

net::any_io_executor client::get_executor() const noexcept
{
    return impl_->executor_;
}

std::uint64_t client::connects() const noexcept
{
    return impl_->connects_;
}

net::awaitable<result<reply>> client::exec(std::span<const std::string_view> args,
                                           std::chrono::milliseconds timeout)
{
    return impl_->request(arg_list(args.begin(), args.end()), steady_clock::now() + timeout, true);
}

net::awaitable<result<reply>> client::exec(std::span<const std::string_view> args)
{
    return exec(args, options_.command_timeout);
}

net::awaitable<result<reply>> client::exec(std::initializer_list<std::string_view> args)
{
    return exec(std::span<const std::string_view>(args.begin(), args.size()),
                options_.command_timeout);
}

net::awaitable<result<reply>> client::exec(std::initializer_list<std::string_view> args,
                                           std::chrono::milliseconds timeout)
{
    return exec(std::span<const std::string_view>(args.begin(), args.size()), timeout);
}

net::awaitable<result<reply>> client::eval(const script& s, std::span<const std::string_view> keys,
                                           std::span<const std::string_view> args,
                                           std::chrono::milliseconds timeout)
{
    arg_list argv;
    argv.reserve(3 + keys.size() + args.size());
    argv.push_back("EVALSHA");
    argv.push_back(s.sha1());
    argv.push_back({});  // numkeys, filled in by impl::eval
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    return impl_->eval(s, std::move(argv), keys.size(), steady_clock::now() + timeout);
}

net::awaitable<result<reply>> client::eval(const script& s,
                                           std::initializer_list<std::string_view> keys,
                                           std::initializer_list<std::string_view> args,
                                           std::chrono::milliseconds timeout)
{
    return eval(s, std::span<const std::string_view>(keys.begin(), keys.size()),
                std::span<const std::string_view>(args.begin(), args.size()), timeout);
}

}  // namespace analytics::redis
