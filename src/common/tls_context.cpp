#include "common/tls_context.hpp"

#include <boost/asio/ip/address.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdexcept>
#include <sys/stat.h>
#include <utility>

namespace analytics::common {

namespace {

using bio_ptr = std::unique_ptr<BIO, decltype(&BIO_free)>;

[[noreturn]] void fail(const std::string& path, std::string_view why)
{
    throw std::runtime_error("\"" + path + "\": " + std::string(why));
}

// The newest OpenSSL error as text, and the queue emptied: the queue is per thread, and a
// leftover entry would be blamed on the next TLS operation of this thread.
std::string openssl_reason()
{
    const unsigned long code = ERR_peek_last_error();
    ERR_clear_error();
    if (code == 0) {
        return "unknown error";
    }
    const char* reason = ERR_reason_error_string(code);
    return reason != nullptr ? reason : "error " + std::to_string(code);
}

// Far above any real bundle (Debian's whole system store is about 200 KiB), certificate chain or
// key.
constexpr std::size_t max_file_bytes = 16 * 1024 * 1024;

// POSIX calls rather than a stream, so that the reason is the system's own ("No such file or
// directory", "Permission denied"). Only a regular file: a directory, FIFO or device would
// fail obscurely or block start-up.
std::string read_regular_file(const std::string& path)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail(path, std::strerror(errno));
    }
    struct closer {
        int fd;
        ~closer() { ::close(fd); }
    } const guard{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        fail(path, std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        fail(path, "not a regular file");
    }
    std::string text;
    char chunk[16 * 1024];
    for (;;) {
        const auto n = ::read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            fail(path, std::strerror(errno));
        }
        if (n == 0) {
            return text;
        }
        text.append(chunk, static_cast<std::size_t>(n));
        if (text.size() > max_file_bytes) {
            fail(path, "larger than 16 MiB, not a PEM file of certificates or a key");
        }
    }
}

// Makes the certificates of a PEM bundle the context's only trust anchors.
void trust_only(SSL_CTX* ctx, const std::string& path)
{
    const std::string pem = read_regular_file(path);
    const bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
    if (!bio) {
        fail(path, openssl_reason());
    }
    using info_stack = STACK_OF(X509_INFO);
    const std::unique_ptr<info_stack, void (*)(info_stack*)> infos(
        PEM_X509_INFO_read_bio(bio.get(), nullptr, nullptr, nullptr),
        [](info_stack* s) { sk_X509_INFO_pop_free(s, X509_INFO_free); });
    if (!infos) {
        fail(path, "not a valid PEM file: " + openssl_reason());
    }
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    int certificates = 0;
    for (int i = 0; i < sk_X509_INFO_num(infos.get()); ++i) {
        X509_INFO* info = sk_X509_INFO_value(infos.get(), i);
        if (info->x509 == nullptr) {
            continue;
        }
        if (X509_STORE_add_cert(store, info->x509) != 1) {
            fail(path, "certificate " + std::to_string(certificates + 1) + ": " + openssl_reason());
        }
        ++certificates;
    }
    ERR_clear_error();
    if (certificates == 0) {
        fail(path, "holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
    }
}

// What `print` wrote into a memory BIO, or empty when it failed.
template <class Print>
std::string printed(Print print)
{
    const bio_ptr out(BIO_new(BIO_s_mem()), &BIO_free);
    if (!out || !print(out.get())) {
        ERR_clear_error();
        return {};
    }
    char* data = nullptr;
    const long size = BIO_ctrl(out.get(), BIO_CTRL_INFO, 0, &data);  // BIO_get_mem_data
    return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

std::string name_text(const X509_NAME* name)
{
    return printed([name](BIO* out) {
        return name != nullptr && X509_NAME_print_ex(out, name, 0, XN_FLAG_RFC2253) >= 0;
    });
}

std::string time_text(const ASN1_TIME* t)
{
    return printed([t](BIO* out) { return t != nullptr && ASN1_TIME_print(out, t) == 1; });
}

}  // namespace

tls_context::tls_context(const std::string& ca_file) : ctx_(net::ssl::context::tls_client)
{
    SSL_CTX* ctx = ctx_.native_handle();
    // TLS 1.0 and 1.1 are deprecated (RFC 8996); Debian's OpenSSL refuses them too, but the
    // floor should not depend on the system's openssl.cnf.
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        throw std::runtime_error("cannot set the minimum TLS version: " + openssl_reason());
    }
    ctx_.set_verify_mode(net::ssl::verify_peer);
    if (ca_file.empty()) {
        ctx_.set_default_verify_paths();
    } else {
        trust_only(ctx, ca_file);
    }
}

void tls_context::use_certificate_chain_file(const std::string& cert_file)
{
    const std::string pem = read_regular_file(cert_file);
    boost::system::error_code ec;
    ctx_.use_certificate_chain(net::buffer(pem), ec);
    ERR_clear_error();
    if (ec) {
        fail(cert_file, "not a PEM certificate chain: " + ec.message());
    }
}

void tls_context::use_private_key_file(const std::string& key_file)
{
    const std::string pem = read_regular_file(key_file);
    // OpenSSL's default would ask for the passphrase on the terminal and wait for an answer.
    if (pem.find("ENCRYPTED") != std::string::npos) {
        fail(key_file, "the key is protected by a passphrase, which is not supported");
    }
    const bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
    if (!bio) {
        fail(key_file, openssl_reason());
    }
    pem_password_cb* no_passphrase = [](char*, int, int, void*) { return 0; };
    const std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
        PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr), &EVP_PKEY_free);
    if (!key) {
        fail(key_file, "not a usable PEM private key: " + openssl_reason());
    }
    SSL_CTX* ctx = ctx_.native_handle();
    if (const X509* cert = SSL_CTX_get0_certificate(ctx);
        cert != nullptr && X509_check_private_key(cert, key.get()) != 1) {
        ERR_clear_error();
        fail(key_file, "does not belong to the certificate");
    }
    if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1) {
        fail(key_file, "cannot be used: " + openssl_reason());
    }
}

void tls_context::skip_verification()
{
    ctx_.set_verify_mode(net::ssl::verify_none);
    verifies_ = false;
}

tls_context::~tls_context()
{
    SSL_SESSION_free(session_);
}

bool tls_context::prepare(SSL* ssl, const std::string& host)
{
    boost::system::error_code not_an_address;
    net::ip::make_address(host, not_an_address);
    if (not_an_address) {
        // RFC 6066: SNI carries host names only, never address literals.
        // SSL_set_tlsext_host_name, without the macro's C-style cast.
        const long sni = SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                                  const_cast<char*>(host.c_str()));
        if (sni != 1 || SSL_set1_host(ssl, host.c_str()) != 1) {
            ERR_clear_error();
            return false;
        }
        // `*.example.com` matches `api.example.com`, but `a*.example.com` matches nothing.
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    } else if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) != 1) {
        ERR_clear_error();
        return false;
    }

    std::lock_guard lock(session_mutex_);
    if (session_ != nullptr && SSL_set_session(ssl, session_) != 1) {
        // Not fatal: the handshake is then a full one.
        ERR_clear_error();
    }
    return true;
}

void tls_context::keep_session(SSL* ssl)
{
    SSL_SESSION* fresh = SSL_get1_session(ssl);
    if (fresh == nullptr) {
        return;
    }
    if (SSL_SESSION_is_resumable(fresh) != 1) {
        SSL_SESSION_free(fresh);
        return;
    }
    {
        std::lock_guard lock(session_mutex_);
        std::swap(session_, fresh);
    }
    SSL_SESSION_free(fresh);  // the one it replaced, freed outside the lock
}

std::function<bool(bool, net::ssl::verify_context&)> tls_context::record_rejection(
    std::optional<certificate_rejection>& out)
{
    return [&out](bool preverified, net::ssl::verify_context& verify) {
        if (preverified || out) {
            return preverified;
        }
        X509_STORE_CTX* ctx = verify.native_handle();
        certificate_rejection r;
        r.reason = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
        r.depth = X509_STORE_CTX_get_error_depth(ctx);
        if (const X509* cert = X509_STORE_CTX_get_current_cert(ctx)) {
            r.subject = name_text(X509_get_subject_name(cert));
            r.issuer = name_text(X509_get_issuer_name(cert));
            r.not_after = time_text(X509_get0_notAfter(cert));
        }
        out = std::move(r);
        return false;
    };
}

}  // namespace analytics::common
