#include "upstream/http_service.hpp"

#include "common/logging.hpp"
#include "common/with_timeout.hpp"
#include "config/settings.hpp"
#include "common/tls_context.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace analytics::upstream {

namespace {

using boost::system::error_code;
using tcp = net::ip::tcp;
namespace bhttp = beast::http;

// Big enough for any sane upstream's status line and headers; a larger head is a failure.
constexpr std::uint32_t header_limit = 16 * 1024;

// How long a finished TLS connection waits for the server's close_notify after sending its own.
constexpr std::chrono::milliseconds close_grace{50};

struct resolved {
    error_code ec;
    tcp::resolver::results_type endpoints;
};

// Asio's resolver ignores per-operation cancellation and getaddrinfo cannot be interrupted, so
// awaiting async_resolve directly would hold with_timeout's `||` (which waits for the loser)
// until the lookup gives up by itself, seconds later. The lookup therefore owns its state,
// shared with its completion handler, and the caller waits on a timer that either the
// completion or the caller's cancellation ends. An abandoned lookup finishes in the background
// and only touches its own state.
net::awaitable<resolved> resolve(std::string_view host, std::string_view port)
{
    struct lookup {
        explicit lookup(const net::any_io_executor& ex) : resolver(ex), done(ex)
        {
            done.expires_at(net::steady_timer::time_point::max());
        }
        tcp::resolver resolver;
        net::steady_timer done;
        bool finished = false;
        resolved result;
    };

    auto state = std::make_shared<lookup>(co_await net::this_coro::executor);
    state->resolver.async_resolve(
        host, port, [state](const error_code& ec, tcp::resolver::results_type endpoints) {
            state->result = {ec, std::move(endpoints)};
            state->finished = true;
            // Expiring the timer (rather than cancelling the wait) also covers a wait that has
            // not started yet: it then completes at once.
            state->done.expires_at(net::steady_timer::time_point::min());
        });
    co_await state->done.async_wait(common::use_nothrow);
    if (!state->finished) {
        state->resolver.cancel();
        co_return resolved{net::error::operation_aborted, {}};
    }
    co_return std::move(state->result);
}

// The debug line and the failure of one step of a call.
call_result failed(const std::string& what, std::string_view step, const error_code& ec)
{
    log::debug("upstream.http_failed", {{"what", what}, {"step", step}, {"error", ec.message()}});
    std::string reason(step);
    reason.append(": ");
    reason.append(ec.message());
    return call_result::failure(std::move(reason));
}

// Connects `socket` to host:port; an address literal needs no lookup (and no resolver thread).
net::awaitable<std::optional<call_result>> connect(tcp::socket& socket, const std::string& host,
                                                   std::string_view port, std::uint16_t port_number,
                                                   const std::string& what)
{
    error_code ec;
    const auto address = net::ip::make_address(host, ec);
    if (!ec) {
        std::tie(ec) =
            co_await socket.async_connect(tcp::endpoint(address, port_number), common::use_nothrow);
    } else {
        auto lookup = co_await resolve(host, port);
        if (lookup.ec) {
            co_return failed(what, "resolve", lookup.ec);
        }
        std::tie(ec, std::ignore) =
            co_await net::async_connect(socket, lookup.endpoints, common::use_nothrow);
    }
    if (ec) {
        co_return failed(what, "connect", ec);
    }
    co_return std::nullopt;
}

struct exchanged {
    call_result result;
    bool answered = false;  // a status line and headers arrived, whatever the status
};

// Writes the request and reads the head of the answer over a connected stream: a TCP socket
// or a TLS stream over one. Only the status matters, so the body is never read.
template <class Stream>
net::awaitable<exchanged> exchange(Stream& stream, const bhttp::request<bhttp::empty_body>& req,
                                   const std::string& what)
{
    auto [wec, written] = co_await bhttp::async_write(stream, req, common::use_nothrow);
    if (wec) {
        co_return exchanged{failed(what, "write", wec)};
    }
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::empty_body> parser;
    parser.header_limit(header_limit);
    auto [rec, read] =
        co_await bhttp::async_read_header(stream, buffer, parser, common::use_nothrow);
    if (rec) {
        co_return exchanged{failed(what, "read", rec)};
    }
    const unsigned status = parser.get().result_int();
    if (status < 200 || status > 299) {
        log::debug("upstream.http_failed",
                   {{"what", what}, {"step", "status"}, {"status", status}});
        co_return exchanged{call_result::failure("HTTP " + std::to_string(status)), true};
    }
    co_return exchanged{call_result::success(), true};
}

void close(tcp::socket& socket)
{
    error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
}

}  // namespace

http_service::http_service(std::string_view url, const std::string& ca_file)
{
    const auto parsed = boost::urls::parse_uri(url);
    const bool http_or_https = parsed && (parsed->scheme_id() == boost::urls::scheme::http ||
                                          parsed->scheme_id() == boost::urls::scheme::https);
    if (!http_or_https || !parsed->has_authority() || parsed->encoded_host().empty()) {
        throw std::invalid_argument("external service URL must be http[s]://host[:port][/path]");
    }
    const auto& u = *parsed;
    const bool https = u.scheme_id() == boost::urls::scheme::https;
    host_ = u.host_address();
    port_number_ = https ? 443 : 80;
    if (u.has_port()) {
        port_number_ = u.port_number();
        if (port_number_ == 0) {
            throw std::invalid_argument("external service URL has an invalid port");
        }
    }
    port_ = std::to_string(port_number_);
    target_ = std::string(u.encoded_target());
    if (target_.empty() || target_.front() != '/') {
        target_.insert(0, "/");
    }
    host_header_ = std::string(u.encoded_host_and_port());
    if (https) {
        try {
            tls_ = std::make_unique<common::tls_context>(ca_file);
        } catch (const std::exception& e) {
            throw config::config_error((ca_file.empty()
                                            ? "EXTERNAL_SERVICE_URL: cannot use the system's CA "
                                              "store: "
                                            : "EXTERNAL_SERVICE_CA_FILE: ") +
                                       std::string(e.what()));
        }
    }
}

http_service::~http_service() = default;

net::awaitable<call_result> http_service::call(std::string_view what)
{
    // Awaitables are lazy and `what` is only a view: keep a copy for the log lines written
    // after the first suspension.
    const std::string call_name(what);
    tcp::socket socket(co_await net::this_coro::executor);
    if (auto refused = co_await connect(socket, host_, port_, port_number_, call_name)) {
        co_return std::move(*refused);
    }

    bhttp::request<bhttp::empty_body> req{bhttp::verb::get, target_, 11};
    req.set(bhttp::field::host, host_header_);
    req.set(bhttp::field::user_agent, "resilient-analytics/" ANALYTICS_VERSION);
    req.set(bhttp::field::accept, "*/*");
    // One request per connection: nothing to pool, nothing left open when a call is abandoned.
    req.set(bhttp::field::connection, "close");

    if (!tls_) {
        auto done = co_await exchange(socket, req, call_name);
        close(socket);
        co_return std::move(done.result);
    }

    // Declared before the stream, whose verification callback writes to it.
    std::optional<common::certificate_rejection> rejection;
    net::ssl::stream<tcp::socket&> stream(socket, tls_->native());
    stream.set_verify_callback(common::tls_context::record_rejection(rejection));
    if (!tls_->prepare(stream.native_handle(), host_)) {
        close(socket);
        co_return call_result::failure("tls: cannot set up the connection");
    }
    auto [hec] =
        co_await stream.async_handshake(net::ssl::stream_base::client, common::use_nothrow);
    if (hec) {
        close(socket);
        if (!rejection) {
            co_return failed(call_name, "handshake", hec);
        }
        // An upstream failure like any other for the breaker, but one that needs a person:
        // the certificate, its CA or its name must change. Said once per incident, with the
        // certificate concerned.
        certificates_rejected_.occurred({{"host", host_},
                                         {"reason", rejection->reason},
                                         {"depth", rejection->depth},
                                         {"subject", rejection->subject},
                                         {"issuer", rejection->issuer},
                                         {"not_after", rejection->not_after}});
        log::debug("upstream.http_failed",
                   {{"what", call_name}, {"step", "certificate"}, {"error", rejection->reason}});
        co_return call_result::failure("certificate rejected: " + rejection->reason);
    }
    certificates_rejected_.recovered();

    auto done = co_await exchange(stream, req, call_name);
    if (done.answered) {
        // The answer was read, so a TLS 1.3 server's session tickets have arrived.
        tls_->keep_session(stream.native_handle());
        // TLS wants a close_notify before the connection closes, and OpenSSL keeps a session
        // resumable only after one was sent. The server's close_notify usually follows its
        // answer at once (it was told `Connection: close`); it gets a moment, not a wait.
        co_await common::with_timeout(stream.async_shutdown(common::use_nothrow), close_grace);
    }
    close(socket);
    co_return std::move(done.result);
}

}  // namespace analytics::upstream
