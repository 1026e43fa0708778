#include "upstream/http_service.hpp"

#include "common/logging.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>

#include <memory>
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

std::string describe(std::string_view step, const error_code& ec)
{
    std::string out(step);
    out.append(": ");
    out.append(ec.message());
    return out;
}

}  // namespace

http_service::http_service(std::string_view url)
{
    const auto parsed = boost::urls::parse_uri(url);
    if (!parsed || parsed->scheme_id() != boost::urls::scheme::http || !parsed->has_authority() ||
        parsed->encoded_host().empty()) {
        throw std::invalid_argument("external service URL must be http://host[:port][/path]");
    }
    const auto& u = *parsed;
    host_ = u.host_address();
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
}

net::awaitable<call_result> http_service::call(std::string_view what)
{
    // Awaitables are lazy and `what` is only a view: keep a copy for the log lines written
    // after the first suspension.
    const std::string call_name(what);
    const auto ex = co_await net::this_coro::executor;
    tcp::socket socket(ex);

    // An address literal needs no lookup (and no resolver thread).
    error_code ec;
    const auto address = net::ip::make_address(host_, ec);
    if (!ec) {
        std::tie(ec) = co_await socket.async_connect(tcp::endpoint(address, port_number_),
                                                     common::use_nothrow);
    } else {
        auto lookup = co_await resolve(host_, port_);
        if (lookup.ec) {
            log::debug("upstream.http_failed",
                       {{"what", call_name}, {"step", "resolve"}, {"error", lookup.ec.message()}});
            co_return call_result::failure(describe("resolve", lookup.ec));
        }
        std::tie(ec, std::ignore) =
            co_await net::async_connect(socket, lookup.endpoints, common::use_nothrow);
    }
    if (ec) {
        log::debug("upstream.http_failed",
                   {{"what", call_name}, {"step", "connect"}, {"error", ec.message()}});
        co_return call_result::failure(describe("connect", ec));
    }

    bhttp::request<bhttp::empty_body> req{bhttp::verb::get, target_, 11};
    req.set(bhttp::field::host, host_header_);
    req.set(bhttp::field::user_agent, "resilient-analytics/" ANALYTICS_VERSION);
    req.set(bhttp::field::accept, "*/*");
    // One request per connection: nothing to pool, nothing left open when a call is abandoned.
    req.set(bhttp::field::connection, "close");
    std::tie(ec, std::ignore) = co_await bhttp::async_write(socket, req, common::use_nothrow);
    if (ec) {
        log::debug("upstream.http_failed",
                   {{"what", call_name}, {"step", "write"}, {"error", ec.message()}});
        co_return call_result::failure(describe("write", ec));
    }

    // Only the status matters, so the body is never read.
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::empty_body> parser;
    parser.header_limit(header_limit);
    std::tie(ec, std::ignore) =
        co_await bhttp::async_read_header(socket, buffer, parser, common::use_nothrow);
    error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
    if (ec) {
        log::debug("upstream.http_failed",
                   {{"what", call_name}, {"step", "read"}, {"error", ec.message()}});
        co_return call_result::failure(describe("read", ec));
    }

    const unsigned status = parser.get().result_int();
    if (status < 200 || status > 299) {
        log::debug("upstream.http_failed",
                   {{"what", call_name}, {"step", "status"}, {"status", status}});
        co_return call_result::failure("HTTP " + std::to_string(status));
    }
    co_return call_result::success();
}

}  // namespace analytics::upstream
