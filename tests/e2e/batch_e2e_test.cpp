// POST /api/metrics/batch and Idempotency-Key through the real binary: all-or-nothing
// validation with errors naming their item, the batch's own body limit, one rate-limit count per
// batch, the type cap, and repeats that store nothing more and answer what the first answered.

#include "e2e/http_client.hpp"
#include "e2e/metric_bodies.hpp"
#include "e2e/service_process.hpp"
#include "support/redis_admin.hpp"
#include "support/redis_deployment.hpp"
#include "support/redis_server.hpp"
#include "support/stored_metrics.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace analytics::test {
namespace {

using env = std::map<std::string, std::string>;

// Rate limiting has its own test below; elsewhere it must never get in the way. Nor may the
// 100 ms default Redis deadline, which a loaded test machine (sanitizers, two cores) can miss:
// these tests are about what a batch stores, the deadline has tests of its own.
env with_defaults(env extra = {})
{
    extra.emplace("RATE_LIMIT_REQUESTS", "1000000");
    extra.emplace("REDIS_TIMEOUT_MS", "2000");
    return extra;
}

std::string batch_body(const std::vector<std::string>& items)
{
    std::string body = "[";
    for (std::size_t i = 0; i < items.size(); ++i) {
        body += (i == 0 ? "" : ",") + items[i];
    }
    return body + "]";
}

std::vector<std::string> good_items(std::size_t n, const std::string& type = "batch")
{
    std::vector<std::string> out;
    for (std::size_t i = 0; i < n; ++i) {
        out.push_back(metric_body(now_rfc3339(), std::to_string(i), type + std::to_string(i % 3)));
    }
    return out;
}

class batch_e2e : public ::testing::Test {
protected:
    batch_e2e() { admin_.flush(); }

    std::size_t stored() { return all_stored_points(admin_).size(); }

    deployment_admin admin_;
};

TEST_F(batch_e2e, stores_every_item_and_lists_them)
{
    service_process svc(with_defaults());
    auto r = http_request(svc.port(), "POST", "/api/metrics/batch", batch_body(good_items(30)));
    ASSERT_EQ(r.status, 201U) << r.body;
    EXPECT_EQ(r.json().as_object().at("message").as_string(), "Metrics received");
    EXPECT_EQ(r.json().as_object().at("count").to_number<int>(), 30);
    EXPECT_EQ(stored(), 30U);
    auto list = http_request(svc.port(), "GET", "/api/metrics/list?limit=1000");
    const boost::json::value items = list.json();
    EXPECT_EQ(items.as_array().size(), 30U);
    // The last item of the batch is listed first: equal timestamps, later place.
    EXPECT_EQ(items.as_array()[0].as_object().at("value").to_number<int>(), 29);
}

TEST_F(batch_e2e, an_invalid_item_fails_the_whole_batch_naming_the_item)
{
    service_process svc(with_defaults());
    auto items = good_items(8);
    items[3] = metric_body(now_rfc3339(), "\"high\"", "batch0");
    items[6] = R"({"value": 1, "type": "batch1"})";
    auto r = http_request(svc.port(), "POST", "/api/metrics/batch", batch_body(items));
    ASSERT_EQ(r.status, 422U) << r.body;
    std::vector<std::string> fields;
    const boost::json::value answer = r.json();
    for (const auto& e : answer.as_object().at("errors").as_array()) {
        fields.emplace_back(e.as_object().at("field").as_string());
    }
    EXPECT_EQ(fields, (std::vector<std::string>{"[3].value", "[6].timestamp"}));
    EXPECT_EQ(stored(), 0U);

    for (const std::string& body : {std::string("[]"), std::string(R"({"a": 1})"),
                                   batch_body(good_items(1001))}) {
        auto bad = http_request(svc.port(), "POST", "/api/metrics/batch", body);
        EXPECT_EQ(bad.status, 422U) << body.substr(0, 40);
    }
    EXPECT_EQ(http_request(svc.port(), "POST", "/api/metrics/batch", "[{").status, 400U);
    EXPECT_EQ(stored(), 0U);
}

TEST_F(batch_e2e, takes_a_thousand_items_up_to_its_own_body_limit)
{
    service_process svc(with_defaults());
    const std::string thousand = batch_body(good_items(1000, "a_batch_of_a_thousand"));
    ASSERT_GT(thousand.size(), 64U * 1024) << "more than a single metric's body limit";
    auto r = http_request(svc.port(), "POST", "/api/metrics/batch", thousand);
    ASSERT_EQ(r.status, 201U) << r.body.substr(0, 200);
    EXPECT_EQ(stored(), 1000U);
    const std::string too_big = thousand + std::string(1024 * 1024, ' ');
    EXPECT_EQ(http_request(svc.port(), "POST", "/api/metrics/batch", too_big).status, 413U);
    EXPECT_EQ(http_request(svc.port(), "POST", "/api/metrics",
                           metric_body(now_rfc3339(), "1", "t") + std::string(70'000, ' '))
                  .status,
              413U)
        << "the single route keeps its 64 KiB";
    EXPECT_EQ(stored(), 1000U);
}

TEST_F(batch_e2e, a_batch_counts_as_one_request_against_the_rate_limit)
{
    service_process svc(with_defaults({{"RATE_LIMIT_REQUESTS", "2"}}));
    const std::map<std::string, std::string> client{{"X-Forwarded-For", "203.0.113.50"}};
    for (int i = 0; i < 2; ++i) {
        auto r = http_request(svc.port(), "POST", "/api/metrics/batch", batch_body(good_items(50)),
                              client);
        EXPECT_EQ(r.status, 201U) << r.body;
        EXPECT_EQ(r.header("x-ratelimit-remaining"), std::to_string(1 - i));
    }
    auto refused =
        http_request(svc.port(), "POST", "/api/metrics/batch", batch_body(good_items(1)), client);
    EXPECT_EQ(refused.status, 429U);
    EXPECT_FALSE(refused.header("retry-after").empty());
    EXPECT_EQ(stored(), 100U);
}

TEST_F(batch_e2e, a_new_type_past_the_cap_is_refused_and_nothing_is_stored)
{
    service_process svc(with_defaults({{"METRICS_MAX_TYPES", "2"}}));
    ASSERT_EQ(http_request(svc.port(), "POST", "/api/metrics",
                           metric_body(now_rfc3339(), "1", "first"))
                  .status,
              201U);
    auto r = http_request(svc.port(), "POST", "/api/metrics/batch",
                          batch_body({metric_body(now_rfc3339(), "1", "first"),
                                      metric_body(now_rfc3339(), "2", "second"),
                                      metric_body(now_rfc3339(), "3", "third")}));
    ASSERT_EQ(r.status, 422U) << r.body;
    EXPECT_EQ(r.json().as_object().at("code").as_string(), "TYPE_LIMIT_REACHED");
    EXPECT_EQ(stored(), 1U);
    auto single = http_request(svc.port(), "POST", "/api/metrics",
                               metric_body(now_rfc3339(), "1", "second"));
    EXPECT_EQ(single.status, 201U) << "the refused batch took no place";
    auto third = http_request(svc.port(), "POST", "/api/metrics",
                              metric_body(now_rfc3339(), "1", "third"));
    EXPECT_EQ(third.status, 422U);
    EXPECT_EQ(third.json().as_object().at("code").as_string(), "TYPE_LIMIT_REACHED");
}

TEST_F(batch_e2e, a_repeated_idempotency_key_answers_the_first_answer_and_stores_nothing)
{
    service_process svc(with_defaults());
    const std::map<std::string, std::string> key{{"Idempotency-Key", "order-7:retry.1"}};
    const std::string first_body = metric_body("2026-02-19T10:00:00Z", "1", "idem");
    auto first = http_request(svc.port(), "POST", "/api/metrics", first_body, key);
    ASSERT_EQ(first.status, 201U);
    auto again = http_request(svc.port(), "POST", "/api/metrics", first_body, key);
    EXPECT_EQ(again.status, 201U);
    EXPECT_EQ(again.body, first.body);
    EXPECT_EQ(stored(), 1U);

    const std::map<std::string, std::string> batch_key{{"Idempotency-Key", "batch-1"}};
    const std::string batch = batch_body(good_items(12));
    auto b1 = http_request(svc.port(), "POST", "/api/metrics/batch", batch, batch_key);
    auto b2 = http_request(svc.port(), "POST", "/api/metrics/batch", batch, batch_key);
    EXPECT_EQ(b1.status, 201U);
    EXPECT_EQ(b2.status, 201U);
    EXPECT_EQ(b2.body, b1.body);
    EXPECT_EQ(stored(), 13U);

    for (const std::string& bad : {std::string(129, 'k'), std::string("white space"),
                                  std::string("ümlaut")}) {
        auto r = http_request(svc.port(), "POST", "/api/metrics", first_body,
                              {{"Idempotency-Key", bad}});
        ASSERT_EQ(r.status, 422U) << bad;
        const boost::json::value answer = r.json();
        EXPECT_EQ(answer.as_object().at("errors").as_array()[0].as_object().at("field"),
                  "Idempotency-Key");
    }
    EXPECT_EQ(stored(), 13U);
}

}  // namespace
}  // namespace analytics::test
