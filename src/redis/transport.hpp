#pragma once
// The byte stream of one connection to one Redis server: TCP, or TLS over TCP when the client's
// options carry a TLS context. connect() resolves the host, connects and, with TLS, runs the
// handshake, all within options.connect_timeout: a server that accepts but never completes the
// handshake is as unusable as one that does not accept. The handshake sends SNI and requires the
// certificate to name options.tls_server_name, or else the host connected to. redis::connection
// and redis::subscriber read and write through this class and never see which of the two it is.
//
// Owns: the resolver, the socket, the TLS stream of the current connection (a fresh one for each
// connect()) and the timer of the connect deadline.
//
// Thread safety: one io_context thread, like the connection that owns it. As on a socket, one
// read and one write may be in flight at the same time.

#include "common/asio.hpp"
#include "redis/client.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <tuple>

namespace analytics::redis {

class transport {
public:
    using io_result = std::tuple<boost::system::error_code, std::size_t>;

    /// Reaches options.host:options.port as `options` says; `options` must outlive this object.
    transport(const net::any_io_executor& executor, const client_options& options);
    ~transport();

    transport(const transport&) = delete;
    transport& operator=(const transport&) = delete;

    /// Closes the previous connection, if any, then connects and, with TLS, completes the
    /// handshake. errc::timeout when options.connect_timeout passed first; any other failure is
    /// the failing step's error code, and failure() says which step failed and why, with the
    /// certificate's details when verification rejected it. Call it only while no read or write
    /// is in flight.
    net::awaitable<boost::system::error_code> connect();

    /// The last connect() failure in words, for the log: "tls handshake: certificate rejected:
    /// hostname mismatch (subject CN=..., issuer CN=..., expires ...)". Empty after a success.
    const std::string& failure() const noexcept;

    /// Reads what has arrived (at least one byte) into `buffer`, which must stay alive until
    /// the co_await completes.
    net::awaitable<io_result> read_some(net::mutable_buffer buffer);

    /// Writes all of `buffer`, which must stay alive until the co_await completes.
    net::awaitable<io_result> write(net::const_buffer buffer);

    /// Closes the connection at once, without TLS's close_notify (Redis does not need one):
    /// a connect(), read or write in flight completes with an error.
    void close();

    /// True when connections run TLS.
    bool uses_tls() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace analytics::redis
