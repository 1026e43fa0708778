#include "metrics/metric.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <functional>

namespace analytics::metrics {

namespace {

using boost::system::error_code;

bool type_char(char c) noexcept
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == ':' || c == '-';
}

// What a top-level member of the body holds, as far as the schema cares. The contract treats a null
// field as a missing one.
enum class shape { missing, string, number, other };

struct member {
    shape kind = shape::missing;
    std::string_view text;  // a string's value: in the body, or in `copy` when it had escapes
    std::string copy;
    double number = 0;  // a number's value, as boost::json::value::to_number<double> gives it
};

// Reads a metric body as Boost.JSON's parser events, without building a document: it keeps the
// top-level object's "timestamp", "value" and "type" and skips everything else. A repeated key
// counts by its last occurrence, as in boost::json::parse. Strings without escapes stay views
// into the body, so an ordinary body is read without touching the heap.
class body_reader {
public:
    static constexpr std::size_t max_array_size = std::size_t(-1);
    static constexpr std::size_t max_object_size = std::size_t(-1);
    static constexpr std::size_t max_string_size = std::size_t(-1);
    static constexpr std::size_t max_key_size = std::size_t(-1);

    explicit body_reader(std::string_view body) noexcept : body_(body) {}

    bool is_object() const noexcept { return is_object_; }
    const member& timestamp() const noexcept { return fields_[0]; }
    const member& value() const noexcept { return fields_[1]; }
    const member& type() const noexcept { return fields_[2]; }

    bool on_document_begin(error_code&) { return true; }
    bool on_document_end(error_code&) { return true; }
    bool on_array_begin(error_code&)
    {
        settle(shape::other);
        ++depth_;
        return true;
    }
    bool on_array_end(std::size_t, error_code&)
    {
        --depth_;
        return true;
    }
    bool on_object_begin(error_code&)
    {
        if (depth_ == 0) {
            is_object_ = true;
        } else {
            settle(shape::other);
        }
        ++depth_;
        return true;
    }
    bool on_object_end(std::size_t, error_code&)
    {
        --depth_;
        return true;
    }
    bool on_string_part(std::string_view s, std::size_t, error_code&)
    {
        if (target_ != nullptr) {
            target_->copy.append(s);
        }
        return true;
    }
    bool on_string(std::string_view s, std::size_t, error_code&)
    {
        if (target_ != nullptr) {
            member& m = *target_;
            if (m.copy.empty() && within_body(s)) {
                m.text = s;
            } else {
                m.copy.append(s);
                m.text = m.copy;
            }
        }
        settle(shape::string);
        return true;
    }
    bool on_key_part(std::string_view s, std::size_t, error_code&)
    {
        if (depth_ == 1) {
            key_.append(s);
        }
        return true;
    }
    bool on_key(std::string_view s, std::size_t, error_code&)
    {
        if (depth_ == 1) {
            std::string_view key = s;
            if (!key_.empty()) {
                key_.append(s);
                key = key_;
            }
            target_ = field(key);
            key_.clear();
            if (target_ != nullptr) {
                *target_ = member{};
            }
        }
        return true;
    }
    bool on_number_part(std::string_view, error_code&) { return true; }
    bool on_int64(std::int64_t i, std::string_view, error_code&)
    {
        return on_number(static_cast<double>(i));
    }
    bool on_uint64(std::uint64_t u, std::string_view, error_code&)
    {
        return on_number(static_cast<double>(u));
    }
    bool on_double(double d, std::string_view, error_code&) { return on_number(d); }
    bool on_bool(bool, error_code&)
    {
        settle(shape::other);
        return true;
    }
    bool on_null(error_code&)
    {
        settle(shape::missing);
        return true;
    }
    bool on_comment_part(std::string_view, error_code&) { return true; }
    bool on_comment(std::string_view, error_code&) { return true; }

private:
    bool on_number(double d)
    {
        if (target_ != nullptr) {
            target_->number = d;
        }
        settle(shape::number);
        return true;
    }

    // A value begins (a scalar, or an array or object whose insides are skipped): it settles
    // the member whose key came just before it, if it is one of ours.
    void settle(shape kind)
    {
        if (target_ != nullptr) {
            target_->kind = kind;
            target_ = nullptr;
        }
    }

    member* field(std::string_view key) noexcept
    {
        if (key == "timestamp") {
            return &fields_[0];
        }
        if (key == "value") {
            return &fields_[1];
        }
        if (key == "type") {
            return &fields_[2];
        }
        return nullptr;
    }

    bool within_body(std::string_view s) const noexcept
    {
        return std::less_equal<>{}(body_.data(), s.data()) &&
               std::less_equal<>{}(s.data() + s.size(), body_.data() + body_.size());
    }

    std::string_view body_;
    std::size_t depth_ = 0;
    bool is_object_ = false;
    member* target_ = nullptr;  // the member the next value settles
    std::string key_;           // a key that arrives in parts
    std::array<member, 3> fields_;
};


// The schema's rules for the three fields, whatever JSON they came from; `prefix` names the item
// in a batch ("[3]."), empty for a single metric.
void validate(const member& ts, const member& v, const member& t, std::string_view prefix,
              metric& out, std::vector<common::field_error>& errors)
{
    auto fail = [&](std::string_view field, std::string_view message) {
        errors.push_back({std::string(prefix) + std::string(field), std::string(message)});
    };
    if (ts.kind == shape::missing) {
        fail("timestamp", "is required");
    } else if (ts.kind != shape::string) {
        fail("timestamp", "must be an RFC 3339 string");
    } else if (auto parsed = common::parse_rfc3339(ts.text); !parsed) {
        fail("timestamp", "must be an RFC 3339 date-time with offset, e.g. 2026-02-19T12:00:00Z");
    } else {
        out.timestamp = *parsed;
    }

    if (v.kind == shape::missing) {
        fail("value", "is required");
    } else if (v.kind != shape::number) {
        fail("value", "must be a number");
    } else if (!std::isfinite(v.number)) {
        // Boost.JSON reads numbers beyond double's range as infinities.
        fail("value", "must be a finite number");
    } else {
        out.value = v.number;
    }

    if (t.kind == shape::missing) {
        fail("type", "is required");
    } else if (t.kind != shape::string) {
        fail("type", "must be a string");
    } else if (!is_valid_type(t.text)) {
        fail("type", "must be 1-64 characters of A-Z a-z 0-9 _ . : -");
    } else {
        out.type.assign(t.text.data(), t.text.size());
    }
}

// A field of a batch item, as the schema sees it.
member member_of(const boost::json::object& item, std::string_view key)
{
    member m;
    const boost::json::value* v = item.if_contains(key);
    if (v == nullptr || v->is_null()) {
        return m;
    }
    if (v->is_string()) {
        m.kind = shape::string;
        m.text = v->get_string();
    } else if (v->is_number()) {
        m.kind = shape::number;
        m.number = v->to_number<double>();
    } else {
        m.kind = shape::other;
    }
    return m;
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

    boost::json::parse_options opts;
    opts.max_depth = 32;
    boost::json::basic_parser<body_reader> parser(opts, body);
    boost::system::error_code ec;
    const std::size_t used = parser.write_some(false, body.data(), body.size(), ec);
    // Anything after the document (other than whitespace, which the parser takes) is not JSON.
    if (ec || used != body.size()) {
        out.result = parse_outcome::status::invalid_json;
        return out;
    }
    const body_reader& read = parser.handler();
    if (!read.is_object()) {
        out.result = parse_outcome::status::invalid;
        out.errors.push_back({"body", "must be a JSON object"});
        return out;
    }

    validate(read.timestamp(), read.value(), read.type(), "", out.value, out.errors);
    if (!out.errors.empty()) {
        out.result = parse_outcome::status::invalid;
    }
    return out;
}

batch_parse_outcome parse_metric_batch(std::string_view body)
{
    batch_parse_outcome out;
    boost::json::parse_options opts;
    opts.max_depth = 32;
    boost::system::error_code ec;
    const boost::json::value doc = boost::json::parse(body, ec, {}, opts);
    if (ec) {
        out.result = parse_outcome::status::invalid_json;
        return out;
    }
    out.result = parse_outcome::status::invalid;
    if (!doc.is_array()) {
        out.errors.push_back({"body", "must be a JSON array of metrics"});
        return out;
    }
    const boost::json::array& items = doc.get_array();
    if (items.empty() || items.size() > max_batch_size) {
        out.errors.push_back({"body", "must hold 1 to 1000 metrics"});
        return out;
    }
    out.values.resize(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
        const std::string prefix = "[" + std::to_string(i) + "]";
        if (!items[i].is_object()) {
            out.errors.push_back({prefix, "must be a JSON object"});
            continue;
        }
        const boost::json::object& item = items[i].get_object();
        validate(member_of(item, "timestamp"), member_of(item, "value"), member_of(item, "type"),
                 prefix + ".", out.values[i], out.errors);
    }
    if (out.errors.empty()) {
        out.result = parse_outcome::status::ok;
    } else {
        out.values.clear();
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
