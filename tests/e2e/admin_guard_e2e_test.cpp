// End-to-end tests of what guards the admin API: a start-up that refuses a short ADMIN_TOKEN,
// and the throttle on wrong tokens (10 a minute per client). Two Authorization headers are in
// http_strictness_e2e_test.cpp.

#include "e2e/http_client.hpp"
#include "e2e/run_binary.hpp"
#include "e2e/service_process.hpp"

#include <gtest/gtest.h>

#include <string>

namespace analytics::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* token = "admin-guard-token-e2e";

TEST(admin_guard_e2e, an_admin_token_shorter_than_16_characters_stops_start_up_with_exit_2)
{
    for (const char* short_token : {"t", "fifteen-chars!!"}) {
        auto r = run_binary({}, {{"ADMIN_TOKEN", short_token}});
        EXPECT_EQ(r.exit_status, 2) << short_token;
        EXPECT_NE(r.err.find("ADMIN_TOKEN"), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("16"), std::string::npos) << r.err;
        EXPECT_EQ(r.err.find("fifteen"), std::string::npos) << "the token was printed: " << r.err;
    }
}

TEST(admin_guard_e2e, ten_wrong_tokens_from_a_client_lock_it_out_and_not_the_others)
{
    service_process svc(std::map<std::string, std::string>{{"ADMIN_TOKEN", token}});
    const std::string body = R"({"latency_ms":0})";
    const std::string right = std::string("Bearer ") + token;
    http_connection guesser(svc.port(), 5s, "127.0.0.2");
    for (int i = 0; i < 10; ++i) {
        const auto r = guesser.request("PUT", "/api/admin/external-service", body,
                                       {{"Authorization", "Bearer guess-" + std::to_string(i)}});
        EXPECT_EQ(r.status, 401U) << i;
    }
    // From now on every request of this client is refused, the right token included.
    const auto refused =
        guesser.request("PUT", "/api/admin/external-service", body, {{"Authorization", right}});
    EXPECT_EQ(refused.status, 429U);
    EXPECT_EQ(refused.json().as_object().at("code").as_string(), "RATE_LIMIT_EXCEEDED");
    const int retry_after = std::stoi(refused.header("retry-after"));
    EXPECT_GE(retry_after, 1);
    EXPECT_LE(retry_after, 60);

    http_connection admin(svc.port(), 5s, "127.0.0.3");
    EXPECT_EQ(admin.request("PUT", "/api/admin/external-service", body, {{"Authorization", right}})
                  .status,
              200U);
}

}  // namespace
}  // namespace analytics::test
