#pragma once
// A metric point and the validation of the POST /api/metrics body.
//
// docs/contract.md, Metric body: `timestamp` RFC 3339 (required), `value` finite number (required;
// NaN/Infinity/strings rejected), `type` 1-64 characters of [A-Za-z0-9_.:-] (required).
// Unknown fields are ignored.
//
// Thread safety: pure functions.

#include "common/field_error.hpp"
#include "common/rfc3339.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace analytics::metrics {

struct metric {
    common::timestamp timestamp;
    double value = 0;
    std::string type;
};

inline constexpr std::size_t max_type_length = 64;

/// True when `type` is 1-64 characters of [A-Za-z0-9_.:-]. Checked before a type goes near a
/// Redis key.
bool is_valid_type(std::string_view type) noexcept;

struct parse_outcome {
    enum class status { ok, invalid_json, invalid };

    status result = status::ok;
    metric value;                             // when ok
    std::vector<common::field_error> errors;  // when invalid, one per failing field
};

/// Parses and validates a request body. Bodies that are not JSON (or nest deeper than 32
/// levels) are invalid_json (400); JSON that breaks the schema is invalid (422) with every
/// failing field listed.
parse_outcome parse_metric(std::string_view body);

/// The most metrics one batch request may hold.
inline constexpr std::size_t max_batch_size = 1000;

struct batch_parse_outcome {
    parse_outcome::status result = parse_outcome::status::ok;
    std::vector<metric> values;               // when ok, in the body's order
    std::vector<common::field_error> errors;  // when invalid; fields name the item: "[3].value"
};

/// Parses and validates a batch body: a JSON array of 1..1000 metric bodies, all or nothing.
/// Not JSON: invalid_json (400); anything else wrong: invalid (422) with every failing field of
/// every item.
batch_parse_outcome parse_metric_batch(std::string_view body);

/// The shortest text that reads back as exactly `v` (e.g. "75.5", "1e+21"); valid JSON
/// (`null` for a non-finite value).
std::string format_value(double v);

/// Appends the same text to `out`.
void append_value(std::string& out, double v);

/// The longest text format_value() writes (e.g. "-2.2250738585072014e-308").
inline constexpr std::size_t value_text_max_size = 24;

/// Writes the same text at `out`, which must have room for value_text_max_size characters;
/// returns the end of the text.
char* write_value(char* out, double v) noexcept;

}  // namespace analytics::metrics
