#include "upstream/http_service.hpp"

#include "common/with_timeout.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

namespace analytics::upstream {
namespace {

using namespace std::chrono_literals;
using tcp = net::ip::tcp;

// A one-connection HTTP server on 127.0.0.1 and a free port: it reads one request head and then
// writes `answer`, or, without an answer, keeps the connection open until the client goes.
class tiny_server {
public:
    tiny_server(net::io_context& ioc, std::optional<std::string> answer)
        : acceptor_(ioc, tcp::endpoint(net::ip::address_v4::loopback(), 0)),
          answer_(std::move(answer))
    {
        net::co_spawn(ioc, serve(), net::detached);
    }

    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    std::string url(std::string_view path = "/") const
    {
        return "http://127.0.0.1:" + std::to_string(port()) + std::string(path);
    }

    const std::string& request_head() const { return head_; }
    bool client_went_away() const { return client_went_away_; }

private:
    net::awaitable<void> serve()
    {
        auto [ec, socket] = co_await acceptor_.async_accept(common::use_nothrow);
        if (ec) {
            co_return;
        }
        std::string buffer;
        auto [rec, n] = co_await net::async_read_until(socket, net::dynamic_buffer(buffer),
                                                       "\r\n\r\n", common::use_nothrow);
        if (rec) {
            co_return;
        }
        head_ = buffer.substr(0, n);
        if (answer_) {
            co_await net::async_write(socket, net::buffer(*answer_), common::use_nothrow);
            co_return;
        }
        // Never answer; notice when the client closes its end.
        char byte = 0;
        auto [eof, m] =
            co_await net::async_read(socket, net::buffer(&byte, 1), common::use_nothrow);
        (void)m;
        client_went_away_ = eof == net::error::eof || eof == net::error::connection_reset;
    }

    tcp::acceptor acceptor_;
    std::optional<std::string> answer_;
    std::string head_;
    bool client_went_away_ = false;
};

// Runs `aw` on `ioc` until it finishes (other work, like a server, may remain) and returns its
// value; fails the test after `limit`.
template <class T>
T run_until_done(net::io_context& ioc, net::awaitable<T> aw, std::chrono::seconds limit = 10s)
{
    std::optional<T> out;
    std::exception_ptr error;
    net::co_spawn(ioc, std::move(aw), [&](std::exception_ptr e, T value) {
        error = e;
        out.emplace(std::move(value));
        ioc.stop();
    });
    ioc.run_for(limit);
    ioc.restart();
    if (error) {
        std::rethrow_exception(error);
    }
    if (!out) {
        ADD_FAILURE() << "the call did not finish";
        return T{};
    }
    return std::move(*out);
}

call_result call(net::io_context& ioc, http_service& svc)
{
    return run_until_done(ioc, svc.call("summary:cpu:all"));
}

TEST(upstream_http_service, succeeds_on_a_2xx_answer)
{
    net::io_context ioc;
    tiny_server server(ioc, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
    http_service svc(server.url("/check"));
    const auto r = call(ioc, svc);
    EXPECT_TRUE(r.ok()) << r.reason;
    EXPECT_TRUE(r.reason.empty());
}

TEST(upstream_http_service, sends_a_get_for_the_url_path_with_its_host)
{
    net::io_context ioc;
    tiny_server server(ioc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    http_service svc(server.url("/v1/ping"));
    EXPECT_TRUE(call(ioc, svc).ok());
    const auto& head = server.request_head();
    EXPECT_EQ(head.rfind("GET /v1/ping HTTP/1.1\r\n", 0), 0U) << head;
    EXPECT_NE(head.find("Host: 127.0.0.1:" + std::to_string(server.port()) + "\r\n"),
              std::string::npos)
        << head;
    EXPECT_NE(head.find("Connection: close\r\n"), std::string::npos) << head;
}

TEST(upstream_http_service, requests_the_root_when_the_url_has_no_path)
{
    net::io_context ioc;
    tiny_server server(ioc, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    http_service svc("http://127.0.0.1:" + std::to_string(server.port()));
    EXPECT_TRUE(call(ioc, svc).ok());
    EXPECT_EQ(server.request_head().rfind("GET / HTTP/1.1\r\n", 0), 0U);
}

TEST(upstream_http_service, fails_on_a_500_answer)
{
    net::io_context ioc;
    tiny_server server(ioc, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
    http_service svc(server.url());
    const auto r = call(ioc, svc);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.reason, "HTTP 500");
}

TEST(upstream_http_service, fails_on_a_redirect)
{
    net::io_context ioc;
    tiny_server server(ioc, "HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n");
    http_service svc(server.url());
    EXPECT_EQ(call(ioc, svc).reason, "HTTP 302");
}

TEST(upstream_http_service, fails_on_an_answer_that_is_not_http)
{
    net::io_context ioc;
    tiny_server server(ioc, "SSH-2.0-OpenSSH_9.2\r\n\r\n");
    http_service svc(server.url());
    const auto r = call(ioc, svc);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.reason.rfind("read: ", 0), 0U) << r.reason;
}

TEST(upstream_http_service, fails_when_the_connection_is_refused)
{
    net::io_context ioc;
    std::uint16_t port = 0;
    {
        // A port that was free a moment ago and has no listener now.
        tcp::acceptor probe(ioc, tcp::endpoint(net::ip::address_v4::loopback(), 0));
        port = probe.local_endpoint().port();
    }
    http_service svc("http://127.0.0.1:" + std::to_string(port) + "/");
    const auto r = call(ioc, svc);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.reason.rfind("connect: ", 0), 0U) << r.reason;
}

TEST(upstream_http_service, resolves_a_host_name)
{
    net::io_context ioc;
    tiny_server server(ioc, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    http_service svc("http://localhost:" + std::to_string(server.port()) + "/");
    const auto r = call(ioc, svc);
    EXPECT_TRUE(r.ok()) << r.reason;
}

TEST(upstream_http_service, fails_when_the_host_name_does_not_resolve)
{
    net::io_context ioc;
    // RFC 6761: .invalid never resolves.
    http_service svc("http://upstream.invalid/");
    const auto r = call(ioc, svc);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.reason.rfind("resolve: ", 0), 0U) << r.reason;
}

TEST(upstream_http_service, a_server_that_never_answers_is_cut_by_with_timeout)
{
    net::io_context ioc;
    tiny_server server(ioc, std::nullopt);
    http_service svc(server.url());
    const std::string key = "summary:cpu:all";
    const auto start = std::chrono::steady_clock::now();
    const auto r = run_until_done(ioc, common::with_timeout(svc.call(key), 100ms));
    EXPECT_FALSE(r);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    // The abandoned call closed its connection: the server sees the client leave.
    ioc.run_for(2s);
    EXPECT_TRUE(server.client_went_away());
}

TEST(upstream_http_service, a_lookup_cut_by_with_timeout_ends_the_call)
{
    net::io_context ioc;
    http_service svc("http://upstream.invalid/");
    const std::string key = "summary:cpu:all";
    // A zero deadline almost always wins against the lookup, which runs on Asio's resolver
    // thread; either way the call ends, and never with success.
    const auto r = run_until_done(ioc, common::with_timeout(svc.call(key), 0ms));
    EXPECT_TRUE(!r || !r->ok());
}

TEST(upstream_http_service, rejects_urls_it_cannot_call)
{
    EXPECT_THROW(http_service("ftp://example.com/"), std::invalid_argument);
    EXPECT_THROW(http_service("not a url"), std::invalid_argument);
    EXPECT_THROW(http_service("http:///path"), std::invalid_argument);
    EXPECT_THROW(http_service("http://host:0/"), std::invalid_argument);
}

}  // namespace
}  // namespace analytics::upstream
