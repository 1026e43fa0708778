#include "redis/connection.hpp"

#include "common/logging.hpp"
#include "redis/reply_stream.hpp"
#include "redis/resp.hpp"
#include "redis/transport.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <deque>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace analytics::redis {

namespace {

using boost::system::error_code;
using steady_clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using net::experimental::awaitable_operators::operator&&;

// Pending-batch objects kept for reuse; enough for a busy worker's typical pipeline depth
// without holding on to the memory of a rare burst.
constexpr std::size_t max_spare_pending = 1024;

// A write buffer that grew beyond this during a burst is given back afterwards.
constexpr std::size_t max_kept_buffer_capacity = 1024 * 1024;

// A health-check PING may wait for at least this long: a busy server (a slow script, a large
// SAVE) should not be mistaken for a dead one by an aggressive command_timeout.
constexpr std::chrono::milliseconds min_ping_timeout = 1s;

}  // namespace

// One batch waiting for its replies. The timer is the event the caller waits on: it expires at
// the deadline, and the reader cancels it when the last reply (or a failure) is stored. Both
// the caller and the in-flight queue hold it, so replies that arrive after the caller gave up
// still find an object to land in and are dropped there.
struct pending_batch {
    explicit pending_batch(const net::any_io_executor& executor) : timer(executor) {}

    net::steady_timer timer;
    reply_list replies;
    std::size_t expected = 0;  // replies the batch will receive
    std::size_t received = 0;  // replies received so far, kept or dropped
    std::optional<error_code> failure;
    bool done = false;       // every reply is in `replies`
    bool abandoned = false;  // nobody waits: the caller gave up, or the command's reply is
                             // not wanted (send_and_forget)
};

struct connection::impl {
    impl(const net::any_io_executor& executor, client_options options,
         const script_registry& scripts, std::function<void(bool)> on_state_change)
        : options_(std::move(options)),
          scripts_(scripts),
          on_state_change_(std::move(on_state_change)),
          transport_(executor, options_),
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
            const auto ec = co_await transport_.connect();
            if (stopped_) {
                break;
            }
            if (ec) {
                log_connect_failure(transport_.failure());
                attempt_failed();
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
                // A failed handshake was logged where it happened; anything else that ended a
                // connection before it was usable (EOF, reset) is logged here.
                if (std::string_view(session_cause_) != "handshake") {
                    log_connect_failure(session_error_.message());
                }
                attempt_failed();
            }
            co_await backoff();
        }
        transport_.close();
        wake_waiters();
        log::info("redis.stopped", {{"host", options_.host}, {"port", options_.port}});
    }

    void stop(errc reason)
    {
        if (stopped_) {
            return;
        }
        stopped_ = true;
        stop_reason_ = reason;
        backoff_timer_.cancel();
        drop(reason, "stop");
        transport_.close();
        fail_all(reason);
        wake_waiters();
    }

    void attempt_failed()
    {
        ++failures_;
        ever_failed_ = true;
        wake_waiters();
    }

    // ---- one connection ---------------------------------------------------------------------

    // Runs the reader, the writer and the handshake + health check over a freshly connected
    // socket, and returns when all three have ended. Each of them ends by calling drop(), which
    // wakes the other two, so no per-operation cancellation is needed.
    net::awaitable<void> serve()
    {
        if (!replies_.reset()) {
            session_was_connected_ = false;
            session_error_ = make_error_code(boost::system::errc::not_enough_memory);
            co_return;
        }
        session_alive_ = true;
        session_was_connected_ = false;
        session_error_ = {};
        session_cause_ = "";
        co_await (read_loop() && write_loop() && handshake_then_health_check());
        replies_.release();
    }

    net::awaitable<void> read_loop()
    {
        const auto ended = co_await replies_.read(
            transport_, [this] { return session_alive_; },
            [this](reply&& r) { return deliver(std::move(r)); });
        switch (ended) {
        case reply_stream::end::stopped:
            break;
        case reply_stream::end::read_failed:
            drop(replies_.read_error(), "read");
            break;
        case reply_stream::end::not_resp:
            log::error("redis.protocol_error", {{"error", replies_.parse_error()}});
            drop(errc::protocol_error, "protocol");
            break;
        case reply_stream::end::refused:
            log::error("redis.unexpected_reply", {});
            drop(errc::unexpected_reply, "protocol");
            break;
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
            auto [ec, n] = co_await transport_.write(net::buffer(writing_));
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

    // AUTH, SELECT, the client's scripts and a PING, in one round trip. The PING proves the
    // server is serving, not just that the kernel accepted the connection (a stopped or
    // overloaded server still completes TCP handshakes). A script that does not load is logged
    // and left to EVAL's fallback; anything else refused means the connection is unusable.
    net::awaitable<void> handshake_then_health_check()
    {
        // The handshake shares the connect deadline: a server that accepts but never answers
        // AUTH is as unusable as one that does not accept.
        const auto deadline = steady_clock::now() + options_.connect_timeout;
        const std::string db = std::to_string(options_.db);
        command_batch batch;
        if (!options_.username.empty()) {
            batch.add({"AUTH", options_.username, options_.password});
        } else if (!options_.password.empty()) {
            batch.add({"AUTH", options_.password});
        }
        if (options_.db != 0) {
            batch.add({"SELECT", db});
        }
        const std::size_t first_script = batch.size();
        for (const auto& s : scripts_.entries()) {
            batch.add({"SCRIPT", "LOAD", s.source});
        }
        const std::size_t scripts_end = batch.size();
        batch.add({"PING"});

        reply_list answers;
        const auto ec = co_await send(batch, deadline, false, answers);
        if (!session_alive_) {
            co_return;
        }
        if (ec) {
            log::write(failure_log_level(), "redis.handshake_failed",
                       {{"host", options_.host}, {"port", options_.port}, {"error", ec.message()}});
            drop(ec, "handshake");
            co_return;
        }
        for (std::size_t i = 0; i < answers.size(); ++i) {
            const reply& answer = answers[i];
            if (!answer.is_error()) {
                continue;
            }
            if (i >= first_script && i < scripts_end) {
                log::warn(
                    "redis.script_load_failed",
                    {{"sha1", scripts_.entries()[i - first_script].sha1}, {"error", answer.str}});
                continue;
            }
            log::write(failure_log_level(), "redis.handshake_failed",
                       {{"host", options_.host},
                        {"port", options_.port},
                        {"command", batch.command(i)[0]},
                        {"error", answer.str}});
            drop(errc::server_error, "handshake");
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
                                      {"tls", transport_.uses_tls()},
                                      {"connects", connects_.load(std::memory_order_relaxed)}});
        wake_waiters();
        if (on_state_change_) {
            on_state_change_(true);
        }
        co_await health_check_loop();
    }

    net::awaitable<void> health_check_loop()
    {
        command_batch ping;
        ping.add({"PING"});
        reply_list pong;
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
            const auto ec = co_await send(ping, steady_clock::now() + ping_timeout, false, pong);
            if (!session_alive_) {
                co_return;
            }
            // Any reply, even an error such as LOADING, shows the server is alive; only
            // silence means the connection is dead.
            if (ec) {
                drop(ec, "health_check");
                co_return;
            }
        }
    }

    // Ends the current connection: wakes the reader, the writer and the health check, and fails
    // every batch in flight. Only the first call per connection has an effect.
    void drop(error_code ec, const char* cause)
    {
        if (!session_alive_) {
            return;
        }
        session_alive_ = false;
        session_error_ = ec;
        session_cause_ = cause;
        const bool was_connected = connected_.exchange(false, std::memory_order_relaxed);
        transport_.close();
        writer_wake_.cancel();
        health_timer_.cancel();
        fail_all(stopped_ ? stop_reason_ : errc::connection_lost);
        if (was_connected && on_state_change_) {
            on_state_change_(false);
        }
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

    void log_connect_failure(const std::string& error)
    {
        log::write(failure_log_level(), "redis.connect_failed",
                   {{"host", options_.host}, {"port", options_.port}, {"error", error}});
    }

    void wake_waiters()
    {
        for (auto& w : waiters_) {
            w->cancel();
        }
        waiters_.clear();
    }

    net::awaitable<void> wait_connected(steady_clock::time_point deadline)
    {
        if (stopped_ || connected_.load(std::memory_order_relaxed)) {
            co_return;
        }
        auto waiter = std::make_shared<net::steady_timer>(executor_, deadline);
        waiters_.push_back(waiter);
        co_await waiter->async_wait(common::use_nothrow);
    }

    // ---- commands ---------------------------------------------------------------------------

    // Queues a batch and waits for its replies until `deadline`; they are moved into `out`
    // (which the caller's frame owns: a reply list is costly to move from frame to frame).
    // Callers' batches require an authenticated connection; the handshake and the health check
    // only a live socket.
    net::awaitable<error_code> send(const command_batch& batch, steady_clock::time_point deadline,
                                    bool require_connected, reply_list& out)
    {
        out.clear();
        if (stopped_) {
            co_return stop_reason_ == errc::stopped ? errc::stopped : errc::not_connected;
        }
        if (require_connected ? !connected_.load(std::memory_order_relaxed) : !session_alive_) {
            co_return errc::not_connected;
        }
        // An empty command is "*0\r\n", which Redis answers with nothing: it would shift every
        // later reply onto the wrong caller.
        for (std::size_t i = 0; i < batch.size(); ++i) {
            if (batch.command(i).empty()) {
                co_return make_error_code(boost::system::errc::invalid_argument);
            }
        }
        if (batch.empty()) {
            co_return make_error_code(boost::system::errc::invalid_argument);
        }
        if (steady_clock::now() >= deadline) {
            co_return errc::timeout;
        }
        for (std::size_t i = 0; i < batch.size(); ++i) {
            append_command(outgoing_, batch.command(i));
        }

        auto p = acquire_pending();
        p->expected = batch.size();
        p->timer.expires_at(deadline);
        in_flight_.push_back(p);
        writer_wake_.cancel();

        auto [ec] = co_await p->timer.async_wait(common::use_nothrow);
        // The outcome wins over the timer: replies stored in the same loop turn as the deadline
        // expired still reach their caller.
        error_code outcome = errc::timeout;
        if (p->failure) {
            outcome = *p->failure;
        } else if (p->done) {
            outcome = {};
            for (auto& r : p->replies) {
                out.push_back(std::move(r));
            }
        } else {
            p->abandoned = true;
            if (ec == net::error::operation_aborted) {
                outcome = ec;  // the caller's own cancellation, not our deadline
            }
        }
        recycle(std::move(p));
        co_return outcome;
    }

    void send_and_forget(std::span<const std::string_view> args)
    {
        if (stopped_ || !session_alive_ || args.empty()) {
            return;
        }
        append_command(outgoing_, args);
        auto p = acquire_pending();
        p->expected = 1;
        p->abandoned = true;
        in_flight_.push_back(std::move(p));
        writer_wake_.cancel();
    }

    // Hands a reply to the oldest batch in flight. Returns false when nothing was waiting,
    // which means the stream and the queue disagree and the connection cannot be trusted.
    bool deliver(reply&& r)
    {
        if (in_flight_.empty()) {
            return false;
        }
        auto& p = in_flight_.front();
        ++p->received;
        if (!p->abandoned) {
            p->replies.push_back(std::move(r));
        }
        if (p->received < p->expected) {
            return true;
        }
        auto finished = std::move(p);
        in_flight_.pop_front();
        if (finished->abandoned) {
            recycle(std::move(finished));
            return true;
        }
        finished->done = true;
        finished->timer.cancel();
        return true;
    }

    void fail_all(error_code e)
    {
        outgoing_.clear();
        while (!in_flight_.empty()) {
            auto p = std::move(in_flight_.front());
            in_flight_.pop_front();
            if (p->abandoned) {
                recycle(std::move(p));
                continue;
            }
            p->failure = e;
            p->timer.cancel();
        }
    }

    std::shared_ptr<pending_batch> acquire_pending()
    {
        if (spare_.empty()) {
            return std::make_shared<pending_batch>(executor_);
        }
        auto p = std::move(spare_.back());
        spare_.pop_back();
        return p;
    }

    // Keeps a finished batch for reuse once nobody else refers to it.
    void recycle(std::shared_ptr<pending_batch>&& p)
    {
        if (p.use_count() != 1 || spare_.size() >= max_spare_pending) {
            return;
        }
        p->replies.clear();
        p->expected = 0;
        p->received = 0;
        p->failure.reset();
        p->done = false;
        p->abandoned = false;
        spare_.push_back(std::move(p));
    }

    // ---- state ------------------------------------------------------------------------------

    const client_options options_;
    const script_registry& scripts_;
    std::function<void(bool)> on_state_change_;
    transport transport_;
    net::steady_timer backoff_timer_;
    net::steady_timer health_timer_;
    net::steady_timer writer_wake_;  // an event: cancelled to wake the writer
    net::any_io_executor executor_;

    reply_stream replies_;  // the reply parser and read buffer of the current connection
    std::string outgoing_;  // commands queued since the current write started
    std::string writing_;   // the batch being written
    std::deque<std::shared_ptr<pending_batch>> in_flight_;  // in the order they were queued
    std::vector<std::shared_ptr<pending_batch>> spare_;
    std::vector<std::shared_ptr<net::steady_timer>> waiters_;  // wait_connected() callers

    std::minstd_rand rng_;
    std::atomic<bool> connected_{false};
    std::atomic<std::uint64_t> connects_{0};
    unsigned failures_ = 0;     // failed attempts since the last successful connection
    bool ever_failed_ = false;  // an attempt failed since construction
    bool stopped_ = false;
    errc stop_reason_ = errc::stopped;
    bool failure_logged_ = false;  // a warning was logged for the current failure streak

    bool session_alive_ = false;
    bool session_was_connected_ = false;
    error_code session_error_;
    const char* session_cause_ = "";
};

connection::connection(net::any_io_executor executor, client_options options,
                       const script_registry& scripts, std::function<void(bool)> on_state_change)
    : impl_(
          std::make_unique<impl>(executor, std::move(options), scripts, std::move(on_state_change)))
{
}

connection::~connection() = default;

net::awaitable<void> connection::run()
{
    return impl_->run();
}

void connection::stop(errc reason)
{
    impl_->stop(reason);
}

bool connection::connected() const noexcept
{
    return impl_->connected_.load(std::memory_order_relaxed);
}

bool connection::first_attempt_pending() const noexcept
{
    return !impl_->stopped_ && !impl_->ever_failed_ &&
           impl_->connects_.load(std::memory_order_relaxed) == 0;
}

net::awaitable<void> connection::wait_connected(clock::time_point deadline)
{
    return impl_->wait_connected(deadline);
}

net::awaitable<boost::system::error_code> connection::request(const command_batch& batch,
                                                              clock::time_point deadline,
                                                              reply_list& out)
{
    return impl_->send(batch, deadline, true, out);
}

void connection::send_and_forget(std::span<const std::string_view> args)
{
    impl_->send_and_forget(args);
}

std::uint64_t connection::connects() const noexcept
{
    return impl_->connects_.load(std::memory_order_relaxed);
}

const client_options& connection::options() const noexcept
{
    return impl_->options_;
}

}  // namespace analytics::redis
