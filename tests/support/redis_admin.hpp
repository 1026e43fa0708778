#pragma once
// Tools for tests that arrange a Redis server from the outside: a blocking admin connection
// (FLUSHDB, CLIENT KILL, CLIENT PAUSE, reading keys back), and private redis-server processes on
// free ports for tests that kill, stop or configure a server.
//
// Over TLS: with REDIS_TEST_TLS=1 in the environment (the redis-tls and e2e-tls CTest entries)
// every redis_process listens only with TLS (--port 0), the shared test server is such a process
// (support/redis_server.hpp), and the admin connection and test::client_options_for speak TLS to
// it. So every Redis integration and end-to-end suite runs unchanged over TLS, and anything that
// would still speak plain TCP to a server fails instead of passing unnoticed.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace analytics::test {

/// True when this run reaches Redis over TLS (REDIS_TEST_TLS=1).
bool redis_tls_run();

/// True when `port` belongs to a redis_process of this process that listens with TLS.
bool is_tls_port(std::uint16_t port);

/// A blocking connection, deliberately independent of the client under test: TLS with its own
/// OpenSSL context when `port` is a TLS server's (is_tls_port), plain TCP otherwise.
class admin_connection {
public:
    explicit admin_connection(std::uint16_t port, std::string_view password = {});

    /// Sends one command and returns its reply as text: "+OK", ":1", "-ERR ...", "$value",
    /// "$nil", or an array as "*n" followed by its elements, space separated.
    std::string command(std::initializer_list<std::string_view> args);
    std::string command(const std::vector<std::string>& args);

    /// An integer reply as a number (throws on any other reply).
    long long integer(std::initializer_list<std::string_view> args);

    /// An array reply's string elements, byte for byte (nil elements as empty strings); a bulk
    /// string reply as one element. Throws on any other reply.
    std::vector<std::string> strings(const std::vector<std::string>& args);

private:
    std::string read_line();
    std::string read_reply();
    std::string read_bulk(const std::string& line);
    void send(const std::string& bytes);

    boost::asio::io_context ioc_;
    boost::asio::ip::tcp::socket socket_;
    std::unique_ptr<boost::asio::ssl::context> tls_context_;
    std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls_;  // TLS servers
    std::string buffer_;
};

/// A loopback port nobody listens on right now: bind to port 0, read the port, let it go.
std::uint16_t free_port();

/// Waits until a server on `port` answers PING; throws after `limit`.
void wait_until_answering(std::uint16_t port, std::string_view password,
                          std::chrono::milliseconds limit = std::chrono::seconds(5));

/// A private redis-server on a free port with its own temporary directory. Killed by PID when
/// the object goes. With `tls` (by default in a TLS run) it listens with TLS only (certificates:
/// support/redis_tls.hpp).
class redis_process {
public:
    explicit redis_process(std::vector<std::string> extra_args = {}, std::string password = {},
                           bool tls = redis_tls_run());
    ~redis_process();

    redis_process(const redis_process&) = delete;
    redis_process& operator=(const redis_process&) = delete;

    /// Starts the server (again, on the same port and directory) and waits until it answers.
    void start();

    /// Kills the server with SIGKILL, as a crash would, and reaps it.
    void kill();

    /// Freezes the server (SIGSTOP): connections stay open, nothing is answered.
    void freeze();
    void thaw();

    std::uint16_t port() const { return port_; }
    /// The same as port() for a TLS server, 0 for a plain one.
    std::uint16_t tls_port() const { return tls_port_; }
    const std::string& dir() const { return dir_; }

private:
    std::uint16_t port_;
    std::uint16_t tls_port_ = 0;
    std::vector<std::string> extra_args_;
    std::string password_;
    std::string dir_;
    pid_t pid_ = -1;
};

}  // namespace analytics::test
