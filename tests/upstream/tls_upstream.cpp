#include "upstream/tls_upstream.hpp"

#include "common/asio.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>

#include <atomic>
#include <mutex>
#include <openssl/ssl.h>
#include <optional>
#include <thread>

namespace analytics::test {

namespace {

using tcp = net::ip::tcp;

std::shared_ptr<net::ssl::context> server_context(const tls_identity& identity)
{
    auto ctx = std::make_shared<net::ssl::context>(net::ssl::context::tls_server);
    ctx->use_certificate_chain_file(identity.cert_file);
    ctx->use_private_key_file(identity.key_file, net::ssl::context::pem);
    return ctx;
}

}  // namespace

struct tls_upstream::impl {
    impl(const tls_identity& identity, unsigned status)
        : answer("HTTP/1.1 " + std::to_string(status) +
                 " Test\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"),
          context(server_context(identity))
    {
    }

    net::awaitable<void> accept_loop()
    {
        for (;;) {
            auto [ec, socket] = co_await acceptor->async_accept(common::use_nothrow);
            if (ec) {
                co_return;
            }
            net::co_spawn(acceptor->get_executor(), serve(std::move(socket)), net::detached);
        }
    }

    net::awaitable<void> serve(tcp::socket socket)
    {
        std::shared_ptr<net::ssl::context> ctx;
        {
            std::lock_guard lock(mutex);
            ctx = context;
        }
        net::ssl::stream<tcp::socket> stream(std::move(socket), *ctx);
        auto [hec] =
            co_await stream.async_handshake(net::ssl::stream_base::server, common::use_nothrow);
        if (hec) {
            co_return;
        }
        SSL* ssl = stream.native_handle();
        const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
        {
            std::lock_guard lock(mutex);
            last_server_name = sni != nullptr ? sni : "";
        }
        if (SSL_session_reused(ssl) == 1) {
            ++resumed;
        }
        ++handshakes;

        std::string head;
        auto [rec, n] = co_await net::async_read_until(stream, net::dynamic_buffer(head),
                                                       "\r\n\r\n", common::use_nothrow);
        if (rec) {
            co_return;
        }
        {
            std::lock_guard lock(mutex);
            last_request = head.substr(0, n);
        }
        // Counted before the answer goes out, so a client that has its answer sees the count.
        ++requests;
        auto [wec, written] =
            co_await net::async_write(stream, net::buffer(answer), common::use_nothrow);
        if (wec) {
            co_return;
        }
        // close_notify both ways, as the client under test does.
        co_await stream.async_shutdown(common::use_nothrow);
    }

    std::optional<net::io_context> ioc{std::in_place, 1};
    std::optional<tcp::acceptor> acceptor{std::in_place, *ioc,
                                          tcp::endpoint(net::ip::address_v4::loopback(), 0)};
    const std::uint16_t port = acceptor->local_endpoint().port();
    const std::string answer;
    std::atomic<std::size_t> handshakes{0};
    std::atomic<std::size_t> resumed{0};
    std::atomic<std::size_t> requests{0};
    std::mutex mutex;  // guards the three below
    std::shared_ptr<net::ssl::context> context;
    std::string last_request;
    std::string last_server_name;
    std::thread thread;
};

tls_upstream::tls_upstream(const tls_identity& identity, unsigned status)
    : impl_(std::make_unique<impl>(identity, status))
{
    net::co_spawn(*impl_->ioc, impl_->accept_loop(), net::detached);
    impl_->thread = std::thread([state = impl_.get()] { state->ioc->run(); });
}

tls_upstream::~tls_upstream()
{
    impl_->ioc->stop();
    impl_->thread.join();
    // The acceptor before its io_context; then the io_context destroys the suspended
    // coroutines (and their streams) while everything they point to still exists.
    impl_->acceptor.reset();
    impl_->ioc.reset();
}

std::uint16_t tls_upstream::port() const
{
    return impl_->port;
}

std::string tls_upstream::url(std::string_view host, std::string_view path) const
{
    return "https://" + std::string(host) + ":" + std::to_string(port()) + std::string(path);
}

void tls_upstream::use(const tls_identity& identity)
{
    auto ctx = server_context(identity);
    std::lock_guard lock(impl_->mutex);
    impl_->context = std::move(ctx);
}

std::size_t tls_upstream::handshakes() const
{
    return impl_->handshakes.load();
}

std::size_t tls_upstream::resumed() const
{
    return impl_->resumed.load();
}

std::size_t tls_upstream::requests() const
{
    return impl_->requests.load();
}

std::string tls_upstream::last_request() const
{
    std::lock_guard lock(impl_->mutex);
    return impl_->last_request;
}

std::string tls_upstream::last_server_name() const
{
    std::lock_guard lock(impl_->mutex);
    return impl_->last_server_name;
}

}  // namespace analytics::test
