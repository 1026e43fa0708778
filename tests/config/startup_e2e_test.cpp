// Start-up checks that need the real binary: the listen address (APP_HOST) is resolved and bound
// or refused with exit 2 naming it, one port cannot serve both the API and /metrics, and a port
// already in use says which variable picks another.

#include "e2e/http_client.hpp"
#include "e2e/run_binary.hpp"
#include "e2e/service_process.hpp"
#include "support/redis_admin.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace analytics::test {
namespace {

using namespace std::chrono_literals;
using env = std::map<std::string, std::string>;

TEST(startup_address, a_host_name_in_app_host_is_resolved_and_bound)
{
    service_process svc(env{{"APP_HOST", "localhost"}});
    const auto line = svc.wait_for_line("\"event\":\"server.listening\"", 5s);
    ASSERT_TRUE(line.has_value());
    const auto listening = boost::json::parse(*line).as_object();
    EXPECT_EQ(listening.at("host").as_string(), "localhost");
    EXPECT_EQ(listening.at("address").as_string(), "127.0.0.1");
    EXPECT_EQ(http_request(svc.port(), "GET", "/health").status, 200U);
}

TEST(startup_address, an_app_host_that_is_no_valid_address_exits_2_naming_it)
{
    for (const std::string host : {"999.1.1.1", "1.2.3"}) {
        const auto r = run_binary({}, {{"APP_HOST", host}});
        EXPECT_EQ(r.exit_status, 2) << host;
        EXPECT_NE(r.err.find("APP_HOST"), std::string::npos) << r.err;
        EXPECT_NE(r.err.find(host), std::string::npos) << r.err;
    }
}

TEST(startup_address, an_app_host_that_does_not_resolve_exits_2_naming_it)
{
    // .invalid never resolves (RFC 6761); one short try keeps a machine without DNS quick.
    const std::string host = "no-such-host.invalid";
    const auto r = run_binary({},
                              {{"APP_HOST", host},
                               {"APP_PORT", "0"},
                               {"REDIS_PORT", std::to_string(free_port())},
                               {"RES_OPTIONS", "timeout:1 attempts:1"}},
                              20s);
    EXPECT_EQ(r.exit_status, 2);
    EXPECT_NE(r.err.find("APP_HOST: cannot resolve \"" + host + "\""), std::string::npos) << r.err;
}

TEST(startup_address, a_metrics_port_equal_to_the_app_port_exits_2_naming_both)
{
    const auto port = std::to_string(free_port());
    const auto r = run_binary({}, {{"APP_PORT", port}, {"METRICS_PORT", port}});
    EXPECT_EQ(r.exit_status, 2);
    EXPECT_NE(r.err.find("METRICS_PORT"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("APP_PORT"), std::string::npos) << r.err;
}

TEST(startup_address, a_port_in_use_suggests_setting_app_port)
{
    service_process first;
    const auto r = run_binary({}, {{"APP_HOST", "127.0.0.1"},
                                   {"APP_PORT", std::to_string(first.port())},
                                   {"REDIS_PORT", std::to_string(free_port())}});
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_NE(r.out.find("set APP_PORT to a free port"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace analytics::test
