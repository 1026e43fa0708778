#pragma once
// An HTTPS upstream for tests, on 127.0.0.1 and a free port, served by its own thread: every
// connection gets a TLS handshake with the identity currently in use, one request head is read
// and answered with the configured status (`Connection: close`), then the connection is shut
// down. It counts what it saw, so tests can tell a resumed session from a full handshake.
//
// Owns: its io_context, thread, acceptor and the TLS contexts of the identities it was given.
//
// Thread safety: every public function may be called from any thread while it serves.

#include "support/test_pki.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace analytics::test {

class tls_upstream {
public:
    /// Starts serving with `identity`, answering every request with `status`.
    explicit tls_upstream(const tls_identity& identity, unsigned status = 200);
    /// Stops the thread; connections still open are dropped.
    ~tls_upstream();

    tls_upstream(const tls_upstream&) = delete;
    tls_upstream& operator=(const tls_upstream&) = delete;

    std::uint16_t port() const;

    /// `https://<host>:<port><path>`; `host` may be a name or an address (IPv6 in brackets).
    std::string url(std::string_view host = "127.0.0.1", std::string_view path = "/check") const;

    /// Connections accepted from now on present `identity`.
    void use(const tls_identity& identity);

    /// Handshakes completed, and how many of them resumed an earlier session.
    std::size_t handshakes() const;
    std::size_t resumed() const;
    /// Requests read (each is then answered). Handshakes and requests are counted before the
    /// client can see an answer, so a client that has one also sees the counts.
    std::size_t requests() const;

    /// The last request head read, and the server name (SNI) its client sent ("" for none).
    std::string last_request() const;
    std::string last_server_name() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace analytics::test
