#pragma once
// The external service as a real HTTP upstream (EXTERNAL_SERVICE_URL): each call is one
// HTTP/1.1 GET on a fresh connection (`Connection: close`); the call succeeds iff the status is
// 2xx. A failed lookup, refused connection, failed TLS handshake, broken or malformed answer is
// a failure. Only the status line and headers are read. The Beast code of the project's
// outbound HTTP lives in the .cpp, so no other translation unit pays for it.
//
// With an https:// URL the connection runs TLS (OpenSSL, through Asio's SSL stream): the server
// must present a certificate chain that verifies against EXTERNAL_SERVICE_CA_FILE (or the system
// store) and names the URL's host, which is also sent as SNI. A rejected certificate fails the
// call like any other upstream failure and is logged once per incident
// (`upstream.certificate_rejected`, then `.ended` with the count once a certificate passes
// again). Each connection still carries one request, but offers the session of an earlier one,
// so most calls resume it instead of paying a full handshake.
//
// Owns: the parsed URL parts, the TLS context with its cached session, the incident log.
// Each call owns its resolver state, socket and TLS stream.
//
// Thread safety: `call` may run concurrently on any thread, on the calling coroutine's
// executor, which must not run handlers concurrently (an io_context run by one thread, or a
// strand), as with every worker in this project. The URL parts are immutable after
// construction; the TLS context and the incident log are safe across threads.

#include "common/degraded_mode.hpp"
#include "upstream/external_service.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace analytics::common {
class tls_context;
}

namespace analytics::upstream {

class http_service final : public external_service {
public:
    /// `url` is `http[s]://host[:port][/path]` (config::from_env checks the form); throws
    /// std::invalid_argument for anything else. For https, `ca_file` names a PEM bundle of
    /// the CAs to trust instead of the system store; a file that cannot serve throws
    /// config::config_error naming EXTERNAL_SERVICE_CA_FILE. An http:// URL ignores `ca_file`.
    explicit http_service(std::string_view url, const std::string& ca_file = {});
    ~http_service() override;

    /// GET the URL. No deadline of its own: wrap it in `common::with_timeout`; cancellation
    /// interrupts any step, including a stuck DNS lookup or TLS handshake.
    net::awaitable<call_result> call(std::string_view what) override;

    /// True for an https:// URL.
    bool uses_tls() const noexcept { return tls_ != nullptr; }

private:
    std::string host_;                  // the name or address to connect to, no IPv6 brackets
    std::uint16_t port_number_ = 80;    // 80 (http) or 443 (https) when the URL has none
    std::string port_;                  // the same, as the resolver's service name
    std::string target_;                // the request target, at least "/"
    std::string host_header_;           // host[:port] as written in the URL
    std::unique_ptr<common::tls_context> tls_;  // null for http://
    common::degraded_mode certificates_rejected_{"upstream.certificate_rejected"};
};

}  // namespace analytics::upstream
