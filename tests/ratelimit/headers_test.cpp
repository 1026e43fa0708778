#include "ratelimit/headers.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace analytics::ratelimit {
namespace {

using namespace std::chrono_literals;

decision counted(std::uint32_t remaining, std::chrono::milliseconds reset)
{
    decision d;
    d.allowed = true;
    d.limit = 10;
    d.remaining = remaining;
    d.reset = reset;
    d.window = 60s;
    d.source = decision_source::redis;
    return d;
}

decision refused(std::chrono::milliseconds retry_after)
{
    decision d = counted(0, retry_after);
    d.allowed = false;
    d.retry_after = retry_after;
    return d;
}

TEST(rate_limit_headers, reports_limit_remaining_and_reset_in_both_spellings)
{
    http::response r;
    add_rate_limit_headers(r, counted(3, 41'200ms));
    EXPECT_EQ(r.get("X-RateLimit-Limit"), "10");
    EXPECT_EQ(r.get("X-RateLimit-Remaining"), "3");
    EXPECT_EQ(r.get("X-RateLimit-Reset"), "42");  // rounded up: the count has not dropped at 41
    EXPECT_EQ(r.get("RateLimit-Policy"), "10;w=60");
    EXPECT_EQ(r.get("RateLimit"), "limit=10, remaining=3, reset=42");
    EXPECT_EQ(r.headers.size(), 5U);
}

TEST(rate_limit_headers, adds_nothing_when_the_request_was_not_counted)
{
    http::response r;
    add_rate_limit_headers(r, decision::fail_open(10, 60s));
    EXPECT_TRUE(r.headers.empty());
}

TEST(rate_limit_headers, reports_the_local_backstop_and_remembered_refusals_like_redis)
{
    for (const auto source :
         {decision_source::local_backstop, decision_source::remembered_refusal}) {
        decision d = counted(0, 5s);
        d.source = source;
        http::response r;
        add_rate_limit_headers(r, d);
        EXPECT_EQ(r.get("X-RateLimit-Reset"), "5") << to_string(source);
    }
}

TEST(too_many_requests, answers_429_rate_limit_exceeded_with_retry_after)
{
    const http::response r = too_many_requests(refused(65'001ms));
    EXPECT_EQ(r.status, 429U);
    EXPECT_EQ(r.get("Retry-After"), "66");
    EXPECT_EQ(r.get("X-RateLimit-Remaining"), "0");
    EXPECT_EQ(r.get("X-RateLimit-Reset"), "66");
    EXPECT_EQ(r.get("RateLimit"), "limit=10, remaining=0, reset=66");
    EXPECT_NE(r.body.find(R"("code":"RATE_LIMIT_EXCEEDED")"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find(R"("timestamp":")"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("retry in 66 seconds"), std::string::npos) << r.body;
}

TEST(too_many_requests, never_says_retry_after_zero)
{
    const http::response r = too_many_requests(refused(0ms));
    EXPECT_EQ(r.get("Retry-After"), "1");
}

}  // namespace
}  // namespace analytics::ratelimit
