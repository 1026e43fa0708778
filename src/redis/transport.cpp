#include "redis/transport.hpp"

#include "common/tls_context.hpp"
#include "redis/errc.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <optional>

namespace analytics::redis {

namespace {

using boost::system::error_code;
using net::experimental::awaitable_operators::operator||;
using tcp = net::ip::tcp;

}  // namespace

struct transport::impl {
    impl(const net::any_io_executor& executor, const client_options& options)
        : options_(options), resolver_(executor), socket_(executor), deadline_(executor)
    {
    }

    // The watchdog closes the socket when the deadline passes, so the attempt ends whether or
    // not the resolver, the connect and the handshake honour per-operation cancellation.
    net::awaitable<error_code> connect()
    {
        close();
        tls_.reset();
        rejection_.reset();
        failure_.clear();
        connecting_ = true;
        timed_out_ = false;
        deadline_.expires_after(options_.connect_timeout);
        auto outcome = co_await (establish() || watchdog());
        connecting_ = false;
        error_code ec = outcome.index() == 1 || timed_out_ ? error_code(errc::timeout)
                                                            : std::get<0>(outcome);
        if (ec) {
            close();
            describe_failure(ec);
        }
        co_return ec;
    }

    net::awaitable<error_code> establish()
    {
        step_ = "resolve";
        auto [resolve_ec, endpoints] = co_await resolver_.async_resolve(
            options_.host, std::to_string(options_.port), common::use_nothrow);
        if (resolve_ec) {
            co_return resolve_ec;
        }
        step_ = "connect";
        auto [connect_ec, endpoint] =
            co_await net::async_connect(socket_, endpoints, common::use_nothrow);
        if (connect_ec) {
            co_return connect_ec;
        }
        // Batches are written as soon as they are ready; Nagle's algorithm would only delay the
        // next batch behind the server's acknowledgement of the previous one.
        error_code ignored;
        socket_.set_option(tcp::no_delay(true), ignored);
        socket_.set_option(net::socket_base::keep_alive(true), ignored);
        if (!options_.tls) {
            // From here on the watchdog must leave the socket alone, even if its deadline
            // expired in this same loop turn.
            connecting_ = false;
            co_return error_code{};
        }

        step_ = "tls handshake";
        auto& tls = tls_.emplace(socket_, options_.tls->native());
        if (options_.tls->verifies()) {
            tls.set_verify_callback(common::tls_context::record_rejection(rejection_));
        }
        const std::string& name =
            options_.tls_server_name.empty() ? options_.host : options_.tls_server_name;
        if (!options_.tls->prepare(tls.native_handle(), name)) {
            co_return make_error_code(boost::system::errc::not_enough_memory);
        }
        auto [handshake_ec] =
            co_await tls.async_handshake(net::ssl::stream_base::client, common::use_nothrow);
        connecting_ = false;
        co_return handshake_ec;
    }

    net::awaitable<void> watchdog()
    {
        auto [ec] = co_await deadline_.async_wait(common::use_nothrow);
        if (!ec && connecting_) {
            timed_out_ = true;
            resolver_.cancel();
            error_code ignored;
            socket_.close(ignored);
        }
    }

    void describe_failure(const error_code& ec)
    {
        failure_ = step_;
        failure_ += ": ";
        if (ec == errc::timeout) {
            failure_ += "timed out after " + std::to_string(options_.connect_timeout.count()) + " ms";
            return;
        }
        if (!rejection_) {
            failure_ += ec.message();
            return;
        }
        // Verification said why; OpenSSL's own error ("certificate verify failed") does not.
        const auto& r = *rejection_;
        failure_ += "certificate rejected: " + r.reason + " (";
        if (r.depth > 0) {
            failure_ += "depth " + std::to_string(r.depth) + ", ";
        }
        failure_ += "subject " + r.subject + ", issuer " + r.issuer + ", expires " + r.not_after +
                    ")";
    }

    void close()
    {
        resolver_.cancel();
        deadline_.cancel();
        error_code ignored;
        socket_.close(ignored);
    }

    const client_options& options_;
    tcp::resolver resolver_;
    tcp::socket socket_;
    net::steady_timer deadline_;
    std::optional<net::ssl::stream<tcp::socket&>> tls_;  // over socket_, when options_.tls
    std::optional<common::certificate_rejection> rejection_;
    const char* step_ = "";
    std::string failure_;
    bool connecting_ = false;
    bool timed_out_ = false;
};

transport::transport(const net::any_io_executor& executor, const client_options& options)
    : impl_(std::make_unique<impl>(executor, options))
{
}

transport::~transport() = default;

net::awaitable<boost::system::error_code> transport::connect()
{
    return impl_->connect();
}

const std::string& transport::failure() const noexcept
{
    return impl_->failure_;
}

net::awaitable<transport::io_result> transport::read_some(net::mutable_buffer buffer)
{
    if (impl_->tls_) {
        return impl_->tls_->async_read_some(buffer, common::use_nothrow);
    }
    return impl_->socket_.async_read_some(buffer, common::use_nothrow);
}

net::awaitable<transport::io_result> transport::write(net::const_buffer buffer)
{
    if (impl_->tls_) {
        return net::async_write(*impl_->tls_, buffer, common::use_nothrow);
    }
    return net::async_write(impl_->socket_, buffer, common::use_nothrow);
}

void transport::close()
{
    impl_->close();
}

bool transport::uses_tls() const noexcept
{
    return impl_->options_.tls != nullptr;
}

}  // namespace analytics::redis
