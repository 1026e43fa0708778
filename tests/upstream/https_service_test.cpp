// http_service over TLS: certificate verification (CA, name, expiry), SNI, session resumption,
// deadlines, and the CA file's checks at construction. Certificates are made by test_pki with
// the openssl command; the upstream is a real TLS server on loopback (tls_upstream).

#include "common/with_timeout.hpp"
#include "config/settings.hpp"
#include "support/run_coro.hpp"
#include "upstream/http_service.hpp"
#include "support/test_pki.hpp"
#include "upstream/tls_upstream.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

namespace analytics::upstream {
namespace {

using namespace std::chrono_literals;
using tcp = net::ip::tcp;
using test::test_pki;
using test::tls_upstream;

call_result call(http_service& svc)
{
    net::io_context ioc;
    return test::run_coro(ioc, svc.call("summary:cpu:all"));
}

std::string write_file(const test_pki& pki, const std::string& name, const std::string& text)
{
    const auto path = pki.path(name);
    std::ofstream(path) << text;
    return path;
}

std::string construction_error(const std::string& url, const std::string& ca_file)
{
    try {
        http_service svc(url, ca_file);
    } catch (const config::config_error& e) {
        return e.what();
    }
    return "(no error)";
}

class upstream_https_service : public ::testing::Test {
protected:
    test_pki pki;
};

TEST_F(upstream_https_service, succeeds_against_a_certificate_from_the_trusted_ca)
{
    tls_upstream server(pki.good());
    http_service svc(server.url("127.0.0.1", "/v1/check"), pki.ca_file());
    EXPECT_TRUE(svc.uses_tls());
    const auto r = call(svc);
    EXPECT_TRUE(r.ok()) << r.reason;
    EXPECT_EQ(server.requests(), 1U);
    const auto head = server.last_request();
    EXPECT_EQ(head.rfind("GET /v1/check HTTP/1.1\r\n", 0), 0U) << head;
    EXPECT_NE(head.find("Host: 127.0.0.1:" + std::to_string(server.port()) + "\r\n"),
              std::string::npos)
        << head;
    // RFC 6066: no SNI for an address literal.
    EXPECT_EQ(server.last_server_name(), "");
}

TEST_F(upstream_https_service, verifies_a_host_name_and_sends_it_as_sni)
{
    tls_upstream server(pki.good());
    http_service svc(server.url("localhost"), pki.ca_file());
    const auto r = call(svc);
    EXPECT_TRUE(r.ok()) << r.reason;
    EXPECT_EQ(server.last_server_name(), "localhost");
}

TEST_F(upstream_https_service, fails_on_a_non_2xx_answer_as_over_plain_http)
{
    tls_upstream server(pki.good(), 503);
    http_service svc(server.url(), pki.ca_file());
    const auto r = call(svc);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.reason, "HTTP 503");
}

TEST_F(upstream_https_service, rejects_certificates_that_do_not_verify_and_sends_them_nothing)
{
    struct bad {
        const test::tls_identity& identity;
        std::string_view host;
        std::string reason;
    };
    for (const auto& c : {
             bad{pki.untrusted(), "127.0.0.1", "unable to get local issuer certificate"},
             bad{pki.wrong_name(), "localhost", "hostname mismatch"},
             bad{pki.wrong_name(), "127.0.0.1", "IP address mismatch"},
             bad{pki.expired(), "localhost", "certificate has expired"},
         }) {
        tls_upstream server(c.identity);
        http_service svc(server.url(c.host), pki.ca_file());
        const auto r = call(svc);
        EXPECT_FALSE(r.ok());
        EXPECT_EQ(r.reason, "certificate rejected: " + c.reason) << c.identity.cert_file;
        EXPECT_EQ(server.requests(), 0U) << "no request may go to an unverified server";
    }
}

TEST_F(upstream_https_service, trusts_the_system_store_and_not_the_test_ca_without_a_ca_file)
{
    tls_upstream server(pki.good());
    http_service svc(server.url());
    const auto r = call(svc);
    EXPECT_EQ(r.reason, "certificate rejected: unable to get local issuer certificate");
}

TEST_F(upstream_https_service, later_calls_resume_the_tls_session_instead_of_a_full_handshake)
{
    tls_upstream server(pki.good());
    http_service svc(server.url("localhost"), pki.ca_file());
    for (int i = 0; i < 4; ++i) {
        const auto r = call(svc);
        ASSERT_TRUE(r.ok()) << r.reason;
    }
    EXPECT_EQ(server.handshakes(), 4U);
    EXPECT_EQ(server.resumed(), 3U) << "every call after the first resumes a session";
    EXPECT_EQ(server.requests(), 4U);
}

TEST_F(upstream_https_service, a_new_certificate_is_verified_when_the_session_cannot_resume)
{
    tls_upstream server(pki.good());
    http_service svc(server.url(), pki.ca_file());
    ASSERT_TRUE(call(svc).ok());
    // The server now holds another identity (and other session ticket keys): the cached
    // session is refused and the new chain is verified in a full handshake.
    server.use(pki.untrusted());
    EXPECT_EQ(call(svc).reason, "certificate rejected: unable to get local issuer certificate");
    server.use(pki.good());
    EXPECT_TRUE(call(svc).ok());
}

TEST_F(upstream_https_service, fails_when_the_server_does_not_speak_tls)
{
    net::io_context ioc;
    tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::address_v4::loopback(), 0));
    const auto port = acceptor.local_endpoint().port();
    // A plain HTTP server: it answers the ClientHello with an HTTP error and closes.
    net::co_spawn(
        ioc,
        [&]() -> net::awaitable<void> {
            auto [ec, socket] = co_await acceptor.async_accept(common::use_nothrow);
            if (!ec) {
                static const std::string answer =
                    "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                co_await net::async_write(socket, net::buffer(answer), common::use_nothrow);
            }
        },
        net::detached);
    http_service svc("https://127.0.0.1:" + std::to_string(port) + "/", pki.ca_file());
    const auto r = test::run_coro(ioc, svc.call("summary:cpu:all"));
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.reason.rfind("handshake: ", 0), 0U) << r.reason;
}

TEST_F(upstream_https_service, a_server_that_never_completes_the_handshake_is_cut_by_with_timeout)
{
    net::io_context ioc;
    tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::address_v4::loopback(), 0));
    const auto port = acceptor.local_endpoint().port();
    bool client_went_away = false;
    // Accepts, reads the ClientHello and anything after it, never answers.
    net::co_spawn(
        ioc,
        [&]() -> net::awaitable<void> {
            auto [ec, socket] = co_await acceptor.async_accept(common::use_nothrow);
            if (ec) {
                co_return;
            }
            char sink[4096];
            for (;;) {
                auto [rec, n] =
                    co_await socket.async_read_some(net::buffer(sink), common::use_nothrow);
                if (rec) {
                    client_went_away =
                        rec == net::error::eof || rec == net::error::connection_reset;
                    co_return;
                }
            }
        },
        net::detached);
    http_service svc("https://127.0.0.1:" + std::to_string(port) + "/", pki.ca_file());
    const std::string key = "summary:cpu:all";
    const auto start = std::chrono::steady_clock::now();
    const auto r = test::run_coro(ioc, common::with_timeout(svc.call(key), 100ms), 5s);
    EXPECT_FALSE(r.has_value()) << "the deadline, not the call, ended it";
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    EXPECT_TRUE(client_went_away) << "the abandoned call closed its connection";
}

// ----- the CA file, checked when the service is built ------------------------------------

TEST_F(upstream_https_service, a_missing_ca_file_is_a_configuration_error_naming_the_variable)
{
    const auto missing = pki.path("nowhere.pem");
    EXPECT_EQ(construction_error("https://localhost/", missing),
              "EXTERNAL_SERVICE_CA_FILE: \"" + missing + "\": No such file or directory");
}

TEST_F(upstream_https_service, a_directory_as_ca_file_is_a_configuration_error)
{
    const auto dir = pki.path("");
    EXPECT_EQ(construction_error("https://localhost/", dir),
              "EXTERNAL_SERVICE_CA_FILE: \"" + dir + "\": not a regular file");
}

TEST_F(upstream_https_service, a_ca_file_without_certificates_is_a_configuration_error)
{
    const auto text = write_file(pki, "notes.txt", "this is not a certificate\n");
    EXPECT_EQ(construction_error("https://localhost/", text),
              "EXTERNAL_SERVICE_CA_FILE: \"" + text +
                  "\": holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
    // A private key is PEM, but trusts nobody.
    EXPECT_EQ(construction_error("https://localhost/", pki.good().key_file),
              "EXTERNAL_SERVICE_CA_FILE: \"" + pki.good().key_file +
                  "\": holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
    const auto empty = write_file(pki, "empty.pem", "");
    EXPECT_NE(construction_error("https://localhost/", empty).find("holds no PEM certificate"),
              std::string::npos);
}

TEST_F(upstream_https_service, a_damaged_pem_certificate_is_a_configuration_error)
{
    std::ifstream in(pki.ca_file());
    std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Cut in the middle of the base64 body, keeping the end line: a certificate that does not
    // parse.
    const auto end = pem.find("-----END CERTIFICATE-----");
    ASSERT_NE(end, std::string::npos);
    const auto damaged =
        write_file(pki, "damaged.pem", pem.substr(0, end / 2) + "\n" + pem.substr(end));
    const auto message = construction_error("https://localhost/", damaged);
    EXPECT_EQ(
        message.rfind("EXTERNAL_SERVICE_CA_FILE: \"" + damaged + "\": not a valid PEM file: ", 0),
        0U)
        << message;
}

TEST_F(upstream_https_service, trusts_every_certificate_of_a_bundle_not_only_the_first)
{
    // Another certificate first, the CA that signed the server's second.
    std::ifstream first(pki.untrusted().cert_file);
    std::ifstream second(pki.ca_file());
    std::string bundle((std::istreambuf_iterator<char>(first)), std::istreambuf_iterator<char>());
    bundle.append((std::istreambuf_iterator<char>(second)), std::istreambuf_iterator<char>());
    const auto path = write_file(pki, "bundle.pem", bundle);
    tls_upstream server(pki.good());
    http_service svc(server.url(), path);
    const auto r = call(svc);
    EXPECT_TRUE(r.ok()) << r.reason;
}

TEST_F(upstream_https_service, an_http_url_does_not_read_the_ca_file)
{
    http_service svc("http://127.0.0.1:1/", pki.path("nowhere.pem"));
    EXPECT_FALSE(svc.uses_tls());
}

}  // namespace
}  // namespace analytics::upstream
