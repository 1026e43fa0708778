#include "http/server.hpp"

#include "common/logging.hpp"
#include "http/client_ip.hpp"
#include "http/response.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <exception>
#include <string>
#include <sys/socket.h>

namespace analytics::http {

namespace bhttp = beast::http;

struct listener::session_slot {
    beast::tcp_stream* stream = nullptr;
    bool idle = true;  // waiting for the first byte of a request
};

namespace {

// How many bytes one read asks for while waiting for a new request.
constexpr std::size_t read_chunk = 4096;

method to_method(bhttp::verb v) noexcept
{
    switch (v) {
    case bhttp::verb::get:
        return method::get;
    case bhttp::verb::head:
        return method::head;
    case bhttp::verb::post:
        return method::post;
    case bhttp::verb::put:
        return method::put;
    case bhttp::verb::patch:
        return method::patch;
    case bhttp::verb::delete_:
        return method::delete_;
    case bhttp::verb::options:
        return method::options;
    default:
        return method::other;
    }
}

std::string_view lookup_header(const void* fields, std::string_view name)
{
    const auto& f = *static_cast<const bhttp::fields*>(fields);
    auto it = f.find(name);
    return it == f.end() ? std::string_view{} : std::string_view(it->value());
}

// A failed read either deserves an answer before the connection closes (the client sent
// something we can name) or a silent close (the client went away or stalled).
struct read_failure {
    unsigned status = 0;  // 0: close without answering
    std::string_view code;
    std::string_view message;
};

read_failure classify(const boost::system::error_code& ec)
{
    if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
        return {431, "REQUEST_HEADER_FIELDS_TOO_LARGE", "Request headers are too large"};
    }
    if (ec == bhttp::error::body_limit) {
        return {413, "PAYLOAD_TOO_LARGE", "Request body is too large"};
    }
    if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) {
        return {};
    }
    // Every other HTTP parser error is a malformed request; anything else (timeout, reset,
    // cancellation) means the client is gone or stalled.
    if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category()) {
        return {400, "BAD_REQUEST", "Malformed HTTP request"};
    }
    return {};
}

std::string joined_forwarded_for(const bhttp::fields& fields)
{
    std::string out;
    auto range = fields.equal_range("X-Forwarded-For");
    for (auto it = range.first; it != range.second; ++it) {
        if (!out.empty()) {
            out.push_back(',');
        }
        out.append(it->value());
    }
    return out;
}

}  // namespace

listener::listener(net::io_context& ioc, const server_options& options, const router& routes,
                   connection_gate& gate)
    : ioc_(ioc), options_(options), router_(routes), gate_(gate), acceptor_(ioc)
{
}

void listener::open(const net::ip::tcp::endpoint& endpoint)
{
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    const int one = 1;
    if (::setsockopt(acceptor_.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
        throw boost::system::system_error(errno, boost::system::system_category(), "SO_REUSEPORT");
    }
    acceptor_.bind(endpoint);
    acceptor_.listen(net::socket_base::max_listen_connections);
}

std::uint16_t listener::port() const
{
    return acceptor_.local_endpoint().port();
}

void listener::start()
{
    net::co_spawn(ioc_, accept_loop(), net::detached);
}

void listener::drain()
{
    draining_ = true;
    boost::system::error_code ec;
    acceptor_.close(ec);
    for (auto* slot : sessions_) {
        if (slot->idle) {
            slot->stream->cancel();
        }
    }
}

void listener::close_all()
{
    draining_ = true;
    for (auto* slot : sessions_) {
        boost::system::error_code ec;
        slot->stream->socket().shutdown(net::ip::tcp::socket::shutdown_both, ec);
        slot->stream->cancel();
    }
}

net::awaitable<void> listener::accept_loop()
{
    std::uint64_t refused = 0;
    while (acceptor_.is_open()) {
        auto [ec, socket] = co_await acceptor_.async_accept(common::use_nothrow);
        if (ec) {
            if (ec == net::error::operation_aborted || !acceptor_.is_open()) {
                break;
            }
            // EMFILE and friends: back off briefly instead of spinning on the error.
            log::warn("http.accept_failed", {{"error", ec.message()}});
            net::steady_timer pause(ioc_, std::chrono::milliseconds(50));
            co_await pause.async_wait(common::use_nothrow);
            continue;
        }
        if (!gate_.try_enter()) {
            // Over HTTP_MAX_CONNECTIONS: refuse by closing; log the first and every 1000th.
            if (refused++ % 1000 == 0) {
                log::warn("http.connection_refused",
                          {{"reason", "HTTP_MAX_CONNECTIONS reached"}, {"refused", refused}});
            }
            boost::system::error_code ignored;
            socket.close(ignored);
            continue;
        }
        socket.set_option(net::ip::tcp::no_delay(true), ec);
        net::co_spawn(ioc_, session(std::move(socket)), net::detached);
    }
}

net::awaitable<void> listener::session(net::ip::tcp::socket socket)
{
    boost::system::error_code ec;
    const auto peer = socket.remote_endpoint(ec).address();

    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer(options_.header_limit + options_.body_limit + read_chunk);

    session_slot slot{&stream, true};
    sessions_.push_back(&slot);
    const auto slot_it = std::prev(sessions_.end());
    struct cleanup {
        listener& self;
        std::list<session_slot*>::iterator it;
        ~cleanup()
        {
            self.sessions_.erase(it);
            self.gate_.leave();
        }
    } on_exit{*this, slot_it};

    bool unread_input = false;
    for (;;) {
        // Between requests the idle deadline applies; the read deadline starts with the first byte.
        if (buffer.size() == 0) {
            slot.idle = true;
            if (draining_) {
                break;
            }
            stream.expires_after(options_.idle_timeout);
            auto [read_ec, n] =
                co_await stream.async_read_some(buffer.prepare(read_chunk), common::use_nothrow);
            if (read_ec) {
                break;
            }
            buffer.commit(n);
        }
        slot.idle = false;

        request_context ctx;
        ctx.started = std::chrono::steady_clock::now();
        ctx.peer = peer;

        bhttp::request_parser<bhttp::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(options_.header_limit));
        parser.body_limit(options_.body_limit);
        stream.expires_after(options_.read_timeout);

        auto [hdr_ec, hdr_n] =
            co_await bhttp::async_read_header(stream, buffer, parser, common::use_nothrow);
        boost::system::error_code read_ec = hdr_ec;
        if (!read_ec && !parser.is_done()) {
            // curl and others wait for "100 Continue" before sending a larger body.
            if (beast::iequals(parser.get()[bhttp::field::expect], "100-continue")) {
                bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, 11};
                auto [w_ec, w_n] = co_await bhttp::async_write(stream, cont, common::use_nothrow);
                if (w_ec) {
                    break;
                }
            }
            auto [body_ec, body_n] =
                co_await bhttp::async_read(stream, buffer, parser, common::use_nothrow);
            read_ec = body_ec;
        }

        response res;
        bool keep_alive = false;
        std::string_view target;
        method verb = method::other;
        if (read_ec) {
            const auto failure = classify(read_ec);
            if (failure.status == 0) {
                break;
            }
            ctx.client = peer;
            ctx.assign_request_id({});
            unread_input = true;
            res = error_response(failure.status, failure.code, failure.message);
        } else {
            auto& msg = parser.get();
            verb = to_method(msg.method());
            target = msg.target();
            ctx.assign_request_id(std::string_view(msg["X-Request-Id"]));
            ctx.client = client_address(peer, joined_forwarded_for(msg), options_.trusted_proxies);
            keep_alive = msg.keep_alive() && !draining_;

            request req(verb, target, msg.body(), &msg.base(), &lookup_header, ctx);
            bool failed = false;
            try {
                res = co_await router_.dispatch(req);
            } catch (const std::exception& e) {
                failed = true;
                log::error(
                    "http.handler_exception",
                    {{"request_id", ctx.request_id()}, {"route", ctx.route}, {"error", e.what()}});
            } catch (...) {
                failed = true;
                log::error("http.handler_exception", {{"request_id", ctx.request_id()},
                                                      {"route", ctx.route},
                                                      {"error", "unknown exception"}});
            }
            if (failed) {
                res = error_response(500, "INTERNAL_ERROR", "Internal server error");
            }
            keep_alive = keep_alive && !draining_;
        }

        bhttp::response<bhttp::string_body> out{static_cast<bhttp::status>(res.status), 11};
        out.set(bhttp::field::content_type, res.content_type);
        out.set("X-Request-Id", ctx.request_id());
        for (const auto& h : res.headers) {
            out.set(h.name, h.value);
        }
        out.keep_alive(keep_alive);
        const std::size_t body_bytes = res.body.size();
        out.body() = std::move(res.body);
        out.prepare_payload();
        if (verb == method::head) {
            // HEAD: the headers of the GET answer, no body.
            out.body().clear();
        }

        stream.expires_after(options_.read_timeout);
        auto [write_ec, written] = co_await bhttp::async_write(stream, out, common::use_nothrow);

        if (log::enabled(log::level::info)) {
            const auto elapsed = std::chrono::steady_clock::now() - ctx.started;
            const std::string client = ctx.client.to_string();
            log::info("http.access",
                      {{"method", to_string(verb)},
                       {"path", target.substr(0, target.find('?'))},
                       {"route", ctx.route},
                       {"status", res.status},
                       {"duration_ms", std::chrono::duration<double, std::milli>(elapsed).count()},
                       {"bytes", body_bytes},
                       {"client", client},
                       {"request_id", ctx.request_id()}});
        }

        if (write_ec || !keep_alive) {
            break;
        }
    }

    stream.socket().shutdown(net::ip::tcp::socket::shutdown_send, ec);
    if (unread_input) {
        // We answered before reading everything the client sent (413, 431, 400). Closing now
        // would reset the connection and could destroy the answer in flight, so read and
        // discard for a short while first, as nginx's lingering close does.
        stream.expires_after(std::chrono::seconds(1));
        buffer.clear();
        for (std::size_t drained = 0; drained < 4 * (options_.body_limit + read_chunk);) {
            auto [drain_ec, n] =
                co_await stream.async_read_some(buffer.prepare(read_chunk), common::use_nothrow);
            if (drain_ec) {
                break;
            }
            drained += n;
        }
    }
    stream.close();
}

}  // namespace analytics::http
