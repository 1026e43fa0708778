#include "e2e/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/time.h>

namespace analytics::test {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

std::string http_reply::header(const std::string& lower_name) const
{
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string{} : it->second;
}

boost::json::value http_reply::json() const
{
    return boost::json::parse(body);
}

struct http_connection::impl {
    asio::io_context ioc;
    asio::ip::tcp::socket socket{ioc};
    boost::beast::flat_buffer buffer;
    bool ok = true;
};

http_connection::http_connection(std::uint16_t port, std::chrono::milliseconds timeout,
                                 std::string_view source)
    : impl_(std::make_unique<impl>())
{
    if (!source.empty()) {
        impl_->socket.open(asio::ip::tcp::v4());
        impl_->socket.bind({asio::ip::make_address(std::string(source)), 0});
    }
    impl_->socket.connect({asio::ip::make_address("127.0.0.1"), port});
    timeval tv{};
    tv.tv_sec = static_cast<long>(timeout.count() / 1000);
    tv.tv_usec = static_cast<long>((timeout.count() % 1000) * 1000);
    ::setsockopt(impl_->socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(impl_->socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

http_connection::~http_connection() = default;

bool http_connection::open() const
{
    return impl_->ok;
}

void http_connection::send_raw(std::string_view bytes)
{
    boost::system::error_code ec;
    asio::write(impl_->socket, asio::buffer(bytes.data(), bytes.size()), ec);
    if (ec) {
        impl_->ok = false;
    }
}

std::optional<http_reply> http_connection::read_reply()
{
    return read_reply_to(false);
}

std::optional<http_reply> http_connection::read_reply_to(bool head)
{
    bhttp::response_parser<bhttp::string_body> parser;
    // The answer to HEAD announces a body it does not carry.
    parser.skip(head);
    parser.body_limit(64 * 1024 * 1024);
    boost::system::error_code ec;
    bhttp::read(impl_->socket, impl_->buffer, parser, ec);
    if (ec) {
        impl_->ok = false;
        return std::nullopt;
    }
    http_reply r;
    auto& msg = parser.get();
    r.status = msg.result_int();
    for (const auto& f : msg) {
        std::string name(f.name_string());
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        r.headers[name] = std::string(f.value());
    }
    r.body = std::move(msg.body());
    return r;
}

http_reply http_connection::request(std::string_view method, std::string_view target,
                                    std::string_view body,
                                    const std::map<std::string, std::string>& headers)
{
    bhttp::request<bhttp::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    req.set(bhttp::field::host, "127.0.0.1");
    bool has_content_type = false;
    for (const auto& [k, v] : headers) {
        req.set(k, v);
        has_content_type = has_content_type || k == "Content-Type" || k == "content-type";
    }
    if (!body.empty() && !has_content_type) {
        req.set(bhttp::field::content_type, "application/json");
    }
    req.body() = std::string(body);
    req.prepare_payload();
    boost::system::error_code ec;
    bhttp::write(impl_->socket, req, ec);
    if (ec) {
        impl_->ok = false;
        throw std::runtime_error("write failed: " + ec.message());
    }
    auto reply = read_reply_to(method == "HEAD");
    if (!reply) {
        throw std::runtime_error("no answer to " + std::string(method) + " " + std::string(target));
    }
    return std::move(*reply);
}

bool http_connection::wait_closed()
{
    char byte;
    for (;;) {
        const ssize_t n = ::recv(impl_->socket.native_handle(), &byte, 1, 0);
        if (n == 0) {
            return true;
        }
        if (n < 0) {
            // A reset counts as closed; a receive timeout does not.
            return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
        }
    }
}

bool http_connection::closed_by_server()
{
    char byte;
    const ssize_t n = ::recv(impl_->socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) {
        return true;
    }
    return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

http_reply http_request(std::uint16_t port, std::string_view method, std::string_view target,
                        std::string_view body, const std::map<std::string, std::string>& headers)
{
    http_connection c(port);
    return c.request(method, target, body, headers);
}

}  // namespace analytics::test
