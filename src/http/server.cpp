#include "http/server.hpp"

#include "common/logging.hpp"
#include "common/string_writer.hpp"
#include "http/client_ip.hpp"
#include "http/request_head.hpp"
#include "http/response.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <ctime>
#include <exception>
#include <linux/filter.h>
#include <memory_resource>
#include <string>
#include <sys/socket.h>
#include <system_error>
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
    std::chrono::steady_clock::time_point idle_since{};
};

namespace {

// How many bytes one read asks for.
constexpr std::size_t read_chunk = 4096;

// How often deadlines are checked: every timeout is enforced within this much.
constexpr std::chrono::milliseconds sweep_interval{100};

// Chunk extensions carry nothing this service reads; RFC 9112 § 7.1.1 lets a server limit them,
// and unlimited, they are a way to make it buffer without sending a body. Per request.
constexpr std::size_t chunk_extension_limit = 1024;
// The most a chunk-size line or a trailer section may occupy while it is incomplete.
constexpr std::size_t chunk_framing_limit = chunk_extension_limit + 64;

// A buffer that grew past this for one large request is given back while its connection waits.
constexpr std::size_t idle_buffer_limit = 16 * 1024;

// After the acceptor stops taking new handshakes, how long handshakes already under way get to
// complete (and be accepted) before it closes: far more than a round trip on any network the
// service is deployed on.
constexpr std::chrono::milliseconds handshake_grace{100};

// How long a connection closed after an early answer is read and discarded (lingering close).
constexpr std::chrono::seconds linger_time{1};

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
using base_parser = bhttp::request_parser<request_body, arena_allocator>;
// Enough for the fields and body of a typical API client's request; kept small because every
// open connection holds one.
constexpr std::size_t request_arena_bytes = 512;

std::string_view lookup_header(const void* fields, std::string_view name)
{
    const auto& f = *static_cast<const request_fields*>(fields);
    auto it = f.find(name);
    return it == f.end() ? std::string_view{} : std::string_view(it->value());
}

// Beast's request parser, counting the request's chunk extension bytes as it parses each chunk
// header and stopping past the limit (an override of the parser's own hook costs nothing on
// requests without chunks; its callback would cost every request).
class request_parser final : public base_parser {
public:
    using base_parser::base_parser;

    bool extensions_over_limit() const noexcept { return extension_bytes_ > chunk_extension_limit; }

private:
    void on_chunk_header_impl(std::uint64_t, beast::string_view extensions,
                              boost::system::error_code& ec) override
    {
        extension_bytes_ += extensions.size();
        if (extensions_over_limit()) {
            ec = bhttp::error::bad_chunk_extension;
        }
    }

    std::size_t extension_bytes_ = 0;
};

constexpr refusal extensions_too_long{400, "BAD_REQUEST",
                                      "Chunk extensions or trailers are too long"};
constexpr refusal body_budget_full{503, "SERVER_BUSY",
                                   "Too many request bodies are being received, try again later"};
constexpr refusal too_many_connections{429, "TOO_MANY_CONNECTIONS",
                                       "Too many open connections from this client"};

// A failed read either deserves an answer before the connection closes (the client sent
// something we can name) or a silent close (the client went away or stalled): status 0.
refusal classify(const boost::system::error_code& ec, const request_parser& parser)
{
    if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
        return {431, "REQUEST_HEADER_FIELDS_TOO_LARGE", "Request headers are too large"};
    }
    if (ec == bhttp::error::body_limit) {
        return {413, "PAYLOAD_TOO_LARGE", "Request body is too large"};
    }
    if (ec == bhttp::error::bad_chunk_extension && parser.extensions_over_limit()) {
        return extensions_too_long;
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

// Makes the kernel drop new connection requests (SYN without ACK) to `socket` while everything
// else, the last packets of handshakes under way included, still arrives. A classic BPF socket
// filter sees a TCP segment from its header: the flags are at offset 13.
void refuse_new_handshakes(net::ip::tcp::acceptor& acceptor)
{
    // ldb [13]; jset #0x10 (ACK) -> keep; jset #0x02 (SYN) -> drop; keep.
    static const std::array<sock_filter, 5> program{{
        {BPF_LD | BPF_B | BPF_ABS, 0, 0, 13},
        {BPF_JMP | BPF_JSET | BPF_K, 2, 0, 0x10},
        {BPF_JMP | BPF_JSET | BPF_K, 0, 1, 0x02},
        {BPF_RET | BPF_K, 0, 0, 0},
        {BPF_RET | BPF_K, 0, 0, 0xffffffff},
    }};
    const sock_fprog prog{static_cast<unsigned short>(program.size()),
                          const_cast<sock_filter*>(program.data())};
    if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) !=
        0) {
        log::warn("http.stop_accepting_filter_failed",
                  {{"error", std::system_category().message(errno)}});
    }
}

}  // namespace

// One connection: its socket and buffers, shared by the steps that serve its requests.
class listener::connection {
public:
    connection(listener& owner, net::ip::tcp::socket socket, const net::ip::address& peer,
               client_connections::admission admission);
    ~connection();

    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    /// Serves requests until the connection has to close.
    net::awaitable<void> serve();

    /// Ends the connection; when an answer went out before the client had sent everything,
    /// first reads and discards for a while (nginx's lingering close), so that closing does not
    /// reset the connection under the answer.
    net::awaitable<void> close();

    /// Logs an exception that escaped serve(): a bug, but the process carries on.
    void log_escaped(std::string_view what) const;

private:
    struct exchange;

    // Reading a request is Beast's async_read as a state machine: serve() performs the I/O
    // each step asks for and hands the outcome to the next step.
    enum class read_step {
        read,           // read from the socket (read_size() bytes at most), then on_read()
        send_continue,  // write `100 Continue`, then go on reading
        answer,         // the exchange holds a request to dispatch, or a refusal to send
        close,          // nothing to answer: the client left, stalled, or never sent a request
    };
    read_step begin_read(exchange& ex);
    read_step on_read(exchange& ex, const boost::system::error_code& ec, std::size_t n);
    std::size_t read_size() const noexcept;
    void start_waiting();
    bool keep_waiting();
    void start_request(exchange& ex);
    read_step parse(exchange& ex);
    bool route_body_limit(exchange& ex) const;
    read_step need_more(exchange& ex);
    read_step finish(exchange& ex, const boost::system::error_code& ec);
    read_step refuse(exchange& ex, const refusal& why);
    void dispatch_failed(exchange& ex, std::exception_ptr escaped) const;
    bool write_now(exchange& ex);
    net::awaitable<bool> write_rest(exchange& ex);
    void record(const exchange& ex) const;

    listener& owner_;
    net::ip::tcp::socket socket_;
    const net::ip::address peer_;
    const std::string peer_text_;
    const client_connections::admission admission_;
    const steady::time_point accepted_ = steady::now();
    // The largest body any route takes: the parser's limit until the head names the route.
    const std::size_t max_body_limit_;
    beast::flat_buffer buffer_;
    std::string head_;  // the serialised status line and headers, reused by every answer
    std::array<std::byte, request_arena_bytes> arena_storage_;
    std::pmr::monotonic_buffer_resource arena_;
    std::string target_storage_;     // an absolute-form target rewritten to origin form
    std::string forwarded_storage_;  // several X-Forwarded-For lines, joined
    session_slot slot_;
    std::list<session_slot*>::iterator slot_it_;
    std::size_t body_held_ = 0;  // reserved from owner_.bodies_ for an unfinished body
    bool first_request_ = true;
    bool unread_input_ = false;  // answered before the client had sent everything
};

// One request and its answer.
struct listener::connection::exchange {
    explicit exchange(std::pmr::memory_resource* arena)
        : parser(std::piecewise_construct, std::make_tuple(arena_allocator(arena)),
                 std::make_tuple(arena_allocator(arena)))
    {
    }

    request_context ctx;
    request_parser parser;
    bool head_checked = false;
    bool continue_due = false;  // the client waits for `100 Continue` before its body
    refusal failure;            // answered before routing
    response res;
    method verb = method::other;
    request_head head;
    std::string_view target;
    bool keep_alive = false;
    bool http10 = false;
    // The answer as it goes out: head and body, advanced past what was written.
    std::array<net::const_buffer, 2> unsent;
};

listener::connection::connection(listener& owner, net::ip::tcp::socket socket,
                                 const net::ip::address& peer,
                                 client_connections::admission admission)
    : owner_(owner),
      socket_(std::move(socket)),
      peer_(peer),
      peer_text_(peer.to_string()),
      admission_(admission),
      max_body_limit_(owner.router_.max_body_limit(owner.options_.body_limit)),
      buffer_(owner.options_.header_limit + owner.options_.body_limit + read_chunk),
      arena_(arena_storage_.data(), arena_storage_.size())
{
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);
    head_.reserve(512);
    slot_.socket = &socket_;
    owner_.sessions_.push_back(&slot_);
    slot_it_ = std::prev(owner_.sessions_.end());
}

listener::connection::~connection()
{
    owner_.bodies_.release(body_held_);
    owner_.bodies_.freed(sizeof(connection) + buffer_.capacity() + head_.capacity());
    owner_.sessions_.erase(slot_it_);
    if (admission_ == client_connections::admission::counted) {
        owner_.clients_.leave(peer_);
    }
    owner_.gate_.leave();
}

void listener::connection::log_escaped(std::string_view what) const
{
    log::error("http.session_exception", {{"client", peer_text_}, {"error", what}});
}

// Requests in turn, as Beast's http_session does: read one, dispatch it, write the answer,
// record it; again while the connection is kept alive.
net::awaitable<void> listener::connection::serve()
{
    static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
    for (;;) {
        // The previous request's parser is gone: its memory is free again.
        arena_.release();
        exchange ex(&arena_);

        // Read a request.
        auto step = admission_ == client_connections::admission::refused
                        ? refuse(ex, too_many_connections)
                        : begin_read(ex);
        while (step == read_step::read || step == read_step::send_continue) {
            if (step == read_step::read) {
                auto [ec, n] = co_await socket_.async_read_some(buffer_.prepare(read_size()),
                                                                common::use_nothrow);
                step = on_read(ex, ec, n);
            } else {
                // curl and others wait for this before they send a larger body.
                auto [ec, n] = co_await net::async_write(
                    socket_, net::buffer(continue_line.data(), continue_line.size()),
                    common::use_nothrow);
                step = ec ? read_step::close : read_step::read;
            }
        }
        if (step == read_step::close) {
            break;
        }

        // Dispatch it under one guard: an exception from a handler is a bug; it is logged with
        // the request id, answered 500, and the connection goes on.
        if (!ex.failure) {
            const request_fields& fields = ex.parser.get().base();
            request req(ex.verb, ex.target, std::string_view(ex.parser.get().body()), &fields,
                        &lookup_header, ex.ctx);
            // Handlers bound their own waits (Redis and upstream deadlines).
            slot_.deadline = steady::time_point::max();
            std::exception_ptr escaped;
            try {
                ex.res = co_await owner_.router_.dispatch(req);
            } catch (...) {
                escaped = std::current_exception();
            }
            if (escaped) {
                dispatch_failed(ex, escaped);
            }
            ex.keep_alive = ex.keep_alive && !owner_.draining_;
        }

        // Write the answer, and record it.
        bool written = write_now(ex);
        if (written && ex.unsent[0].size() + ex.unsent[1].size() > 0) {
            written = co_await write_rest(ex);
        }
        record(ex);
        if (!written || !ex.keep_alive) {
            break;
        }
    }
}

// Starts reading a request: parses what the buffer holds already (pipelined requests), else
// waits for the first byte.
listener::connection::read_step listener::connection::begin_read(exchange& ex)
{
    auto& parser = ex.parser;
    parser.header_limit(static_cast<std::uint32_t>(owner_.options_.header_limit));
    parser.body_limit(max_body_limit_);
    parser.eager(true);
    if (buffer_.size() > 0) {
        start_request(ex);
        return parse(ex);
    }
    start_waiting();
    return read_step::read;
}

// How many bytes the next read may add: the buffer's limit stops a request that never ends.
std::size_t listener::connection::read_size() const noexcept
{
    return std::min(read_chunk, buffer_.max_size() - buffer_.size());
}

// Starts waiting for the first byte of the next request: the read deadline counted from
// accept for a connection's first request, the idle deadline between requests, and at most
// `idle_grace` while draining.
void listener::connection::start_waiting()
{
    if (buffer_.capacity() > idle_buffer_limit) {
        owner_.bodies_.freed(buffer_.capacity());
        buffer_.shrink_to_fit();
    }
    const auto now = steady::now();
    slot_.idle = true;
    slot_.idle_since = now;
    slot_.deadline = first_request_ ? accepted_ + owner_.options_.read_timeout
                                    : now + owner_.options_.idle_timeout;
    if (owner_.draining_) {
        slot_.deadline = std::min(slot_.deadline, now + owner_.idle_grace_);
    }
}

// After the wait for a request ended without one: true when it should go on, because the
// deadline cut it while bytes were arriving. A request sent just as the connection was about to
// close is answered, not reset.
bool listener::connection::keep_waiting()
{
    boost::system::error_code ignored;
    if (!slot_.expired || socket_.available(ignored) == 0) {
        return false;
    }
    slot_.expired = false;
    slot_.deadline = steady::now() + owner_.options_.read_timeout;
    return true;
}

// The request's first byte is in: one read deadline covers the whole request from now (from
// accept for a connection's first), however it trickles in.
void listener::connection::start_request(exchange& ex)
{
    slot_.idle = false;
    ex.ctx.started = steady::now();
    slot_.deadline = (first_request_ ? accepted_ : ex.ctx.started) + owner_.options_.read_timeout;
    first_request_ = false;
}

listener::connection::read_step listener::connection::on_read(exchange& ex,
                                                              const boost::system::error_code& ec,
                                                              std::size_t n)
{
    if (slot_.idle) {
        if (ec || n == 0) {
            return keep_waiting() ? read_step::read : read_step::close;
        }
        // Bytes that arrived as a deadline passed still make a request to answer.
        slot_.expired = false;
        buffer_.commit(n);
        start_request(ex);
        return parse(ex);
    }
    if (ec || slot_.expired) {
        // A client that went away or stalled past the read deadline gets no answer.
        return finish(ex, ec == net::error::eof || !ec
                              ? boost::system::error_code(bhttp::error::partial_message)
                              : ec);
    }
    buffer_.commit(n);
    return parse(ex);
}

// Feeds the parser from the buffer; the head is checked once it is complete, before any body
// is read.
listener::connection::read_step listener::connection::parse(exchange& ex)
{
    auto& parser = ex.parser;
    for (;;) {
        if (buffer_.size() == 0) {
            return need_more(ex);
        }
        boost::system::error_code ec;
        const std::size_t used = parser.put(buffer_.data(), ec);
        buffer_.consume(used);
        if (ec == bhttp::error::need_more) {
            ec = {};
        }
        if (!ex.head_checked && parser.is_header_done()) {
            ex.head_checked = true;
            ex.verb = to_method(parser.get().method());
            ex.target = origin_form(parser.get().target(), target_storage_);
            ex.head = scan_head(parser.get().base(), parser.get().version(), forwarded_storage_);
            if (ex.head.refused) {
                return refuse(ex, ex.head.refused);
            }
            // Once the head names the route, its own body limit applies (a batch of metrics
            // takes more than the server's default).
            if (!ec && !route_body_limit(ex)) {
                ec = bhttp::error::body_limit;
            }
            ex.continue_due = ex.head.expects_continue && !parser.is_done();
        }
        if (ec || parser.is_done()) {
            return finish(ex, ec);
        }
        if (used == 0 || buffer_.size() == 0) {
            return need_more(ex);
        }
    }
}

// Sets the parser's body limit to the route's, counting what it read already; false when the
// body is over it (declared or read).
bool listener::connection::route_body_limit(exchange& ex) const
{
    auto& parser = ex.parser;
    const std::size_t limit = owner_.router_.body_limit(ex.target, owner_.options_.body_limit);
    const std::size_t have = parser.get().body().size();
    const auto length = parser.content_length();
    if ((length && *length > limit) || have > limit) {
        return false;
    }
    parser.body_limit(limit - have);
    return true;
}

// The parser needs bytes the buffer does not hold yet.
listener::connection::read_step listener::connection::need_more(exchange& ex)
{
    if (ex.parser.is_header_done()) {
        // In the body, only an incomplete chunk-size line or trailer stays unparsed.
        if (buffer_.size() > chunk_framing_limit) {
            return refuse(ex, extensions_too_long);
        }
        if (!owner_.bodies_.reserve(body_held_, ex.parser.get().body().capacity())) {
            return refuse(ex, body_budget_full);
        }
    }
    if (buffer_.size() >= buffer_.max_size()) {
        return finish(ex, bhttp::error::buffer_overflow);
    }
    if (ex.continue_due) {
        ex.continue_due = false;
        return read_step::send_continue;
    }
    return read_step::read;
}

// The request is complete, or its read failed.
listener::connection::read_step listener::connection::finish(exchange& ex,
                                                             const boost::system::error_code& ec)
{
    // The body is complete (or abandoned): it no longer counts as one being received.
    owner_.bodies_.release(body_held_);
    if (ec) {
        const auto failure = classify(ec, ex.parser);
        return failure ? refuse(ex, failure) : read_step::close;
    }
    auto& msg = ex.parser.get();
    ex.ctx.peer = peer_;
    ex.ctx.ipv6_prefix = owner_.options_.ipv6_prefix;
    ex.http10 = msg.version() < 11;
    ex.keep_alive = msg.keep_alive();
    ex.ctx.assign_request_id(ex.head.request_id);
    ex.ctx.assign_trace(ex.head.traceparent);
    const auto client =
        client_address(peer_, ex.head.forwarded_for, owner_.options_.trusted_proxies);
    if (client == peer_) {
        ex.ctx.set_client(peer_, peer_text_);
    } else {
        ex.ctx.client = client;
    }
    return read_step::answer;
}

// The answer to a request that is not routed (a refusal, or a connection over its client's
// cap): an error in the contract's format, after which the connection closes; what the client
// sent beyond what was read is discarded by close().
listener::connection::read_step listener::connection::refuse(exchange& ex, const refusal& why)
{
    owner_.bodies_.release(body_held_);
    ex.failure = why;
    ex.res = error_response(why.status, why.code, why.message);
    if (why.status == 503 || why.status == 429) {
        ex.res.set("Retry-After", "1");
    }
    ex.keep_alive = false;
    // The answer to a HEAD has no body, even when the request was refused before it was read in
    // full (a client would take the body for the next answer): the method is the parser's once
    // it read the request line, else the first bytes say it.
    const std::string_view unread(static_cast<const char*>(buffer_.data().data()),
                                  std::min<std::size_t>(buffer_.size(), 5));
    if (ex.parser.get().method() == bhttp::verb::head || unread == "HEAD ") {
        ex.verb = method::head;
    }
    if (ex.ctx.started == steady::time_point{}) {
        start_request(ex);
    }
    ex.ctx.peer = peer_;
    ex.ctx.set_client(peer_, peer_text_);
    ex.ctx.assign_request_id({});
    ex.ctx.assign_trace({});
    unread_input_ = true;
    log::debug("http.request_refused", {{"request_id", ex.ctx.request_id()},
                                        {"client", peer_text_},
                                        {"status", why.status},
                                        {"reason", why.message}});
    return read_step::answer;
}

void listener::connection::dispatch_failed(exchange& ex, std::exception_ptr escaped) const
{
    std::string what = "unknown exception";
    try {
        std::rethrow_exception(escaped);
    } catch (const std::exception& e) {
        what = e.what();
    } catch (...) {
    }
    log::error("http.handler_exception", {{"request_id", ex.ctx.request_id()},
                                          {"trace_id", ex.ctx.trace_id()},
                                          {"route", ex.ctx.route},
                                          {"error", what}});
    ex.res = error_response(500, "INTERNAL_ERROR", "Internal server error");
}

// Writes as much of the answer as the socket takes now: most answers fit in its send buffer,
// so one gathered write without waiting. What is left stays in `ex.unsent`. False when the
// connection failed.
bool listener::connection::write_now(exchange& ex)
{
    // HEAD answers with the headers of the GET answer and no body; 204 and 304 have none.
    const bool bodiless = ex.res.status == 204 || ex.res.status == 304;
    const bool send_body = ex.verb != method::head && !bodiless;
    head_.clear();
    serialize_head(head_, ex.res, ex.ctx, ex.keep_alive, ex.http10, !bodiless);
    ex.unsent = {net::buffer(head_), send_body ? net::buffer(ex.res.body) : net::const_buffer{}};
    boost::system::error_code ec;
    const std::size_t sent = socket_.write_some(ex.unsent, ec);
    if (ec == net::error::would_block || ec == net::error::try_again) {
        return true;
    }
    if (ec) {
        return false;
    }
    if (sent < ex.unsent[0].size()) {
        ex.unsent[0] += sent;
    } else {
        ex.unsent[1] += sent - ex.unsent[0].size();
        ex.unsent[0] = net::const_buffer{};
    }
    return true;
}

// Writes the rest of an answer the socket did not take at once, under the write deadline.
net::awaitable<bool> listener::connection::write_rest(exchange& ex)
{
    slot_.deadline = steady::now() + owner_.options_.read_timeout;
    auto [ec, n] = co_await net::async_write(socket_, ex.unsent, common::use_nothrow);
    co_return !ec && !slot_.expired;
}

// Counts the request in the service's metrics and writes its access line.
void listener::connection::record(const exchange& ex) const
{
    const auto elapsed = steady::now() - ex.ctx.started;
    owner_.stats_.http_request(ex.ctx.route_id, ex.verb, ex.res.status, elapsed);
    if (!log::enabled(log::level::info)) {
        return;
    }
    const std::string_view client = ex.ctx.client_text();
    const std::string_view target = ex.target;
    log::write_buffered(
        log::level::info, "http.access",
        {{"method", to_string(ex.verb)},
         {"path", target.substr(0, target.find('?'))},
         {"route", ex.ctx.route},
         {"status", ex.res.status},
         {"duration_ms", std::chrono::duration<double, std::milli>(elapsed).count()},
         {"bytes", ex.res.body.size()},
         {"client", client},
         {"user_agent", ex.head.user_agent},
         {"request_id", ex.ctx.request_id()},
         {"trace_id", ex.ctx.trace_id()}});
}

net::awaitable<void> listener::connection::close()
{
    boost::system::error_code ec;
    // Bytes not read yet (a request pipelined behind the last answer) would make the close a
    // reset, which can destroy that answer before the client has read it.
    unread_input_ = unread_input_ || buffer_.size() > 0 || socket_.available(ec) > 0;
    socket_.shutdown(net::ip::tcp::socket::shutdown_send, ec);
    if (unread_input_ && !slot_.expired) {
        slot_.deadline = steady::now() + linger_time;
        buffer_.clear();
        for (std::size_t drained = 0; drained < 4 * (owner_.options_.body_limit + read_chunk);) {
            auto [drain_ec, n] =
                co_await socket_.async_read_some(buffer_.prepare(read_chunk), common::use_nothrow);
            if (drain_ec || slot_.expired) {
                break;
            }
            drained += n;
        }
    }
    socket_.close(ec);
}

listener::listener(net::io_context& ioc, const server_options& options, const router& routes,
                   connection_gate& gate, client_connections& clients, body_budget& bodies,
                   telemetry::shard& stats)
    : ioc_(ioc),
      options_(options),
      router_(routes),
      gate_(gate),
      clients_(clients),
      bodies_(bodies),
      stats_(stats),
      acceptor_(ioc)
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
        bodies_.reclaim();
    }
}

void listener::drain(std::chrono::milliseconds idle_grace)
{
    if (draining_) {
        return;
    }
    draining_ = true;
    idle_grace_ = idle_grace;
    // Connections waiting for a request close once they have waited the grace; the sweeper
    // closes them; a request that arrived meanwhile is still answered (keep_waiting()).
    for (auto* slot : sessions_) {
        if (slot->idle) {
            slot->deadline = std::min(slot->deadline, slot->idle_since + idle_grace);
        }
    }
}

void listener::stop_accepting()
{
    drain(std::chrono::milliseconds(0));
    if (!acceptor_.is_open()) {
        return;
    }
    refuse_new_handshakes(acceptor_);
    net::co_spawn(ioc_, close_acceptor_after_handshakes(), net::detached);
}

net::awaitable<void> listener::close_acceptor_after_handshakes()
{
    // Closing a listening socket resets every connection whose handshake completed but which
    // was not accepted yet, though its client may have sent a request already. The filter now
    // turns new handshakes away; the ones under way complete meanwhile and are accepted.
    net::steady_timer pause(ioc_, handshake_grace);
    co_await pause.async_wait(common::use_nothrow);
    boost::system::error_code ec;
    acceptor_.close(ec);
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
        const auto peer = socket.remote_endpoint(ec).address();
        if (ec) {
            // Gone before we looked at it.
            gate_.leave();
            continue;
        }
        socket.set_option(net::ip::tcp::no_delay(true), ec);
        const auto admission = clients_.enter(peer);
        try {
            net::co_spawn(ioc_, session(std::move(socket), peer, admission), net::detached);
        } catch (const std::exception& e) {
            // No memory for one more session: this connection closes, accepting goes on.
            log::error("http.accept_exception", {{"error", e.what()}});
            if (admission == client_connections::admission::counted) {
                clients_.leave(peer);
            }
            gate_.leave();
        }
    }
}

net::awaitable<void> listener::session(net::ip::tcp::socket socket, net::ip::address peer,
                                       client_connections::admission admission)
{
    connection conn(*this, std::move(socket), peer, admission);
    // Nothing may end a connection unseen: an exception that escapes the steps (they answer
    // what they can, handlers' exceptions included) is logged, and the connection is closed.
    try {
        co_await conn.serve();
    } catch (const std::exception& e) {
        conn.log_escaped(e.what());
    } catch (...) {
        conn.log_escaped("unknown exception");
    }
    co_await conn.close();
}

}  // namespace analytics::http
