#pragma once
// Certificates for the TLS tests, made at run time by the `openssl` command in a fresh temporary
// directory that is removed again: a trusted CA, server certificates that are good, signed by a
// CA nobody trusts, issued for another name, or expired, and a client certificate for mutual TLS.
// EC P-256 keys, so the whole set takes a fraction of a second.
//
// Thread safety: built once, then only read.

#include <string>

namespace analytics::test {

/// A server's certificate file (PEM) and its private key file (PEM).
struct tls_identity {
    std::string cert_file;
    std::string key_file;
};

class test_pki {
public:
    /// Makes every file; throws std::runtime_error with openssl's output when a step fails.
    test_pki();
    ~test_pki();

    test_pki(const test_pki&) = delete;
    test_pki& operator=(const test_pki&) = delete;

    /// The CA to trust (EXTERNAL_SERVICE_CA_FILE).
    const std::string& ca_file() const { return ca_file_; }

    /// Signed by the trusted CA for localhost, 127.0.0.1 and ::1, valid for a day.
    const tls_identity& good() const { return good_; }
    /// The same names, signed by another CA (not in ca_file()).
    const tls_identity& untrusted() const { return untrusted_; }
    /// Signed by the trusted CA for wrong.example only.
    const tls_identity& wrong_name() const { return wrong_name_; }
    /// Signed by the trusted CA for the right names, expired since yesterday.
    const tls_identity& expired() const { return expired_; }

    /// Signed by the trusted CA for client authentication (mutual TLS), valid for a day.
    const tls_identity& client() const { return client_; }

    /// A path inside the temporary directory (for files a test writes itself).
    std::string path(const std::string& name) const { return dir_ + "/" + name; }

private:
    void run(const std::string& command) const;
    void make_ca(const std::string& name) const;
    tls_identity make_server(const std::string& name, const std::string& ca, const std::string& san,
                             int days) const;
    tls_identity make_identity(const std::string& name, const std::string& ca,
                               const std::string& extensions, int days) const;

    std::string dir_;
    std::string ca_file_;
    tls_identity good_;
    tls_identity untrusted_;
    tls_identity wrong_name_;
    tls_identity expired_;
    tls_identity client_;
};

}  // namespace analytics::test
