#include "redis/subscriber.hpp"

#include "common/logging.hpp"
#include "redis/errc.hpp"
#include "redis/reply_stream.hpp"
#include "redis/resp.hpp"
#include "redis/transport.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <exception>
#include <optional>
#include <random>
#include <utility>
#include <vector>

namespace analytics::redis {

namespace {

using boost::system::error_code;
using steady_clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using net::experimental::awaitable_operators::operator&&;

// A pong may take at least this long: a busy server is not a dead one.
constexpr std::chrono::milliseconds min_pong_timeout = 1s;

bool is_push(const reply& r, std::string_view kind, std::size_t size)
{
    return r.type == reply::kind::array && r.elements.size() == size &&
           r.elements[0].type == reply::kind::string && r.elements[0].str == kind;
}

}  // namespace

struct subscriber::impl {
    impl(const net::any_io_executor& executor, const client_options& options)
        : options_(options),
          transport_(executor, options),
          timer_(executor),
          health_timer_(executor),
          rng_(std::random_device{}())
    {
    }

    // ---- run loop ---------------------------------------------------------------------------

    net::awaitable<void> run()
    {
        while (!stopped_) {
            const auto ec = co_await transport_.connect();
            if (!ec && !stopped_) {
                co_await session();
            } else if (!stopped_) {
                log::write(failure_log_level(), "redis.subscriber_connect_failed",
                           {{"host", options_.host},
                            {"port", options_.port},
                            {"error", transport_.failure()}});
            }
            if (stopped_) {
                break;
            }
            if (!was_up_) {
                ++failures_;
            }
            // Capped exponential backoff with full jitter, never below reconnect_min, so a
            // fleet that lost the same server does not come back in lockstep.
            const auto low = std::max<std::int64_t>(options_.reconnect_min.count(), 1);
            const auto cap = std::max<std::int64_t>(options_.reconnect_max.count(), low);
            const auto high = std::min(cap, low << std::min(failures_ + 1, 20U));
            std::uniform_int_distribution<std::int64_t> pick(low, std::max(low, high));
            timer_.expires_after(std::chrono::milliseconds(pick(rng_)));
            co_await timer_.async_wait(common::use_nothrow);
        }
        transport_.close();
    }

    void stop()
    {
        stopped_ = true;
        up_.store(false, std::memory_order_relaxed);
        client_id_ = 0;
        timer_.cancel();
        drop(errc::stopped, "stop");
        transport_.close();
    }

    // ---- one connection ---------------------------------------------------------------------

    // AUTH, CLIENT ID and SUBSCRIBE go out in one write; their replies come back in that order.
    net::awaitable<void> session()
    {
        if (!replies_.reset()) {
            co_return;
        }
        alive_ = true;
        was_up_ = false;
        awaiting_auth_ = !options_.password.empty() || !options_.username.empty();
        awaiting_id_ = true;
        unconfirmed_ = channels_.size();

        std::string hello;
        if (!options_.username.empty()) {
            const std::array<std::string_view, 3> auth{"AUTH", options_.username,
                                                       options_.password};
            append_command(hello, auth);
        } else if (awaiting_auth_) {
            const std::array<std::string_view, 2> auth{"AUTH", options_.password};
            append_command(hello, auth);
        }
        static constexpr std::array<std::string_view, 2> client_id{"CLIENT", "ID"};
        append_command(hello, client_id);
        if (!channels_.empty()) {
            std::vector<std::string_view> subscribe{"SUBSCRIBE"};
            for (const auto& c : channels_) {
                subscribe.push_back(c.name);
            }
            append_command(hello, subscribe);
        }
        auto [ec, n] = co_await transport_.write(net::buffer(hello));
        if (ec) {
            drop(ec, "write");
        } else {
            co_await (read_loop() && watch_loop());
        }
        replies_.release();
    }

    net::awaitable<void> read_loop()
    {
        const auto ended = co_await replies_.read(
            transport_, [this] { return alive_; },
            [this](reply&& r) {
                handle(r);
                return true;
            });
        switch (ended) {
        case reply_stream::end::stopped:
        case reply_stream::end::refused:
            break;
        case reply_stream::end::read_failed:
            drop(replies_.read_error(), "read");
            break;
        case reply_stream::end::not_resp:
            log::warn("redis.subscriber_protocol_error", {{"error", replies_.parse_error()}});
            drop(errc::protocol_error, "read");
            break;
        }
    }

    void handle(const reply& r)
    {
        if (!up_.load(std::memory_order_relaxed)) {
            handshake(r);
            return;
        }
        if (is_push(r, "message", 3) && r.elements[1].type == reply::kind::string) {
            dispatch(r.elements[1].str, r.elements[2]);
        } else if (is_push(r, "pong", 2)) {
            pong_seen_ = true;
            health_timer_.cancel();
        } else if (r.is_error()) {
            log::warn("redis.subscriber_error_reply", {{"error", r.str}});
        }
    }

    void handshake(const reply& r)
    {
        if (r.is_error()) {
            log::write(failure_log_level(), "redis.subscriber_handshake_failed",
                       {{"error", r.str}});
            drop(errc::server_error, "handshake");
            return;
        }
        if (awaiting_auth_) {
            awaiting_auth_ = false;
            return;
        }
        if (awaiting_id_) {
            if (r.type != reply::kind::integer) {
                drop(errc::unexpected_reply, "handshake");
                return;
            }
            awaiting_id_ = false;
            client_id_ = r.integer;
        } else if (is_push(r, "subscribe", 3) && unconfirmed_ > 0) {
            --unconfirmed_;
        } else {
            drop(errc::unexpected_reply, "handshake");
            return;
        }
        if (!awaiting_id_ && unconfirmed_ == 0) {
            became_up();
        }
    }

    void became_up()
    {
        up_.store(true, std::memory_order_relaxed);
        was_up_ = true;
        failures_ = 0;
        failure_logged_ = false;
        ++connects_;
        health_timer_.cancel();  // ends the handshake deadline
        log::info("redis.subscriber_connected", {{"host", options_.host},
                                                 {"port", options_.port},
                                                 {"client_id", client_id_},
                                                 {"channels", channels_.size()},
                                                 {"connects", connects_}});
        notify(true);
    }

    void dispatch(std::string_view channel, const reply& payload)
    {
        for (const auto& c : channels_) {
            if (c.name != channel) {
                continue;
            }
            try {
                c.handler(channel, payload);
            } catch (const std::exception& e) {
                log::error("redis.subscriber_handler_failed",
                           {{"channel", channel}, {"error", e.what()}});
            }
        }
    }

    // The handshake's deadline, then the health check: a PING per interval, whose pong must
    // come within the pong timeout.
    net::awaitable<void> watch_loop()
    {
        health_timer_.expires_after(options_.connect_timeout);
        co_await health_timer_.async_wait(common::use_nothrow);
        if (!alive_) {
            co_return;
        }
        if (!up_.load(std::memory_order_relaxed)) {
            log::write(failure_log_level(), "redis.subscriber_handshake_failed",
                       {{"error", "timed out"}});
            drop(errc::timeout, "handshake");
            co_return;
        }
        static constexpr std::array<std::string_view, 1> ping{"PING"};
        std::string ping_bytes;
        append_command(ping_bytes, ping);
        const auto pong_timeout = std::max(options_.command_timeout, min_pong_timeout);
        while (alive_) {
            if (options_.health_check_interval.count() > 0) {
                health_timer_.expires_after(options_.health_check_interval);
            } else {
                health_timer_.expires_at(steady_clock::time_point::max());
            }
            co_await health_timer_.async_wait(common::use_nothrow);
            if (!alive_) {
                co_return;
            }
            pong_seen_ = false;
            auto [ec, n] = co_await transport_.write(net::buffer(ping_bytes));
            if (!alive_) {
                co_return;
            }
            if (ec) {
                drop(ec, "write");
                co_return;
            }
            if (!pong_seen_) {
                health_timer_.expires_after(pong_timeout);
                co_await health_timer_.async_wait(common::use_nothrow);
            }
            if (!alive_) {
                co_return;
            }
            if (!pong_seen_) {
                drop(errc::timeout, "health_check");
                co_return;
            }
        }
    }

    // Ends the current connection; only the first call per connection has an effect.
    void drop(error_code ec, const char* cause)
    {
        if (!alive_) {
            return;
        }
        alive_ = false;
        transport_.close();
        health_timer_.cancel();
        client_id_ = 0;
        if (up_.exchange(false, std::memory_order_relaxed)) {
            log::warn("redis.subscriber_disconnected", {{"host", options_.host},
                                                        {"port", options_.port},
                                                        {"cause", cause},
                                                        {"error", ec.message()}});
            notify(false);
        }
    }

    void notify(bool up)
    {
        for (const auto& h : state_handlers_) {
            h(up);
        }
    }

    // One warning per streak of failed attempts; the rest go to debug.
    log::level failure_log_level()
    {
        const auto l = failure_logged_ ? log::level::debug : log::level::warning;
        failure_logged_ = true;
        return l;
    }

    struct subscription {
        std::string name;
        message_handler handler;
    };

    const client_options& options_;
    transport transport_;
    net::steady_timer timer_;         // backoff
    net::steady_timer health_timer_;  // handshake deadline, ping period, pong deadline
    reply_stream replies_;
    std::minstd_rand rng_;

    std::vector<subscription> channels_;
    std::vector<state_handler> state_handlers_;

    std::atomic<bool> up_{false};
    std::int64_t client_id_ = 0;
    std::uint64_t connects_ = 0;
    unsigned failures_ = 0;
    bool stopped_ = false;
    bool failure_logged_ = false;

    bool alive_ = false;  // the current connection is open
    bool was_up_ = false;
    bool awaiting_auth_ = false;
    bool awaiting_id_ = false;
    std::size_t unconfirmed_ = 0;
    bool pong_seen_ = false;
};

subscriber::subscriber(net::any_io_executor executor, client_options options)
    : options_(std::move(options)), impl_(std::make_unique<impl>(executor, options_))
{
}

subscriber::~subscriber() = default;

void subscriber::subscribe(std::string channel, message_handler handler)
{
    impl_->channels_.push_back({std::move(channel), std::move(handler)});
}

void subscriber::on_state_change(state_handler handler)
{
    impl_->state_handlers_.push_back(std::move(handler));
}

net::awaitable<void> subscriber::run()
{
    return impl_->run();
}

void subscriber::stop()
{
    impl_->stop();
}

bool subscriber::connected() const noexcept
{
    return impl_->up_.load(std::memory_order_relaxed);
}

std::int64_t subscriber::client_id() const noexcept
{
    return impl_->client_id_;
}

std::uint64_t subscriber::connects() const noexcept
{
    return impl_->connects_;
}

}  // namespace analytics::redis
