#include "metrics/metric.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <array>
#include <charconv>
#include <cmath>

namespace analytics::metrics {

namespace {

bool type_char(char c) noexcept
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == ':' || c == '-';
}

}  // namespace

bool is_valid_type(std::string_view type) noexcept
{
    if (type.empty() || type.size() > max_type_length) {
        return false;
    }
    for (char c : type) {
        if (!type_char(c)) {
            return false;
        }
    }
    return true;
}

parse_outcome parse_metric(std::string_view body)
{
    parse_outcome out;

    // Bodies are at most 64 KiB; a stack arena covers ordinary ones without touching the heap.
    std::array<unsigned char, 4096> arena;
    boost::json::monotonic_resource mr(arena.data(), arena.size());
    boost::json::parse_options opts;
    opts.max_depth = 32;
    boost::system::error_code ec;
    const boost::json::value doc = boost::json::parse(body, ec, &mr, opts);
    if (ec) {
        out.result = parse_outcome::status::invalid_json;
        return out;
    }
    const auto* obj = doc.if_object();
    if (obj == nullptr) {
        out.result = parse_outcome::status::invalid;
        out.errors.push_back({"body", "must be a JSON object"});
        return out;
    }

    if (const auto* ts = obj->if_contains("timestamp"); ts == nullptr || ts->is_null()) {
        out.errors.push_back({"timestamp", "is required"});
    } else if (!ts->is_string()) {
        out.errors.push_back({"timestamp", "must be an RFC 3339 string"});
    } else if (auto parsed = common::parse_rfc3339(ts->get_string()); !parsed) {
        out.errors.push_back(
            {"timestamp", "must be an RFC 3339 date-time with offset, e.g. 2026-02-19T12:00:00Z"});
    } else {
        out.value.timestamp = *parsed;
    }

    if (const auto* v = obj->if_contains("value"); v == nullptr || v->is_null()) {
        out.errors.push_back({"value", "is required"});
    } else if (!v->is_number()) {
        out.errors.push_back({"value", "must be a number"});
    } else {
        // Boost.JSON reads numbers beyond double's range as infinities.
        const double d = v->to_number<double>();
        if (!std::isfinite(d)) {
            out.errors.push_back({"value", "must be a finite number"});
        } else {
            out.value.value = d;
        }
    }

    if (const auto* t = obj->if_contains("type"); t == nullptr || t->is_null()) {
        out.errors.push_back({"type", "is required"});
    } else if (!t->is_string()) {
        out.errors.push_back({"type", "must be a string"});
    } else if (!is_valid_type(t->get_string())) {
        out.errors.push_back({"type", "must be 1-64 characters of A-Z a-z 0-9 _ . : -"});
    } else {
        out.value.type.assign(t->get_string().data(), t->get_string().size());
    }

    if (!out.errors.empty()) {
        out.result = parse_outcome::status::invalid;
    }
    return out;
}

void append_value(std::string& out, double v)
{
    // A sum of huge values can overflow to infinity; JSON has no spelling for it.
    if (!std::isfinite(v)) {
        out.append("null");
        return;
    }
    std::array<char, 32> buf{};
    const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    out.append(buf.data(), end);
}

std::string format_value(double v)
{
    std::string out;
    append_value(out, v);
    return out;
}

}  // namespace analytics::metrics
