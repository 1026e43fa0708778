// Fuzzes what a connection's bytes go through before any Redis call: Beast's request_parser
// under the server's limits (HTTP_HEADER_LIMIT_BYTES, HTTP_BODY_LIMIT_BYTES), fed in pieces as
// socket reads deliver them and with pipelined requests, then the checks of the head and the
// fields found in one pass (http::scan_head, held to Beast's lookups by name), the request id,
// the client address (TRUSTED_PROXIES + X-Forwarded-For) and the real router with the handlers that
// need no Redis: /health, /ready, the breaker status, the admin API; the three metric routes are
// stand-ins that answer as they do while Redis is down, so 404/405 see the real route table.
//
// Input: byte 0 picks the read size, byte 1 the peer address and whether Redis is "up"; the rest is
// the connection. Properties: no crash, no escaped exception (the session would answer 500), every
// answer in the contract's shapes (error format, Allow on 405), header values without CR, LF or
// NUL, and a response Beast can serialise.
//
// The parsing steps mirror http::listener::session (src/http/server.cpp), which reads from a
// socket and cannot be driven without one.

#include "api/admin_handlers.hpp"
#include "api/breaker_handlers.hpp"
#include "api/health_handlers.hpp"
#include "breaker/circuit_breaker.hpp"
#include "breaker/scoped_breaker.hpp"
#include "common/logging.hpp"
#include "common/rfc3339.hpp"
#include "config/cidr.hpp"
#include "config/settings.hpp"
#include "http/client_ip.hpp"
#include "http/message.hpp"
#include "http/request_head.hpp"
#include "http/response.hpp"
#include "http/router.hpp"
#include "upstream/simulation_settings.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <exception>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz/support.hpp"

namespace analytics::fuzz {
namespace {

namespace bhttp = boost::beast::http;
namespace ip = boost::asio::ip;

constexpr std::string_view admin_token = "fuzz-admin-token";

// The server's defaults (config::http_options).
constexpr std::size_t header_limit = 8 * 1024;
constexpr std::size_t body_limit = 64 * 1024;

// One worker's routes, built once: handlers keep no per-request state, so inputs do not
// influence each other beyond the admin API's settings and the breaker (both bounded).
struct service {
    service()
        : breaker(config::breaker_options{}, std::chrono::milliseconds(5000),
                  common::system_clock()),
          scoped(breaker),
          simulation(config::upstream_options{}),
          health([this] { return api::redis_health{redis_up, redis_up, {}, false}; }, shutting_down,
                 refusals),
          breaker_api(scoped, instance_id),
          admin(std::string(admin_token), simulation, throttle)
    {
        health.register_routes(routes);
        breaker_api.register_routes(routes);
        admin.register_routes(routes);
        auto storage_down = [](http::request&) -> net::awaitable<http::response> {
            co_return http::error_response(503, "STORAGE_UNAVAILABLE",
                                           "Metric storage is unavailable, try again later");
        };
        routes.add(http::method::post, "/api/metrics", storage_down);
        routes.add(http::method::get, "/api/metrics/list", storage_down);
        routes.add(http::method::get, "/api/metrics/summary", storage_down);
    }

    net::io_context ioc{1};
    bool redis_up = true;
    std::atomic<bool> shutting_down{false};
    breaker::circuit_breaker breaker;
    breaker::scoped_breaker scoped;
    std::string instance_id = "fuzz:0";
    upstream::simulation_settings simulation;
    redis::write_refusals refusals{common::system_clock()};
    api::auth_throttle throttle{common::system_clock()};
    api::health_handlers health;
    api::breaker_handlers breaker_api;
    api::admin_handlers admin;
    http::router routes;
    std::vector<config::cidr> trusted = config::default_trusted_proxies();
};

service& the_service()
{
    static service s;
    return s;
}

http::method to_method(bhttp::verb v)
{
    switch (v) {
    case bhttp::verb::get:
        return http::method::get;
    case bhttp::verb::head:
        return http::method::head;
    case bhttp::verb::post:
        return http::method::post;
    case bhttp::verb::put:
        return http::method::put;
    case bhttp::verb::patch:
        return http::method::patch;
    case bhttp::verb::delete_:
        return http::method::delete_;
    case bhttp::verb::options:
        return http::method::options;
    default:
        return http::method::other;
    }
}

std::string_view lookup_header(const void* fields, std::string_view name)
{
    const auto& f = *static_cast<const bhttp::fields*>(fields);
    auto it = f.find(name);
    return it == f.end() ? std::string_view{} : std::string_view(it->value());
}

ip::address pick_peer(std::uint8_t b)
{
    static const std::array<ip::address, 5> peers{
        ip::make_address("127.0.0.1"), ip::make_address("::1"), ip::make_address("203.0.113.7"),
        ip::make_address("::ffff:127.0.0.1"), ip::make_address("2001:db8::1")};
    return peers[b % peers.size()];
}

bool upper_snake(std::string_view s)
{
    if (s.empty()) {
        return false;
    }
    for (char c : s) {
        if (!((c >= 'A' && c <= 'Z') || c == '_')) {
            return false;
        }
    }
    return true;
}

void check_response(const http::response& res, const http::request_context& ctx,
                    std::string_view client_id, bool keep_alive, bool head)
{
    // A 500 only comes from an escaped exception, which the target lets through instead.
    static constexpr std::array<unsigned, 13> expected{200, 304, 400, 401, 403, 404, 405,
                                                       413, 422, 429, 431, 501, 503};
    FUZZ_CHECK(std::find(expected.begin(), expected.end(), res.status) != expected.end());

    if (res.content_type == http::json_content_type) {
        boost::system::error_code ec;
        const auto body = boost::json::parse(res.body, ec);
        FUZZ_CHECK(!ec);
        if (res.status >= 400) {
            FUZZ_CHECK(body.is_object());
            const auto& obj = body.as_object();
            FUZZ_CHECK(obj.contains("code") && obj.at("code").is_string());
            FUZZ_CHECK(upper_snake(obj.at("code").as_string()));
            FUZZ_CHECK(obj.contains("message") && obj.at("message").is_string());
            FUZZ_CHECK(!obj.at("message").as_string().empty());
            FUZZ_CHECK(obj.contains("timestamp") && obj.at("timestamp").is_string());
            FUZZ_CHECK(common::parse_rfc3339(obj.at("timestamp").as_string()).has_value());
            if (res.status == 422) {
                FUZZ_CHECK(obj.contains("errors") && obj.at("errors").is_array());
            }
        }
    }
    if (res.status == 405) {
        FUZZ_CHECK(!res.get("Allow").empty());
    }
    for (const auto& h : res.headers) {
        FUZZ_CHECK(h.value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
    }

    // docs/contract.md, Conventions: the client's own X-Request-Id when valid, else 32 generated
    // hex digits.
    if (http::valid_request_id(client_id)) {
        FUZZ_CHECK(ctx.request_id() == client_id);
    } else {
        FUZZ_CHECK(ctx.request_id().size() == 32);
    }

    // What the session writes.
    bhttp::response<bhttp::string_body> wire{static_cast<bhttp::status>(res.status), 11};
    wire.set(bhttp::field::content_type, res.content_type);
    wire.set("X-Request-Id", ctx.request_id());
    for (const auto& h : res.headers) {
        wire.set(h.name, h.value);
    }
    wire.keep_alive(keep_alive);
    wire.body() = res.body;
    wire.prepare_payload();
    if (head) {
        wire.body().clear();
    }
    std::ostringstream os;
    os << wire.base();
    const std::string head_text = os.str();
    FUZZ_CHECK(head_text.find("\r\n\r\n") == head_text.size() - 4);
}

http::response route(service& svc, http::request& req)
{
    std::optional<http::response> out;
    std::exception_ptr error;
    net::co_spawn(svc.ioc, svc.routes.dispatch(req), [&](std::exception_ptr e, http::response r) {
        error = e;
        if (!e) {
            out.emplace(std::move(r));
        }
    });
    svc.ioc.restart();
    svc.ioc.run();
    if (error) {
        // The session would log http.handler_exception and answer 500: a bug either way.
        std::rethrow_exception(error);
    }
    FUZZ_CHECK(out.has_value());
    return std::move(*out);
}

// Parses and answers one request from `input` (consuming what the parser used); false when the
// connection would close after it.
bool serve_one(service& svc, std::string& buffer, std::string_view& input, std::size_t chunk,
               const ip::address& peer)
{
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(header_limit));
    parser.body_limit(body_limit);
    parser.eager(true);

    boost::system::error_code ec;
    while (!parser.is_done()) {
        if (buffer.empty() || ec == bhttp::error::need_more) {
            if (input.empty()) {
                return false;  // the client went quiet mid-request: closed without an answer
            }
            const auto piece = input.substr(0, chunk);
            input.remove_prefix(piece.size());
            buffer.append(piece);
            // The session's buffer holds at most header + body limit + one read.
            if (buffer.size() > header_limit + body_limit + 4096) {
                ec = bhttp::error::buffer_overflow;
                break;
            }
        }
        ec = {};
        const std::size_t used = parser.put(boost::asio::buffer(buffer), ec);
        buffer.erase(0, used);
        if (ec && ec != bhttp::error::need_more) {
            break;
        }
    }

    http::request_context ctx;
    ctx.started = std::chrono::steady_clock::now();
    ctx.peer = peer;
    if (ec && ec != bhttp::error::need_more) {
        // As the session's classify(): 431, 413, else 400; the connection then closes.
        ctx.client = peer;
        ctx.assign_request_id({});
        http::response res;
        if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
            res = http::error_response(431, "REQUEST_HEADER_FIELDS_TOO_LARGE",
                                       "Request headers are too large");
        } else if (ec == bhttp::error::body_limit) {
            res = http::error_response(413, "PAYLOAD_TOO_LARGE", "Request body is too large");
        } else {
            res = http::error_response(400, "BAD_REQUEST", "Malformed HTTP request");
        }
        check_response(res, ctx, {}, false, false);
        return false;
    }

    auto& msg = parser.get();
    // The session's one pass over the head finds what lookups by name find.
    std::string forwarded_storage;
    const auto head = http::scan_head(msg.base(), msg.version(), forwarded_storage);
    FUZZ_CHECK(head.forwarded_for == http::joined_forwarded_for(msg));
    FUZZ_CHECK(head.request_id == std::string_view(msg["X-Request-Id"]));
    FUZZ_CHECK(head.traceparent == std::string_view(msg["traceparent"]));
    FUZZ_CHECK(head.user_agent == std::string_view(msg[bhttp::field::user_agent]));
    if (head.refused) {
        // Answered before routing (400, 501), then the connection closes.
        ctx.client = peer;
        ctx.assign_request_id({});
        const auto res =
            http::error_response(head.refused.status, head.refused.code, head.refused.message);
        check_response(res, ctx, {}, false, false);
        return false;
    }
    std::string target_storage;
    const std::string_view target = http::origin_form(msg.target(), target_storage);
    FUZZ_CHECK(target.size() <= msg.target().size() + 1);

    const auto verb = to_method(msg.method());
    const std::string_view client_id = msg["X-Request-Id"];
    ctx.assign_request_id(client_id);
    ctx.client = http::client_address(peer, http::joined_forwarded_for(msg), svc.trusted);
    FUZZ_CHECK(!(ctx.client.is_v6() && ctx.client.to_v6().is_v4_mapped()));
    const bool keep_alive = msg.keep_alive();

    http::request req(verb, target, msg.body(), &msg.base(), &lookup_header, ctx);
    FUZZ_CHECK(req.path().size() + req.query().size() <= req.target().size());
    const http::response res = route(svc, req);
    check_response(res, ctx, client_id, keep_alive, verb == http::method::head);
    return keep_alive;
}

}  // namespace
}  // namespace analytics::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    analytics::log::init(analytics::log::level::error, analytics::log::format::json);
    analytics::fuzz::the_service();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace analytics;
    if (size < 2) {
        return 0;
    }
    auto& svc = fuzz::the_service();
    // Reads of 1..256 bytes, or everything at once.
    const std::size_t chunk = data[0] == 0 ? size : 1 + (data[0] - 1U) % 256;
    const auto peer = fuzz::pick_peer(data[1]);
    svc.redis_up = (data[1] & 0x80) == 0;
    std::string_view input = fuzz::as_text(data + 2, size - 2);

    std::string buffer;
    // A keep-alive connection may carry any number of pipelined requests.
    while (!input.empty() || !buffer.empty()) {
        if (!fuzz::serve_one(svc, buffer, input, chunk, peer)) {
            break;
        }
    }
    return 0;
}
