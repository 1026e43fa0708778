// Setting up the client side of TLS: the certificate and key a client presents for mutual TLS,
// and what is wrong with files that cannot serve. Handshakes with these settings are tested
// against real servers (tests/redis, tests/upstream).

#include "common/tls_context.hpp"

#include "support/test_pki.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

namespace analytics::common {
namespace {

// The message of what `f` throws, or "" when it does not.
template <class F>
std::string error_of(F f)
{
    try {
        f();
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return {};
}

bool contains(const std::string& text, const std::string& part)
{
    return text.find(part) != std::string::npos;
}

class tls_context_setup : public ::testing::Test {
protected:
    test::test_pki pki;
    tls_context tls{pki.ca_file()};
};

TEST_F(tls_context_setup, accepts_a_client_certificate_with_its_key_and_verifies_by_default)
{
    EXPECT_EQ(error_of([&] { tls.use_certificate_chain_file(pki.client().cert_file); }), "");
    EXPECT_EQ(error_of([&] { tls.use_private_key_file(pki.client().key_file); }), "");
    EXPECT_TRUE(tls.verifies());
    tls.skip_verification();
    EXPECT_FALSE(tls.verifies());
}

TEST_F(tls_context_setup, refuses_a_key_that_belongs_to_another_certificate)
{
    tls.use_certificate_chain_file(pki.client().cert_file);
    const auto message = error_of([&] { tls.use_private_key_file(pki.good().key_file); });
    EXPECT_TRUE(contains(message, pki.good().key_file)) << message;
    EXPECT_TRUE(contains(message, "does not belong to the certificate")) << message;
}

TEST_F(tls_context_setup, refuses_a_passphrase_protected_key_instead_of_asking_for_it)
{
    const std::string encrypted = pki.path("encrypted.key");
    const std::string command = "openssl pkey -in '" + pki.client().key_file +
                                "' -aes256 -passout pass:secret -out '" + encrypted + "'";
    ASSERT_EQ(std::system(command.c_str()), 0);
    tls.use_certificate_chain_file(pki.client().cert_file);
    const auto message = error_of([&] { tls.use_private_key_file(encrypted); });
    EXPECT_TRUE(contains(message, "passphrase")) << message;
}

TEST_F(tls_context_setup, names_the_file_and_the_reason_when_a_file_cannot_serve)
{
    const std::string empty = pki.path("empty.pem");
    std::ofstream(empty) << "not a certificate\n";
    struct bad_file {
        std::string path;
        std::string reason;
    };
    for (const auto& [path, reason] : {
             bad_file{pki.path("missing.pem"), "No such file or directory"},
             bad_file{pki.path(""), "not a regular file"},
             bad_file{empty, "not a PEM certificate chain"},
         }) {
        const auto message = error_of([&] { tls.use_certificate_chain_file(path); });
        EXPECT_TRUE(contains(message, "\"" + path + "\"")) << message;
        EXPECT_TRUE(contains(message, reason)) << message;
    }
    tls.use_certificate_chain_file(pki.client().cert_file);
    for (const auto& [path, reason] : {
             bad_file{pki.path("missing.key"), "No such file or directory"},
             bad_file{empty, "not a usable PEM private key"},
             // A certificate where the key should be.
             bad_file{pki.client().cert_file, "not a usable PEM private key"},
         }) {
        const auto message = error_of([&] { tls.use_private_key_file(path); });
        EXPECT_TRUE(contains(message, "\"" + path + "\"")) << message;
        EXPECT_TRUE(contains(message, reason)) << message;
    }
}

}  // namespace
}  // namespace analytics::common
