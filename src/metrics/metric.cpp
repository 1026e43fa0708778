#include "metrics/metric.hpp"

#include <boost/json/basic_parser_impl.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

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

// The three fields of one metric object.
struct metric_fields {
    member timestamp;
    member value;
    member type;
};

// Reads a body as Boost.JSON's parser events, without building a document, and hands each
// metric object it holds to `Sink`: a single body is one metric object at the top, a batch
// body an array whose elements are metric objects. Of a metric object it keeps "timestamp",
// "value" and "type" and skips everything else; a repeated key counts by its last occurrence,
// as in boost::json::parse. Strings without escapes stay views into the body, so an ordinary
// body is read without touching the heap.
//
// Sink has `void metric(std::size_t element, const metric_fields&)`, called when an object
// ends, and, for a batch, `void not_an_object(std::size_t element)` for any other element.
template <class Sink>
class body_reader {
public:
    static constexpr std::size_t max_array_size = std::size_t(-1);
    static constexpr std::size_t max_object_size = std::size_t(-1);
    static constexpr std::size_t max_string_size = std::size_t(-1);
    static constexpr std::size_t max_key_size = std::size_t(-1);

    enum class top { none, object, array, other };

    // `batch`: the metrics are the elements of a top-level array, not the top-level object.
    body_reader(std::string_view body, bool batch, Sink& sink) noexcept
        : body_(body), metric_depth_(batch ? 1 : 0), sink_(sink)
    {
    }

    top top_value() const noexcept { return top_; }
    // Elements of the top-level array.
    std::size_t elements() const noexcept { return elements_; }

    bool on_document_begin(error_code&) { return true; }
    bool on_document_end(error_code&) { return true; }
    bool on_array_begin(error_code&)
    {
        begin_value(top::array);
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
        const bool is_metric = begin_value(top::object);
        ++depth_;
        if (is_metric) {
            in_metric_ = true;
            fields_ = {};
        }
        return true;
    }
    bool on_object_end(std::size_t, error_code&)
    {
        --depth_;
        if (in_metric_ && depth_ == metric_depth_) {
            in_metric_ = false;
            sink_.metric(metric_depth_ == 0 ? 0 : elements_ - 1, fields_);
        }
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
        begin_value(top::other);
        settle(shape::string);
        return true;
    }
    bool on_key_part(std::string_view s, std::size_t, error_code&)
    {
        if (at_field()) {
            key_.append(s);
        }
        return true;
    }
    bool on_key(std::string_view s, std::size_t, error_code&)
    {
        if (at_field()) {
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
        begin_value(top::other);
        settle(shape::other);
        return true;
    }
    bool on_null(error_code&)
    {
        begin_value(top::other);
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
        begin_value(top::other);
        settle(shape::number);
        return true;
    }

    // A value begins (a scalar, or an array or object whose insides are skipped): it may be the
    // top-level value or an element of the top-level array. True when it is an object where
    // the metrics lie.
    bool begin_value(top kind)
    {
        if (depth_ == 0) {
            top_ = kind;
            return metric_depth_ == 0 && kind == top::object;
        }
        if (metric_depth_ == 1 && depth_ == 1 && top_ == top::array) {
            const std::size_t element = elements_++;
            if (kind != top::object) {
                sink_.not_an_object(element);
            }
            return kind == top::object;
        }
        if (kind != top::other) {
            settle(shape::other);
        }
        return false;
    }

    // A member's value came: it settles the member whose key came just before it, if it is
    // one of ours.
    void settle(shape kind)
    {
        if (target_ != nullptr) {
            target_->kind = kind;
            target_ = nullptr;
        }
    }

    // Whether a key names a member of a metric object.
    bool at_field() const noexcept { return in_metric_ && depth_ == metric_depth_ + 1; }

    member* field(std::string_view key) noexcept
    {
        if (key == "timestamp") {
            return &fields_.timestamp;
        }
        if (key == "value") {
            return &fields_.value;
        }
        if (key == "type") {
            return &fields_.type;
        }
        return nullptr;
    }

    bool within_body(std::string_view s) const noexcept
    {
        return std::less_equal<>{}(body_.data(), s.data()) &&
               std::less_equal<>{}(s.data() + s.size(), body_.data() + body_.size());
    }

    std::string_view body_;
    std::size_t metric_depth_;
    Sink& sink_;
    std::size_t depth_ = 0;
    top top_ = top::none;
    std::size_t elements_ = 0;
    bool in_metric_ = false;
    member* target_ = nullptr;  // the member the next value settles
    std::string key_;           // a key that arrives in parts
    metric_fields fields_;
};

// Feeds the whole body to `parser`; false when it is not JSON (or nests deeper than the
// parser's options allow).
template <class Handler>
bool read_whole(boost::json::basic_parser<Handler>& parser, std::string_view body)
{
    error_code ec;
    const std::size_t used = parser.write_some(false, body.data(), body.size(), ec);
    // Anything after the document (other than whitespace, which the parser takes) is not JSON.
    return !ec && used == body.size();
}

boost::json::parse_options body_options()
{
    boost::json::parse_options opts;
    opts.max_depth = 32;
    return opts;
}

// A failing field's name: "value" in a single body, "[3].value" for the fourth metric of a batch.
std::string field_name(std::optional<std::size_t> element, std::string_view field)
{
    if (!element) {
        return std::string(field);
    }
    std::string name = "[" + std::to_string(*element) + "]";
    if (!field.empty()) {
        name.append(".").append(field);
    }
    return name;
}

// The schema's rules for the three fields, whatever JSON they came from; `element` is the
// metric's place in a batch.
void validate(const metric_fields& f, std::optional<std::size_t> element, metric& out,
              std::vector<common::field_error>& errors)
{
    auto fail = [&](std::string_view field, std::string_view message) {
        errors.push_back({field_name(element, field), std::string(message)});
    };
    const member& ts = f.timestamp;
    if (ts.kind == shape::missing) {
        fail("timestamp", "is required");
    } else if (ts.kind != shape::string) {
        fail("timestamp", "must be an RFC 3339 string");
    } else if (auto parsed = common::parse_rfc3339(ts.text); !parsed) {
        fail("timestamp", "must be an RFC 3339 date-time with offset, e.g. 2026-02-19T12:00:00Z");
    } else {
        out.timestamp = *parsed;
    }

    const member& v = f.value;
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

    const member& t = f.type;
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

// What a single body's reader does with the one metric object it finds.
struct single_sink {
    parse_outcome& out;

    void metric(std::size_t, const metric_fields& f) { validate(f, std::nullopt, out.value, out.errors); }
    void not_an_object(std::size_t) {}
};

// What a batch body's reader does with each element: every metric validated in order, all of
// them kept until the batch turns out too long (then it is refused whole, so the rest are
// only counted).
struct batch_sink {
    batch_parse_outcome& out;

    void metric(std::size_t element, const metric_fields& f)
    {
        if (element < max_batch_size) {
            validate(f, element, out.values.emplace_back(), out.errors);
        }
    }
    void not_an_object(std::size_t element)
    {
        if (element < max_batch_size) {
            out.values.emplace_back();
            out.errors.push_back({field_name(element, ""), "must be a JSON object"});
        }
    }
};

// The shortest metric a batch can hold, with the comma after it: a batch of N metrics is at
// least N times this long.
constexpr std::size_t smallest_batch_element =
    std::string_view(R"({"timestamp":"0001-01-01T00:00:00Z","value":0,"type":"a"},)").size();

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
    single_sink sink{out};
    boost::json::basic_parser<body_reader<single_sink>> parser(body_options(), body, false, sink);
    if (!read_whole(parser, body)) {
        out.result = parse_outcome::status::invalid_json;
        out.errors.clear();
        return out;
    }
    if (parser.handler().top_value() != body_reader<single_sink>::top::object) {
        out.result = parse_outcome::status::invalid;
        out.errors.push_back({"body", "must be a JSON object"});
        return out;
    }
    if (!out.errors.empty()) {
        out.result = parse_outcome::status::invalid;
    }
    return out;
}

batch_parse_outcome parse_metric_batch(std::string_view body)
{
    batch_parse_outcome out;
    out.values.reserve(std::min(max_batch_size, body.size() / smallest_batch_element + 1));
    batch_sink sink{out};
    boost::json::basic_parser<body_reader<batch_sink>> parser(body_options(), body, true, sink);
    const bool is_json = read_whole(parser, body);
    const auto& read = parser.handler();
    if (is_json && read.top_value() == body_reader<batch_sink>::top::array &&
        read.elements() >= 1 && read.elements() <= max_batch_size && out.errors.empty()) {
        return out;
    }
    out.values.clear();
    if (!is_json) {
        out.errors.clear();
        out.result = parse_outcome::status::invalid_json;
        return out;
    }
    out.result = parse_outcome::status::invalid;
    if (read.top_value() != body_reader<batch_sink>::top::array) {
        out.errors.assign({{"body", "must be a JSON array of metrics"}});
    } else if (read.elements() < 1 || read.elements() > max_batch_size) {
        out.errors.assign({{"body", "must hold 1 to 1000 metrics"}});
    }
    return out;
}

char* write_value(char* out, double v) noexcept
{
    // A sum of huge values can overflow to infinity; JSON has no spelling for it.
    if (!std::isfinite(v)) {
        return std::copy_n("null", 4, out);
    }
    // Shortest round-trip text, plain or with an exponent, whichever is shorter: never more
    // than value_text_max_size characters.
    return std::to_chars(out, out + value_text_max_size, v).ptr;
}

void append_value(std::string& out, double v)
{
    std::array<char, value_text_max_size> buf;
    out.append(buf.data(), write_value(buf.data(), v));
}

std::string format_value(double v)
{
    std::string out;
    append_value(out, v);
    return out;
}

}  // namespace analytics::metrics
