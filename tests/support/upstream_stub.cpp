#include "support/upstream_stub.hpp"

#include "common/asio.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <thread>

namespace analytics::test {

namespace {

using tcp = net::ip::tcp;

}  // namespace

struct upstream_stub::impl {
    explicit impl(upstream_stub& owner)
        : owner_(owner),
          acceptor_(ioc_, tcp::endpoint(net::ip::address_v4::loopback(), 0)),
          port_(acceptor_.local_endpoint().port())
    {
        net::co_spawn(ioc_, accept_loop(), net::detached);
        thread_ = std::thread([this] { ioc_.run(); });
    }

    ~impl()
    {
        ioc_.stop();
        thread_.join();
    }

    net::awaitable<void> accept_loop()
    {
        for (;;) {
            auto [ec, socket] = co_await acceptor_.async_accept(common::use_nothrow);
            if (ec) {
                co_return;
            }
            net::co_spawn(ioc_, answer(std::move(socket)), net::detached);
        }
    }

    net::awaitable<void> answer(tcp::socket socket)
    {
        std::string buffer;
        auto [ec, n] = co_await net::async_read_until(socket, net::dynamic_buffer(buffer),
                                                      "\r\n\r\n", common::use_nothrow);
        if (ec) {
            co_return;
        }
        owner_.calls_.fetch_add(1);
        net::steady_timer wait(ioc_, std::chrono::milliseconds(owner_.latency_ms_.load()));
        co_await wait.async_wait(common::use_nothrow);
        const std::string reply = "HTTP/1.1 " + std::to_string(owner_.status_.load()) +
                                  " Stub\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        co_await net::async_write(socket, net::buffer(reply), common::use_nothrow);
    }

    upstream_stub& owner_;
    net::io_context ioc_{1};
    tcp::acceptor acceptor_;
    std::uint16_t port_;
    std::thread thread_;
};

upstream_stub::upstream_stub(std::chrono::milliseconds latency)
    : latency_ms_(latency.count()), impl_(std::make_unique<impl>(*this))
{
}

upstream_stub::~upstream_stub() = default;

std::string upstream_stub::url() const
{
    return "http://127.0.0.1:" + std::to_string(impl_->port_) + "/summary";
}

}  // namespace analytics::test
