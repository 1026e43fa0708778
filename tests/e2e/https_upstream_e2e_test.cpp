// End-to-end tests of an https:// EXTERNAL_SERVICE_URL: summaries served through a verified
// upstream, certificate failures as breaker failures logged once per incident, and the start-up
// checks of EXTERNAL_SERVICE_CA_FILE. The real binary and Redis; the upstream is a TLS server
// in this process, its certificates made by openssl at run time.

#include "e2e/http_client.hpp"
#include "e2e/run_binary.hpp"
#include "e2e/service_process.hpp"
#include "support/redis_admin.hpp"
#include "support/redis_deployment.hpp"
#include "support/redis_server.hpp"
#include "support/test_pki.hpp"
#include "upstream/tls_upstream.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <fstream>
#include <thread>

namespace analytics::test {
namespace {

using namespace std::chrono_literals;
using env = std::map<std::string, std::string>;

env upstream_env(const std::string& url, const std::string& ca_file, env extra = {})
{
    extra.emplace("EXTERNAL_SERVICE_URL", url);
    extra.emplace("EXTERNAL_SERVICE_CA_FILE", ca_file);
    extra.emplace("EXTERNAL_SERVICE_TIMEOUT", "2");
    extra.emplace("CIRCUIT_BREAKER_RESET_TIMEOUT", "1");
    extra.emplace("CACHE_TTL_SECONDS", "1");
    return extra;
}

boost::json::object breaker_status(std::uint16_t port)
{
    auto r = http_request(port, "GET", "/api/circuit-breaker/status");
    EXPECT_EQ(r.status, 200U);
    return r.json().as_object();
}

http_reply summary(std::uint16_t port, const std::string& type)
{
    return http_request(port, "GET", "/api/metrics/summary?type=" + type);
}

std::string code_of(const http_reply& r)
{
    return std::string(r.json().as_object().at("code").as_string());
}

// The service's log lines whose event is `event`, parsed.
std::vector<boost::json::object> events(const service_process& svc, std::string_view event)
{
    std::vector<boost::json::object> out;
    for (const auto& line : svc.lines()) {
        boost::system::error_code ec;
        auto v = boost::json::parse(line, ec);
        if (!ec && v.is_object() && v.as_object().contains("event") &&
            v.as_object().at("event").as_string() == event) {
            out.push_back(v.as_object());
        }
    }
    return out;
}

class https_upstream_e2e : public ::testing::Test {
protected:
    https_upstream_e2e() { deployment_admin().flush(); }

    test_pki pki;
};

TEST_F(https_upstream_e2e, serves_summaries_through_an_upstream_with_a_trusted_certificate)
{
    tls_upstream upstream(pki.good());
    service_process svc(upstream_env(upstream.url("localhost", "/check"), pki.ca_file()));
    for (const std::string type : {"cpu", "mem", "disk"}) {
        auto r = summary(svc.port(), type);
        EXPECT_EQ(r.status, 200U) << r.body;
        EXPECT_EQ(r.header("x-cache"), "MISS");
    }
    EXPECT_EQ(upstream.requests(), 3U);
    EXPECT_EQ(upstream.last_request().rfind("GET /check HTTP/1.1\r\n", 0), 0U);
    EXPECT_EQ(upstream.last_server_name(), "localhost");
    // One full handshake; every later miss resumed its session, whichever worker served it.
    EXPECT_EQ(upstream.handshakes(), 3U);
    EXPECT_EQ(upstream.resumed(), 2U);
    EXPECT_EQ(breaker_status(svc.port()).at("state").as_string(), "CLOSED");
    EXPECT_TRUE(events(svc, "upstream.certificate_rejected").empty());
}

TEST_F(https_upstream_e2e, a_rejected_certificate_is_a_breaker_failure_logged_once_per_incident)
{
    tls_upstream upstream(pki.untrusted());
    service_process svc(
        upstream_env(upstream.url(), pki.ca_file(), {{"CIRCUIT_BREAKER_FAILURE_THRESHOLD", "3"}}));
    for (int i = 0; i < 3; ++i) {
        auto r = summary(svc.port(), "t" + std::to_string(i));
        EXPECT_EQ(r.status, 503U);
        EXPECT_EQ(code_of(r), "EXTERNAL_SERVICE_ERROR");
    }
    auto open = breaker_status(svc.port());
    EXPECT_EQ(open.at("state").as_string(), "OPEN");
    EXPECT_EQ(open.at("failure_count").to_number<int>(), 3);
    auto rejected = summary(svc.port(), "t3");
    EXPECT_EQ(rejected.status, 503U);
    EXPECT_EQ(code_of(rejected), "CIRCUIT_OPEN");
    EXPECT_EQ(upstream.requests(), 0U) << "nothing was sent to the unverified server";

    const auto incident = events(svc, "upstream.certificate_rejected");
    ASSERT_EQ(incident.size(), 1U) << "one line for three failures";
    EXPECT_EQ(incident[0].at("level").as_string(), "warning");
    EXPECT_EQ(incident[0].at("reason").as_string(), "unable to get local issuer certificate");
    EXPECT_EQ(incident[0].at("subject").as_string(), "CN=untrusted");
    EXPECT_EQ(incident[0].at("issuer").as_string(), "CN=other-ca for tests");
    EXPECT_EQ(incident[0].at("host").as_string(), "127.0.0.1");
    // The summary path's own once-per-outage line says the same once, not per request.
    const auto outage = events(svc, "upstream.call_failed");
    ASSERT_EQ(outage.size(), 1U);
    EXPECT_EQ(outage[0].at("reason").as_string(),
              "certificate rejected: unable to get local issuer certificate");

    // The certificate is fixed: the breaker's trial passes and the incident ends with its count.
    upstream.use(pki.good());
    std::this_thread::sleep_for(1100ms);
    auto trial = summary(svc.port(), "t4");
    EXPECT_EQ(trial.status, 200U) << trial.body;
    EXPECT_EQ(trial.header("x-cache"), "MISS");
    EXPECT_EQ(breaker_status(svc.port()).at("state").as_string(), "CLOSED");
    ASSERT_TRUE(svc.wait_for_line("upstream.certificate_rejected.ended", 5s));
    const auto ended = events(svc, "upstream.certificate_rejected.ended");
    ASSERT_EQ(ended.size(), 1U);
    EXPECT_EQ(ended[0].at("occurrences").to_number<int>(), 3);
    EXPECT_EQ(events(svc, "upstream.certificate_rejected").size(), 1U);
}

TEST_F(https_upstream_e2e, certificates_for_another_name_or_expired_are_upstream_failures)
{
    tls_upstream upstream(pki.wrong_name());
    service_process svc(upstream_env(upstream.url("localhost"), pki.ca_file()));
    auto wrong = summary(svc.port(), "a");
    EXPECT_EQ(wrong.status, 503U);
    EXPECT_EQ(code_of(wrong), "EXTERNAL_SERVICE_ERROR");
    ASSERT_TRUE(svc.wait_for_line("upstream.certificate_rejected", 5s));
    const auto incident = events(svc, "upstream.certificate_rejected");
    ASSERT_EQ(incident.size(), 1U);
    EXPECT_EQ(incident[0].at("reason").as_string(), "hostname mismatch");

    upstream.use(pki.expired());
    auto expired = summary(svc.port(), "b");
    EXPECT_EQ(expired.status, 503U);
    EXPECT_EQ(code_of(expired), "EXTERNAL_SERVICE_ERROR");
    EXPECT_EQ(breaker_status(svc.port()).at("failure_count").to_number<int>(), 2);
    EXPECT_EQ(upstream.requests(), 0U);
}

TEST(https_upstream_startup, a_bad_ca_file_stops_start_up_with_exit_2_naming_the_variable)
{
    test_pki pki;
    const auto not_pem = pki.path("notes.txt");
    std::ofstream(not_pem) << "not a certificate\n";
    for (const auto& [file, why] : std::vector<std::pair<std::string, std::string>>{
             {pki.path("missing.pem"), "No such file or directory"},
             {pki.path(""), "not a regular file"},
             {not_pem, "holds no PEM certificate"},
             {pki.good().key_file, "holds no PEM certificate"},
         }) {
        auto r = run_binary({}, {{"EXTERNAL_SERVICE_URL", "https://localhost:8443/check"},
                                 {"EXTERNAL_SERVICE_CA_FILE", file}});
        EXPECT_EQ(r.exit_status, 2) << file;
        EXPECT_NE(r.err.find("EXTERNAL_SERVICE_CA_FILE: \"" + file + "\": " + why),
                  std::string::npos)
            << r.err;
    }
}

TEST(https_upstream_startup, a_malformed_https_url_stops_start_up_with_exit_2)
{
    for (const std::string url : {"https://", "https://user:pw@upstream/", "https://upstream:0/"}) {
        auto r = run_binary({}, {{"EXTERNAL_SERVICE_URL", url}});
        EXPECT_EQ(r.exit_status, 2) << url;
        EXPECT_NE(r.err.find("EXTERNAL_SERVICE_URL"), std::string::npos) << r.err;
    }
}

TEST(https_upstream_startup, a_ca_file_with_an_http_url_is_not_read_and_a_warning_says_so)
{
    test_pki pki;
    service_process svc({{"EXTERNAL_SERVICE_URL", "http://127.0.0.1:1/check"},
                         {"EXTERNAL_SERVICE_CA_FILE", pki.path("missing.pem")}});
    EXPECT_EQ(http_request(svc.port(), "GET", "/health").status, 200U);
    const auto warning = svc.wait_for_line("upstream.ca_file_unused", 5s);
    ASSERT_TRUE(warning.has_value());
    const auto line = boost::json::parse(*warning).as_object();
    EXPECT_EQ(line.at("level").as_string(), "warning");
    EXPECT_EQ(line.at("ca_file").as_string(), pki.path("missing.pem"));
}

}  // namespace
}  // namespace analytics::test
