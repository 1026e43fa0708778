// Fuzzes the POST /api/metrics and /api/metrics/batch bodies: metrics::parse_metric and
// metrics::parse_metric_batch (Boost.JSON's event parser with our depth limit, then the schema of
// docs/contract.md, "Metric body") and the value formatting that answers and Redis members use. Properties: the outcome agrees with Boost.JSON's document parser on
// what is JSON, and with the schema read from that document on every field (which fields fail,
// and the values of an accepted metric); an accepted metric has a valid type, a finite value and
// a timestamp that round-trips; the 201 body built from any accepted metric is valid JSON that
// echoes it; every value formats to the shortest text that reads back as exactly that value. The
// same bytes, and the same bytes as a batch's one item, go through the batch parser, which must
// agree with the document item by item.

#include "common/rfc3339.hpp"
#include "metrics/metric.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <charconv>
#include <cmath>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/support.hpp"

namespace analytics::fuzz {
namespace {

void check_value_text(double v)
{
    const std::string text = metrics::format_value(v);
    if (!std::isfinite(v)) {
        FUZZ_CHECK(text == "null");
        return;
    }
    double back = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), back);
    FUZZ_CHECK(ec == std::errc{} && end == text.data() + text.size());
    FUZZ_CHECK(back == v && std::signbit(back) == std::signbit(v));
    // It is also JSON (no "inf", no leading '+' or '.').
    boost::system::error_code json_ec;
    const auto json = boost::json::parse(text, json_ec);
    FUZZ_CHECK(!json_ec && json.is_number());
}

// The fields that fail, read from the document: the oracle parse_metric is compared with.
std::vector<std::string> failing_fields(const boost::json::object& obj)
{
    std::vector<std::string> out;
    const auto* ts = obj.if_contains("timestamp");
    if (ts == nullptr || !ts->is_string() || !common::parse_rfc3339(ts->get_string())) {
        out.emplace_back("timestamp");
    }
    const auto* v = obj.if_contains("value");
    if (v == nullptr || !v->is_number() || !std::isfinite(v->to_number<double>())) {
        out.emplace_back("value");
    }
    const auto* t = obj.if_contains("type");
    if (t == nullptr || !t->is_string() || !metrics::is_valid_type(t->get_string())) {
        out.emplace_back("type");
    }
    return out;
}

// parse_metric_batch against the schema read from Boost.JSON's document: the same verdict on
// what is JSON, the same failing fields named by item, and, when every item passes, the same
// metrics in the same order.
void check_batch(std::string_view body)
{
    using status = metrics::parse_outcome::status;
    const auto out = metrics::parse_metric_batch(body);
    boost::json::parse_options opts;
    opts.max_depth = 32;
    boost::system::error_code ec;
    const auto reference = boost::json::parse(body, ec, {}, opts);
    FUZZ_CHECK((out.result == status::invalid_json) == bool(ec));
    if (ec) {
        FUZZ_CHECK(out.errors.empty() && out.values.empty());
        return;
    }
    std::vector<std::string> got;
    for (const auto& e : out.errors) {
        got.push_back(e.field);
    }
    if (!reference.is_array() || reference.get_array().empty() ||
        reference.get_array().size() > metrics::max_batch_size) {
        FUZZ_CHECK(out.result == status::invalid && out.values.empty());
        FUZZ_CHECK(got == std::vector<std::string>{"body"});
        return;
    }
    const auto& items = reference.get_array();
    std::vector<std::string> expected;
    for (std::size_t i = 0; i < items.size(); ++i) {
        const std::string item = "[" + std::to_string(i) + "]";
        if (!items[i].is_object()) {
            expected.push_back(item);
            continue;
        }
        for (const auto& field : failing_fields(items[i].get_object())) {
            expected.push_back(item + "." + field);
        }
    }
    FUZZ_CHECK(got == expected);
    if (!expected.empty()) {
        FUZZ_CHECK(out.result == status::invalid && out.values.empty());
        return;
    }
    FUZZ_CHECK(out.result == status::ok && out.values.size() == items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
        const auto& obj = items[i].get_object();
        FUZZ_CHECK(out.values[i].type == std::string_view(obj.at("type").get_string()));
        FUZZ_CHECK(out.values[i].value == obj.at("value").to_number<double>());
        FUZZ_CHECK(out.values[i].timestamp ==
                   *common::parse_rfc3339(obj.at("timestamp").get_string()));
    }
}

}  // namespace
}  // namespace analytics::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace analytics;
    const auto body = fuzz::as_text(data, size);
    const auto out = metrics::parse_metric(body);

    boost::json::parse_options opts;
    opts.max_depth = 32;
    boost::system::error_code ec;
    const auto reference = boost::json::parse(body, ec, {}, opts);
    FUZZ_CHECK((out.result == metrics::parse_outcome::status::invalid_json) == bool(ec));

    if (!ec) {
        // The same verdict as the schema read from Boost.JSON's document.
        if (!reference.is_object()) {
            FUZZ_CHECK(out.result == metrics::parse_outcome::status::invalid);
            FUZZ_CHECK(out.errors.size() == 1 && out.errors[0].field == "body");
        } else {
            const auto& obj = reference.get_object();
            const auto expected = fuzz::failing_fields(obj);
            std::vector<std::string> got;
            for (const auto& e : out.errors) {
                got.push_back(e.field);
            }
            FUZZ_CHECK(got == expected);
            if (expected.empty()) {
                FUZZ_CHECK(out.value.type == std::string_view(obj.at("type").get_string()));
                FUZZ_CHECK(out.value.value == obj.at("value").to_number<double>());
                FUZZ_CHECK(out.value.timestamp ==
                           *common::parse_rfc3339(obj.at("timestamp").get_string()));
            }
        }
    }

    switch (out.result) {
    case metrics::parse_outcome::status::ok: {
        FUZZ_CHECK(out.errors.empty());
        FUZZ_CHECK(metrics::is_valid_type(out.value.type));
        FUZZ_CHECK(std::isfinite(out.value.value));
        const std::string ts = common::format_rfc3339(out.value.timestamp);
        const auto again = common::parse_rfc3339(ts);
        FUZZ_CHECK(again && *again == out.value.timestamp);
        FUZZ_CHECK(reference.is_object());

        // The 201 body, as api::metrics_handlers::ingest writes it.
        std::string answer = R"({"message":"Metric received","timestamp":")";
        common::append_rfc3339(answer, out.value.timestamp);
        answer += R"(","type":")" + out.value.type + "\"}";
        const auto parsed_answer = boost::json::parse(answer, ec);
        FUZZ_CHECK(!ec);
        FUZZ_CHECK(parsed_answer.at("type").as_string() == out.value.type.c_str());
        fuzz::check_value_text(out.value.value);
        break;
    }
    case metrics::parse_outcome::status::invalid:
        FUZZ_CHECK(!out.errors.empty());
        for (const auto& e : out.errors) {
            FUZZ_CHECK(!e.field.empty() && !e.message.empty());
        }
        break;
    case metrics::parse_outcome::status::invalid_json:
        FUZZ_CHECK(out.errors.empty());
        break;
    }

    // The same bytes as a batch body, and as the one item of a batch.
    fuzz::check_batch(body);
    fuzz::check_batch("[" + std::string(body) + "]");

    // Any eight bytes as a double, including NaN, infinities, -0 and subnormals.
    if (size >= sizeof(double)) {
        double v = 0;
        std::memcpy(&v, data, sizeof v);
        fuzz::check_value_text(v);
    }
    return 0;
}
