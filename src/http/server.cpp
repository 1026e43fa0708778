#include "http/server.hpp"

#include "common/logging.hpp"
#include "common/string_writer.hpp"
#include "http/client_ip.hpp"
#include "http/response.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <cstddef>
#include <ctime>
#include <exception>
#include <memory_resource>
#include <string>
#include <sys/socket.h>
#include <tuple>
#include <utility>

#include "telemetry/registry.hpp"

namespace analytics::http {

namespace bhttp = beast::http;

// What the deadline sweeper and drain() need to know about a session.
struct listener::session_slot {
    net::ip::tcp::socket* socket = nullptr;
    bool idle = true;      // waiting for the first byte of a request
    bool expired = false;  // the sweeper cut a pending read or write at its deadline
    std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

namespace {

// How many bytes one read asks for while waiting for a new request.
constexpr std::size_t read_chunk = 4096;

// How often deadlines are checked: every timeout is enforced within this much.
constexpr std::chrono::milliseconds sweep_interval{100};

using steady = std::chrono::steady_clock;
using namespace std::string_view_literals;

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

// A request's header fields and body are allocated from an arena that its session reuses for
// every request, so a typical request costs no heap allocation for them (each header field
// would be one, and the body another). Larger ones spill to the heap, freed after the request.
using arena_allocator = std::pmr::polymorphic_allocator<char>;
using request_fields = bhttp::basic_fields<arena_allocator>;
using request_body = bhttp::basic_string_body<char, std::char_traits<char>, arena_allocator>;
using request_parser = bhttp::request_parser<request_body, arena_allocator>;
// Enough for the fields and body of a typical API client's request; kept small because every
// open connection holds one.
constexpr std::size_t request_arena_bytes = 512;

std::string_view lookup_header(const void* fields, std::string_view name)
{
    const auto& f = *static_cast<const request_fields*>(fields);
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

// `Date: <IMF-fixdate>\r\n`, formatted once per second per thread.
std::string_view date_line()
{
    thread_local std::time_t cached_second = -1;
    thread_local std::array<char, 48> line{};
    thread_local std::size_t length = 0;
    const std::time_t now = std::time(nullptr);
    if (now != cached_second) {
        std::tm tm{};
        gmtime_r(&now, &tm);
        length =
            std::strftime(line.data(), line.size(), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        cached_second = now;
    }
    return {line.data(), length};
}

// Writes the status line and headers of an answer. Beast's generic serializer costs more than
// the whole rest of a cached request, so answers are laid out by hand, through a pointer into
// room made once: head and body then go out in one gathered write.
void serialize_head(std::string& out, const response& res, const request_context& ctx,
                    bool keep_alive, bool http10, bool with_length)
{
    const auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(res.status));
    const std::string_view date = date_line();
    // Every literal below fits in this, with the status and the length as 20 digits each.
    constexpr std::size_t fixed = 160 + 2 * common::string_writer::max_decimal;
    std::size_t most = fixed + reason.size() + date.size() + res.content_type.size() +
                       ctx.request_id().size() + ctx.traceparent().size();
    for (const auto& h : res.headers) {
        most += h.name.size() + h.value.size() + 4;
    }
    common::string_writer w(out, most);
    w.put(http10 ? "HTTP/1.0 "sv : "HTTP/1.1 "sv);
    w.put_decimal(res.status);
    w.put(' ');
    w.put({reason.data(), reason.size()});
    w.put("\r\n"sv);
    w.put(date);
    // 204 and 304 carry no content, so no content metadata either (RFC 9110 § 15.4.5).
    if (with_length) {
        w.put("Content-Type: "sv);
        w.put(res.content_type);
        w.put("\r\n"sv);
        w.put("Content-Length: "sv);
        w.put_decimal(res.body.size());
        w.put("\r\n"sv);
    }
    w.put("X-Request-Id: "sv);
    w.put(ctx.request_id());
    w.put("\r\ntraceparent: "sv);
    w.put(ctx.traceparent());
    w.put("\r\n"sv);
    for (const auto& h : res.headers) {
        w.put(h.name);
        w.put(": "sv);
        w.put(h.value);
        w.put("\r\n"sv);
    }
    // HTTP/1.1 keeps connections open unless told otherwise; HTTP/1.0 the other way round.
    if (!keep_alive) {
        w.put("Connection: close\r\n"sv);
    } else if (http10) {
        w.put("Connection: keep-alive\r\n"sv);
    }
    w.put("\r\n"sv);
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
    net::co_spawn(ioc_, sweep_deadlines(), net::detached);
}

net::awaitable<void> listener::sweep_deadlines()
{
    // One timer per worker instead of one armed and cancelled around every read and write:
    // a session records its deadline, and this loop cuts whatever has passed it.
    net::steady_timer tick(ioc_);
    while (!(draining_ && sessions_.empty() && !acceptor_.is_open())) {
        tick.expires_after(sweep_interval);
        co_await tick.async_wait(common::use_nothrow);
        const auto now = steady::now();
        for (auto* slot : sessions_) {
            if (now >= slot->deadline && !slot->expired) {
                slot->expired = true;
                boost::system::error_code ignored;
                slot->socket->cancel(ignored);
            }
        }
    }
}

void listener::drain()
{
    draining_ = true;
    boost::system::error_code ec;
    acceptor_.close(ec);
    for (auto* slot : sessions_) {
        if (slot->idle) {
            boost::system::error_code ignored;
            slot->socket->cancel(ignored);
        }
    }
}

void listener::close_all()
{
    draining_ = true;
    for (auto* slot : sessions_) {
        boost::system::error_code ec;
        slot->socket->shutdown(net::ip::tcp::socket::shutdown_both, ec);
        slot->socket->cancel(ec);
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

    socket.non_blocking(true, ec);
    const std::size_t max_body_limit = router_.max_body_limit(options_.body_limit);
    beast::flat_buffer buffer(options_.header_limit + options_.body_limit + read_chunk);
    std::string head;  // the serialised status line and headers, reused by every answer
    head.reserve(512);
    std::array<std::byte, request_arena_bytes> arena_storage;
    std::pmr::monotonic_buffer_resource arena(arena_storage.data(), arena_storage.size());

    session_slot slot{&socket};
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

    const std::string peer_text = peer.to_string();
    bool unread_input = false;
    for (;;) {
        // Between requests the idle deadline applies; the read deadline starts with the first byte.
        if (buffer.size() == 0) {
            slot.idle = true;
            if (draining_) {
                break;
            }
            slot.deadline = steady::now() + options_.idle_timeout;
            auto [read_ec, n] =
                co_await socket.async_read_some(buffer.prepare(read_chunk), common::use_nothrow);
            if (read_ec || slot.expired) {
                break;
            }
            buffer.commit(n);
        }
        slot.idle = false;

        request_context ctx;
        ctx.started = std::chrono::steady_clock::now();
        ctx.peer = peer;

        // The parser is fed from the buffer directly; the socket is read only when it needs
        // more bytes. One deadline covers the whole request, however it trickles in.
        // The previous request's parser is gone: its memory is free again.
        arena.release();
        const arena_allocator alloc(&arena);
        request_parser parser(std::piecewise_construct, std::make_tuple(alloc),
                              std::make_tuple(alloc));
        parser.header_limit(static_cast<std::uint32_t>(options_.header_limit));
        parser.body_limit(max_body_limit);
        parser.eager(true);
        slot.deadline = ctx.started + options_.read_timeout;
        boost::system::error_code read_ec;
        bool continue_sent = false;
        bool limit_set = false;
        for (;;) {
            if (buffer.size() > 0) {
                const std::size_t used = parser.put(buffer.data(), read_ec);
                buffer.consume(used);
                if (read_ec == bhttp::error::need_more) {
                    read_ec = {};
                }
                if (!read_ec && parser.is_header_done() && !limit_set) {
                    // The parser accepts the largest body any route takes; once the header
                    // names the route, its own limit applies (a batch of metrics takes more).
                    limit_set = true;
                    const std::size_t limit =
                        router_.body_limit(parser.get().target(), options_.body_limit);
                    const std::size_t have = parser.get().body().size();
                    const auto length = parser.content_length();
                    if ((length && *length > limit) || have > limit) {
                        read_ec = bhttp::error::body_limit;
                    } else {
                        parser.body_limit(limit - have);
                    }
                }
                if (read_ec || parser.is_done()) {
                    break;
                }
                if (used > 0 && buffer.size() > 0) {
                    continue;
                }
            }
            if (parser.is_header_done() && !continue_sent &&
                beast::iequals(parser.get()[bhttp::field::expect], "100-continue")) {
                // curl and others wait for this before they send a larger body.
                continue_sent = true;
                static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
                auto [w_ec, w_n] = co_await net::async_write(
                    socket, net::buffer(continue_line.data(), continue_line.size()),
                    common::use_nothrow);
                if (w_ec) {
                    read_ec = w_ec;
                    break;
                }
            }
            if (buffer.size() >= buffer.max_size()) {
                read_ec = bhttp::error::buffer_overflow;
                break;
            }
            auto [more_ec, n] =
                co_await socket.async_read_some(buffer.prepare(read_chunk), common::use_nothrow);
            if (more_ec || slot.expired) {
                // A client that went away or stalled past the read deadline gets no answer.
                read_ec = more_ec == net::error::eof || !more_ec ? bhttp::error::partial_message
                                                                 : more_ec;
                break;
            }
            buffer.commit(n);
        }

        response res;
        bool keep_alive = false;
        bool http10 = false;
        std::string_view target;
        std::string_view user_agent;
        method verb = method::other;
        if (read_ec) {
            const auto failure = classify(read_ec);
            if (failure.status == 0) {
                break;
            }
            ctx.set_client(peer, peer_text);
            ctx.assign_request_id({});
            ctx.assign_trace({});
            unread_input = true;
            res = error_response(failure.status, failure.code, failure.message);
            // The answer to a HEAD has no body, even when the request was refused before it was
            // read in full (a client would take the body for the next answer): the method is the
            // parser's once it read the request line, else the first bytes say it.
            const std::string_view unread(static_cast<const char*>(buffer.data().data()),
                                          std::min<std::size_t>(buffer.size(), 5));
            if (parser.get().method() == bhttp::verb::head || unread == "HEAD ") {
                verb = method::head;
            }
        } else {
            auto& msg = parser.get();
            verb = to_method(msg.method());
            target = msg.target();
            http10 = msg.version() < 11;
            ctx.assign_request_id(std::string_view(msg["X-Request-Id"]));
            ctx.assign_trace(std::string_view(msg["traceparent"]));
            user_agent = std::string_view(msg[bhttp::field::user_agent]);
            const auto client =
                client_address(peer, joined_forwarded_for(msg), options_.trusted_proxies);
            if (client == peer) {
                ctx.set_client(peer, peer_text);
            } else {
                ctx.client = client;
            }
            keep_alive = msg.keep_alive();

            const request_fields& fields = msg.base();
            request req(verb, target, std::string_view(msg.body()), &fields, &lookup_header, ctx);
            // Handlers bound their own waits (Redis and upstream deadlines).
            slot.deadline = steady::time_point::max();
            bool failed = false;
            try {
                res = co_await router_.dispatch(req);
            } catch (const std::exception& e) {
                failed = true;
                log::error("http.handler_exception", {{"request_id", ctx.request_id()},
                                                      {"trace_id", ctx.trace_id()},
                                                      {"route", ctx.route},
                                                      {"error", e.what()}});
            } catch (...) {
                failed = true;
                log::error("http.handler_exception", {{"request_id", ctx.request_id()},
                                                      {"trace_id", ctx.trace_id()},
                                                      {"route", ctx.route},
                                                      {"error", "unknown exception"}});
            }
            if (failed) {
                res = error_response(500, "INTERNAL_ERROR", "Internal server error");
            }
            keep_alive = keep_alive && !draining_;
        }

        // HEAD answers with the headers of the GET answer and no body; 204 and 304 have none.
        const bool bodiless = res.status == 204 || res.status == 304;
        const bool send_body = verb != method::head && !bodiless;
        head.clear();
        serialize_head(head, res, ctx, keep_alive, http10, !bodiless);
        std::array<net::const_buffer, 2> wire{
            net::buffer(head), send_body ? net::buffer(res.body) : net::const_buffer{}};
        // Most answers fit in the socket's send buffer: try once without waiting, and only
        // fall back to an asynchronous write (under the deadline) for what is left.
        boost::system::error_code write_ec;
        const std::size_t total = wire[0].size() + wire[1].size();
        std::size_t sent = socket.write_some(wire, write_ec);
        if (write_ec == net::error::would_block || write_ec == net::error::try_again) {
            write_ec = {};
            sent = 0;
        }
        if (!write_ec && sent < total) {
            if (sent < wire[0].size()) {
                wire[0] += sent;
            } else {
                wire[1] += sent - wire[0].size();
                wire[0] = net::const_buffer{};
            }
            slot.deadline = steady::now() + options_.read_timeout;
            auto [async_ec, n] = co_await net::async_write(socket, wire, common::use_nothrow);
            write_ec = slot.expired ? net::error::timed_out : async_ec;
        }

        const auto elapsed = std::chrono::steady_clock::now() - ctx.started;
        telemetry::local().http_request(ctx.route_id, verb, res.status, elapsed);
        if (log::enabled(log::level::info)) {
            const std::string_view client = ctx.client_text();
            log::write_buffered(
                log::level::info, "http.access",
                {{"method", to_string(verb)},
                 {"path", target.substr(0, target.find('?'))},
                 {"route", ctx.route},
                 {"status", res.status},
                 {"duration_ms", std::chrono::duration<double, std::milli>(elapsed).count()},
                 {"bytes", res.body.size()},
                 {"client", client},
                 {"user_agent", user_agent},
                 {"request_id", ctx.request_id()},
                 {"trace_id", ctx.trace_id()}});
        }

        if (write_ec || !keep_alive) {
            break;
        }
    }

    socket.shutdown(net::ip::tcp::socket::shutdown_send, ec);
    if (unread_input && !slot.expired) {
        // We answered before reading everything the client sent (413, 431, 400). Closing now
        // would reset the connection and could destroy the answer in flight, so read and
        // discard for a short while first, as nginx's lingering close does.
        slot.deadline = steady::now() + std::chrono::seconds(1);
        buffer.clear();
        for (std::size_t drained = 0; drained < 4 * (options_.body_limit + read_chunk);) {
            auto [drain_ec, n] =
                co_await socket.async_read_some(buffer.prepare(read_chunk), common::use_nothrow);
            if (drain_ec || slot.expired) {
                break;
            }
            drained += n;
        }
    }
    socket.close(ec);
}

}  // namespace analytics::http
