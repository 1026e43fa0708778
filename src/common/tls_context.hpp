#pragma once
// The client side of TLS towards a server: an OpenSSL context that verifies the server's
// certificate chain against a PEM bundle of trusted CAs (or the system store) and the
// certificate's name against the host being called, optionally presents a certificate of its own
// (mutual TLS), and keeps the most recent session, which the next connection offers so that the
// server can resume it: an abbreviated handshake, without the certificate chain, its verification
// and the server's signature. The HTTPS upstream and every Redis connection use it.
//
// Owns: the SSL_CTX (through net::ssl::context) and one cached SSL_SESSION.
//
// Thread safety: set up (constructor, use_certificate_chain_file, use_private_key_file,
// skip_verification) on one thread before any connection uses it; afterwards the context is only
// read, which OpenSSL allows from any number of threads (each connection makes its own SSL object
// from it); the cached session sits behind a mutex, so `prepare` and `keep_session` may run
// concurrently on any thread.

#include "common/asio.hpp"

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/verify_context.hpp>

#include <functional>
#include <mutex>
#include <optional>
#include <string>

namespace analytics::common {

/// What verifying a server's certificates objected to: the first failure only.
struct certificate_rejection {
    std::string reason;     // OpenSSL's words, e.g. "certificate has expired"
    int depth = 0;          // 0: the server's own certificate, 1: its issuer, ...
    std::string subject;    // of the certificate at `depth`, RFC 2253, e.g. "CN=localhost"
    std::string issuer;     // likewise
    std::string not_after;  // its expiry, e.g. "Dec  6 14:30:20 2026 GMT"
};

class tls_context {
public:
    /// Trusts the certificates of the PEM file `ca_file` only, or the system store when
    /// `ca_file` is empty. Throws std::runtime_error saying what is wrong with the file:
    /// missing, unreadable, not a regular file, malformed PEM or no certificate in it.
    explicit tls_context(const std::string& ca_file);
    ~tls_context();

    tls_context(const tls_context&) = delete;
    tls_context& operator=(const tls_context&) = delete;

    /// Presents the certificate chain of the PEM file `cert_file` (the leaf first, then any
    /// intermediates) to servers that ask for one. Throws std::runtime_error saying what is wrong
    /// with the file, as the constructor does.
    void use_certificate_chain_file(const std::string& cert_file);

    /// The private key of that certificate, from the PEM file `key_file`. Throws
    /// std::runtime_error when the file cannot serve, the key is protected by a passphrase (there
    /// is nobody to type it), or it does not belong to the certificate; call it after
    /// use_certificate_chain_file.
    void use_private_key_file(const std::string& key_file);

    /// Accepts any certificate from the server: no chain, expiry or name check. The connection is
    /// still encrypted, but anyone on the path can impersonate the server.
    void skip_verification();

    /// False after skip_verification().
    bool verifies() const noexcept { return verifies_; }

    /// The context new TLS streams are made from.
    net::ssl::context& native() noexcept { return ctx_; }

    /// Prepares a new connection's `ssl` to call `host` (a DNS name, or an IP address literal
    /// without brackets): SNI for a name, the name or address the certificate must carry, and
    /// the cached session, if there is one. False when OpenSSL refuses (out of memory).
    bool prepare(SSL* ssl, const std::string& host);

    /// Keeps the session of `ssl` for the next connection if it can be resumed. Called once the
    /// answer has been read: a TLS 1.3 server sends its session tickets after the handshake.
    void keep_session(SSL* ssl);

    /// A callback for `net::ssl::stream::set_verify_callback` that records the first failure of
    /// the verification in `out` and changes nothing else: OpenSSL's verdict stands.
    static std::function<bool(bool, net::ssl::verify_context&)> record_rejection(
        std::optional<certificate_rejection>& out);

private:
    net::ssl::context ctx_;
    bool verifies_ = true;
    std::mutex session_mutex_;
    SSL_SESSION* session_ = nullptr;  // owned: one reference, released by the destructor
};

}  // namespace analytics::common
