#pragma once
// A small blocking HTTP/1.1 client for end-to-end tests: keep-alive connections, raw bytes for
// hostile-input tests, and a receive timeout on every read so a test can never hang.

#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace analytics::test {

struct http_reply {
    unsigned status = 0;
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;

    /// The header's value, or empty.
    std::string header(const std::string& lower_name) const;
    /// The body parsed as JSON (throws when it is not JSON).
    boost::json::value json() const;
};

class http_connection {
public:
    /// Connects to 127.0.0.1:`port`, from `source` when given (another loopback address, e.g.
    /// 127.0.0.2, to be another client).
    explicit http_connection(std::uint16_t port,
                             std::chrono::milliseconds timeout = std::chrono::seconds(10),
                             std::string_view source = {});
    ~http_connection();

    http_connection(const http_connection&) = delete;
    http_connection& operator=(const http_connection&) = delete;

    /// Sends one request and reads its answer.
    http_reply request(std::string_view method, std::string_view target, std::string_view body = {},
                       const std::map<std::string, std::string>& headers = {});

    /// Writes bytes as they are.
    void send_raw(std::string_view bytes);

    /// Reads one answer; nullopt when the connection closed or the timeout passed first.
    std::optional<http_reply> read_reply();

    /// True when the server closes the connection (EOF or reset) within the timeout.
    bool wait_closed();

    /// False once a read or write failed.
    bool open() const;

    /// True when the server has closed the connection (EOF or reset), looking without waiting:
    /// a client checks this before it writes a request on a kept-alive connection.
    bool closed_by_server();

private:
    std::optional<http_reply> read_reply_to(bool head);

    struct impl;
    std::unique_ptr<impl> impl_;
};

/// One request on a fresh connection.
http_reply http_request(std::uint16_t port, std::string_view method, std::string_view target,
                        std::string_view body = {},
                        const std::map<std::string, std::string>& headers = {});

}  // namespace analytics::test
