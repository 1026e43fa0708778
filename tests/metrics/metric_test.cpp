#include "metrics/metric.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <string>

namespace analytics::metrics {
namespace {

using status = parse_outcome::status;

parse_outcome parse(const std::string& body)
{
    return parse_metric(body);
}

std::vector<std::string> failing_fields(const parse_outcome& o)
{
    std::vector<std::string> out;
    for (const auto& e : o.errors) {
        out.push_back(e.field);
    }
    return out;
}

TEST(parse_metric, accepts_the_seed_example)
{
    auto o = parse(R"({"timestamp":"2026-02-19T12:00:00Z","value":75.5,"type":"cpu_usage"})");
    ASSERT_EQ(o.result, status::ok);
    EXPECT_EQ(o.value.type, "cpu_usage");
    EXPECT_EQ(o.value.value, 75.5);
    EXPECT_EQ(common::format_rfc3339(o.value.timestamp), "2026-02-19T12:00:00Z");
}

TEST(parse_metric, normalises_an_offset_to_utc_and_keeps_fractions)
{
    auto o = parse(R"({"timestamp":"2026-02-19T14:00:00.250+02:00","value":1,"type":"t"})");
    ASSERT_EQ(o.result, status::ok);
    EXPECT_EQ(common::format_rfc3339(o.value.timestamp), "2026-02-19T12:00:00.250Z");
}

TEST(parse_metric, accepts_integers_negative_numbers_and_exponents)
{
    EXPECT_EQ(parse(R"({"timestamp":"2026-02-19T12:00:00Z","value":70,"type":"t"})").value.value,
              70);
    EXPECT_EQ(parse(R"({"timestamp":"2026-02-19T12:00:00Z","value":-3.5,"type":"t"})").value.value,
              -3.5);
    EXPECT_EQ(parse(R"({"timestamp":"2026-02-19T12:00:00Z","value":1e3,"type":"t"})").value.value,
              1000);
}

TEST(parse_metric, ignores_unknown_fields)
{
    auto o = parse(
        R"({"timestamp":"2026-02-19T12:00:00Z","value":1,"type":"t","host":"a","tags":[1,2]})");
    EXPECT_EQ(o.result, status::ok);
}

TEST(parse_metric, reads_escaped_keys_and_strings)
{
    auto o = parse(
        R"({"typ\u0065":"cpu\u005fusage","timestamp":"2026-02-19T12:00:00\u005a","value":2})");
    ASSERT_EQ(o.result, status::ok);
    EXPECT_EQ(o.value.type, "cpu_usage");
    EXPECT_EQ(common::format_rfc3339(o.value.timestamp), "2026-02-19T12:00:00Z");
}

TEST(parse_metric, takes_the_last_of_repeated_keys_as_boost_json_does)
{
    auto o = parse(R"({"type":"a","timestamp":"2026-02-19T12:00:00Z","value":"x","value":3,)"
                   R"("type":"b"})");
    ASSERT_EQ(o.result, status::ok);
    EXPECT_EQ(o.value.type, "b");
    EXPECT_EQ(o.value.value, 3);
    auto spoiled = parse(R"({"type":"a","timestamp":"2026-02-19T12:00:00Z","value":3,"type":[]})");
    EXPECT_EQ(failing_fields(spoiled), std::vector<std::string>{"type"});
}

TEST(parse_metric, reads_only_the_top_level_object)
{
    auto o = parse(R"({"meta":{"type":"inner","value":1,"timestamp":"x"},"type":"outer",)"
                   R"("value":[{"value":2}],"timestamp":"2026-02-19T12:00:00Z"})");
    EXPECT_EQ(o.result, status::invalid);
    EXPECT_EQ(failing_fields(o), std::vector<std::string>{"value"});
    auto nested =
        parse(R"({"a":[{"type":"x"}],"type":"t","value":1,"timestamp":"2026-02-19T12:00:00Z"})");
    ASSERT_EQ(nested.result, status::ok);
    EXPECT_EQ(nested.value.type, "t");
}

TEST(parse_metric, allows_whitespace_around_the_object_and_nothing_else)
{
    const std::string ok = R"({"timestamp":"2026-02-19T12:00:00Z","value":1,"type":"t"})";
    EXPECT_EQ(parse(" \n\t" + ok + " \r\n").result, status::ok);
    for (const std::string tail : {"x", "{}", ",", "1"}) {
        EXPECT_EQ(parse(ok + tail).result, status::invalid_json) << tail;
        EXPECT_EQ(parse(ok + " " + tail).result, status::invalid_json) << tail;
    }
}

TEST(parse_metric, reports_unparseable_json_as_invalid_json)
{
    for (const std::string body : {"", "{", "not json", R"({"value":1,})", "{'a':1}",
                                   R"({"value":NaN})", R"({"value":Infinity})"}) {
        EXPECT_EQ(parse(body).result, status::invalid_json) << body;
    }
}

TEST(parse_metric, reports_nesting_deeper_than_32_as_invalid_json)
{
    std::string deep(40, '[');
    deep += std::string(40, ']');
    EXPECT_EQ(parse(R"({"x":)" + deep + "}").result, status::invalid_json);
}

TEST(parse_metric, requires_an_object)
{
    for (const std::string body : {"[]", "1", "\"x\"", "null", "true"}) {
        auto o = parse(body);
        EXPECT_EQ(o.result, status::invalid) << body;
        EXPECT_EQ(failing_fields(o), std::vector<std::string>{"body"});
    }
}

TEST(parse_metric, lists_every_missing_field)
{
    auto o = parse("{}");
    EXPECT_EQ(o.result, status::invalid);
    EXPECT_EQ(failing_fields(o), (std::vector<std::string>{"timestamp", "value", "type"}));
    auto nulls = parse(R"({"timestamp":null,"value":null,"type":null})");
    EXPECT_EQ(failing_fields(nulls), (std::vector<std::string>{"timestamp", "value", "type"}));
}

TEST(parse_metric, rejects_values_that_are_not_finite_numbers)
{
    for (const std::string v : {R"("75.5")", "true", "[1]", "{}", "1e400", "-1e400"}) {
        auto o = parse(R"({"timestamp":"2026-02-19T12:00:00Z","type":"t","value":)" + v + "}");
        EXPECT_EQ(o.result, status::invalid) << v;
        EXPECT_EQ(failing_fields(o), std::vector<std::string>{"value"}) << v;
    }
}

TEST(parse_metric, rejects_bad_timestamps)
{
    for (const std::string ts :
         {R"("2026-02-19")", R"("2026-02-19T12:00:00")", R"("2026-02-30T12:00:00Z")",
          R"("yesterday")", "1771502400", R"("")"}) {
        auto o = parse(R"({"value":1,"type":"t","timestamp":)" + ts + "}");
        EXPECT_EQ(o.result, status::invalid) << ts;
        EXPECT_EQ(failing_fields(o), std::vector<std::string>{"timestamp"}) << ts;
    }
}

TEST(parse_metric, rejects_bad_types)
{
    const std::vector<std::string> bad_types{R"("")",
                                             R"("has space")",
                                             R"("a/b")",
                                             R"("{tag}")",
                                             R"("caf\u00e9")",
                                             "12",
                                             "\"" + std::string(65, 'x') + "\""};
    for (const auto& t : bad_types) {
        auto o = parse(R"({"value":1,"timestamp":"2026-02-19T12:00:00Z","type":)" + t + "}");
        EXPECT_EQ(o.result, status::invalid) << t;
        EXPECT_EQ(failing_fields(o), std::vector<std::string>{"type"}) << t;
    }
}

std::vector<std::string> failing_fields(const batch_parse_outcome& o)
{
    std::vector<std::string> out;
    for (const auto& e : o.errors) {
        out.push_back(e.field);
    }
    return out;
}

std::string batch_of(std::size_t n, const std::string& element)
{
    std::string body = "[";
    for (std::size_t i = 0; i < n; ++i) {
        body += (i == 0 ? "" : ",") + element;
    }
    return body + "]";
}

const std::string good_element = R"({"timestamp":"2026-02-19T12:00:00Z","value":1,"type":"t"})";

TEST(parse_metric_batch, keeps_every_metric_in_the_body_order)
{
    auto o = parse_metric_batch(
        R"([{"timestamp":"2026-02-19T12:00:00Z","value":1,"type":"a","x":{"type":"no"}},)"
        R"( {"type":"b","value":-2.5e3,"timestamp":"2026-02-19T12:00:01+01:00"}])");
    ASSERT_EQ(o.result, status::ok);
    ASSERT_EQ(o.values.size(), 2u);
    EXPECT_EQ(o.values[0].type, "a");
    EXPECT_EQ(o.values[0].value, 1);
    EXPECT_EQ(o.values[1].type, "b");
    EXPECT_EQ(o.values[1].value, -2500);
    EXPECT_EQ(common::format_rfc3339(o.values[1].timestamp), "2026-02-19T11:00:01Z");
    EXPECT_TRUE(o.errors.empty());
}

TEST(parse_metric_batch, names_every_failing_field_of_every_item_and_keeps_nothing)
{
    auto o = parse_metric_batch(R"([{"timestamp":"2026-02-19T12:00:00Z","value":1,"type":"ok"},)"
                                R"({"value":"x","type":"t","timestamp":"2026-02-19T12:00:00Z"},)"
                                R"(7,{"value":[{"value":1}]},null])");
    EXPECT_EQ(o.result, status::invalid);
    EXPECT_TRUE(o.values.empty());
    EXPECT_EQ(failing_fields(o),
              (std::vector<std::string>{"[1].value", "[2]", "[3].timestamp", "[3].value",
                                        "[3].type", "[4]"}));
}

TEST(parse_metric_batch, takes_one_to_a_thousand_items)
{
    EXPECT_EQ(parse_metric_batch(batch_of(1, good_element)).result, status::ok);
    auto full = parse_metric_batch(batch_of(max_batch_size, good_element));
    ASSERT_EQ(full.result, status::ok);
    EXPECT_EQ(full.values.size(), max_batch_size);
    for (const std::string& body : {std::string("[]"), batch_of(max_batch_size + 1, good_element),
                                   batch_of(max_batch_size + 1, "1")}) {
        auto o = parse_metric_batch(body);
        EXPECT_EQ(o.result, status::invalid);
        EXPECT_TRUE(o.values.empty());
        EXPECT_EQ(failing_fields(o), std::vector<std::string>{"body"});
    }
}

TEST(parse_metric_batch, requires_an_array)
{
    for (const std::string& body : {good_element, std::string("1"), std::string("null")}) {
        auto o = parse_metric_batch(body);
        EXPECT_EQ(o.result, status::invalid) << body;
        EXPECT_EQ(failing_fields(o), std::vector<std::string>{"body"}) << body;
    }
}

TEST(parse_metric_batch, reports_broken_json_as_invalid_json_even_after_good_items)
{
    for (const std::string& body : {"[" + good_element + ",", "[" + good_element + "]x", std::string("["),
                                   "[" + good_element + ",{\"value\":}]"}) {
        auto o = parse_metric_batch(body);
        EXPECT_EQ(o.result, status::invalid_json) << body;
        EXPECT_TRUE(o.values.empty()) << body;
        EXPECT_TRUE(o.errors.empty()) << body;
    }
}

TEST(is_valid_type, allows_exactly_the_contract_alphabet_up_to_64)
{
    EXPECT_TRUE(is_valid_type("cpu_usage"));
    EXPECT_TRUE(is_valid_type("a.b:c-d_E9"));
    EXPECT_TRUE(is_valid_type(std::string(64, 'x')));
    EXPECT_FALSE(is_valid_type(std::string(65, 'x')));
    EXPECT_FALSE(is_valid_type(""));
    EXPECT_FALSE(is_valid_type("a*"));
    EXPECT_FALSE(is_valid_type("a|b"));
    EXPECT_FALSE(is_valid_type(std::string("a\0b", 3)));
}

TEST(format_value, is_the_shortest_exact_json_number)
{
    EXPECT_EQ(format_value(75.5), "75.5");
    EXPECT_EQ(format_value(70), "70");
    EXPECT_EQ(format_value(0.1), "0.1");
    EXPECT_EQ(format_value(-0.0), "-0");
    EXPECT_EQ(format_value(1e21), "1e+21");
    EXPECT_EQ(format_value(1.0 / 0.0), "null");
}

TEST(write_value, never_writes_more_than_its_room)
{
    for (const double v : {-1.7976931348623157e308, -2.2250738585072014e-308, 5e-324, 1e308,
                           -0.30000000000000004, 123456789012345680.0, 0.0}) {
        std::array<char, value_text_max_size> buf{};
        char* end = write_value(buf.data(), v);
        EXPECT_LE(end - buf.data(), static_cast<std::ptrdiff_t>(buf.size()));
        EXPECT_EQ(std::string(buf.data(), end), format_value(v));
    }
    std::array<char, value_text_max_size> buf{};
    EXPECT_EQ(std::string(buf.data(), write_value(buf.data(), -2.2250738585072014e-308)),
              "-2.2250738585072014e-308");
}

}  // namespace
}  // namespace analytics::metrics
