#include "support/cutting_proxy.hpp"

#include "common/asio.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <charconv>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace analytics::test {

namespace {

using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using namespace boost::asio::experimental::awaitable_operators;
constexpr auto nothrow = net::as_tuple(net::use_awaitable);

// Reads a RESP "<prefix><number>\r\n" line at `at`; advances `at` past it.
std::optional<long> read_line_number(std::string_view buf, std::size_t& at, char prefix)
{
    if (at >= buf.size() || buf[at] != prefix) {
        return std::nullopt;
    }
    const auto end = buf.find("\r\n", at);
    if (end == std::string_view::npos) {
        return std::nullopt;
    }
    long n = 0;
    const auto [p, ec] = std::from_chars(buf.data() + at + 1, buf.data() + end, n);
    if (ec != std::errc{} || p != buf.data() + end) {
        return std::nullopt;
    }
    at = end + 2;
    return n;
}

// Where each command of `buf` starts, when `buf` is whole commands (arrays of bulk strings)
// and nothing else; nothing when the last one is still incomplete.
std::optional<std::vector<std::size_t>> command_starts(std::string_view buf)
{
    std::vector<std::size_t> starts;
    std::size_t at = 0;
    while (at < buf.size()) {
        starts.push_back(at);
        const auto count = read_line_number(buf, at, '*');
        if (!count) {
            return std::nullopt;
        }
        for (long i = 0; i < *count; ++i) {
            const auto len = read_line_number(buf, at, '$');
            if (!len || at + static_cast<std::size_t>(*len) + 2 > buf.size()) {
                return std::nullopt;
            }
            at += static_cast<std::size_t>(*len) + 2;
        }
    }
    return starts;
}

}  // namespace

struct cutting_proxy::impl {
    explicit impl(std::uint16_t redis_port)
        : upstream(net::ip::make_address("127.0.0.1"), redis_port),
          acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)),
          port(acceptor.local_endpoint().port())
    {
        net::co_spawn(ioc, accept_loop(), net::detached);
        thread = std::thread([this] { ioc.run(); });
    }

    ~impl()
    {
        ioc.stop();
        thread.join();
    }

    net::awaitable<void> accept_loop()
    {
        for (;;) {
            auto [ec, client] = co_await acceptor.async_accept(nothrow);
            if (ec) {
                co_return;
            }
            auto server = std::make_shared<tcp::socket>(ioc);
            auto [connect_ec] = co_await server->async_connect(upstream, nothrow);
            if (connect_ec) {
                continue;
            }
            auto near = std::make_shared<tcp::socket>(std::move(client));
            net::co_spawn(ioc, copy(server, near), net::detached);
            net::co_spawn(ioc, forward_requests(near, server), net::detached);
        }
    }

    // Replies, as they come.
    static net::awaitable<void> copy(std::shared_ptr<tcp::socket> from,
                                     std::shared_ptr<tcp::socket> to)
    {
        std::array<char, 16384> buf{};
        for (;;) {
            auto [ec, n] = co_await from->async_read_some(net::buffer(buf), nothrow);
            if (ec) {
                break;
            }
            auto [write_ec, written] =
                co_await net::async_write(*to, net::buffer(buf.data(), n), nothrow);
            if (write_ec) {
                break;
            }
        }
        boost::system::error_code ignored;
        from->close(ignored);
        to->close(ignored);
    }

    // Requests: passed on, until armed; then one pipeline loses its last command.
    net::awaitable<void> forward_requests(std::shared_ptr<tcp::socket> client,
                                          std::shared_ptr<tcp::socket> server)
    {
        std::array<char, 16384> buf{};
        std::string held;
        for (;;) {
            auto [ec, n] = co_await client->async_read_some(net::buffer(buf), nothrow);
            if (ec) {
                break;
            }
            if (!armed.load()) {
                auto [write_ec, written] =
                    co_await net::async_write(*server, net::buffer(buf.data(), n), nothrow);
                if (write_ec) {
                    break;
                }
                continue;
            }
            held.append(buf.data(), n);
            // The whole pipeline is in once it parses as whole commands and nothing more
            // comes for a moment.
            const auto starts = command_starts(held);
            if (!starts || co_await more_arrives(*client)) {
                continue;
            }
            armed = false;
            cut = static_cast<int>(starts->size()) - 1;
            auto [write_ec, written] = co_await net::async_write(
                *server, net::buffer(held.data(), starts->back()), nothrow);
            (void)write_ec;
            break;
        }
        boost::system::error_code ignored;
        client->close(ignored);
        server->close(ignored);
    }

    // True when the client sends more within a short while (its bytes are left unread).
    net::awaitable<bool> more_arrives(tcp::socket& client)
    {
        net::steady_timer timer(ioc, 50ms);
        auto outcome = co_await (client.async_wait(tcp::socket::wait_read, nothrow) ||
                                 timer.async_wait(nothrow));
        co_return outcome.index() == 0;
    }

    net::io_context ioc;
    tcp::endpoint upstream;
    tcp::acceptor acceptor;
    const std::uint16_t port;
    std::atomic<bool> armed{false};
    std::atomic<int> cut{0};
    std::thread thread;
};

cutting_proxy::cutting_proxy(std::uint16_t redis_port) : impl_(std::make_unique<impl>(redis_port))
{
}

cutting_proxy::~cutting_proxy() = default;

std::uint16_t cutting_proxy::port() const noexcept
{
    return impl_->port;
}

void cutting_proxy::arm() noexcept
{
    impl_->armed = true;
}

int cutting_proxy::forwarded_of_cut() const noexcept
{
    return impl_->cut.load();
}

}  // namespace analytics::test
