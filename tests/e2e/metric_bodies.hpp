#pragma once
// Bodies for POST /api/metrics in end-to-end and chaos tests, with the service's own RFC 3339
// formatter for "now", so that every test builds them the same way.

#include "common/rfc3339.hpp"

#include <ctime>
#include <string>
#include <string_view>

namespace analytics::test {

/// The current time as RFC 3339 text in whole seconds, UTC (`2026-02-19T12:00:00Z`).
inline std::string now_rfc3339()
{
    return common::format_rfc3339_seconds(std::time(nullptr));
}

/// `{"timestamp":"<timestamp>","value":<value>,"type":"<type>"}`; `value` is JSON number text,
/// and nothing is escaped, so tests can send malformed values on purpose.
inline std::string metric_body(std::string_view timestamp, std::string_view value,
                               std::string_view type)
{
    std::string body;
    body.reserve(48 + timestamp.size() + value.size() + type.size());
    body.append(R"({"timestamp":")").append(timestamp).append(R"(","value":)").append(value);
    body.append(R"(,"type":")").append(type).append(R"("})");
    return body;
}

}  // namespace analytics::test
