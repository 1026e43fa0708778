#include "http/response.hpp"

#include "common/json_escape.hpp"
#include "common/rfc3339.hpp"

#include <chrono>

namespace analytics::http {

namespace {

void append_error_head(std::string& body, std::string_view code, std::string_view message)
{
    body.append(R"({"code":")");
    common::append_json_escaped(body, code);
    body.append(R"(","message":")");
    common::append_json_escaped(body, message);
    body.append(R"(","timestamp":")");
    body.append(now_rfc3339());
    body.push_back('"');
}

}  // namespace

std::string_view now_rfc3339()
{
    thread_local std::int64_t cached_second = -1;
    thread_local std::string cached;
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    if (now != cached_second) {
        cached = common::format_rfc3339_seconds(now);
        cached_second = now;
    }
    return cached;
}

response json_response(unsigned status, std::string body)
{
    response r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

response error_response(unsigned status, std::string_view code, std::string_view message)
{
    std::string body;
    body.reserve(96 + message.size());
    append_error_head(body, code, message);
    body.push_back('}');
    return json_response(status, std::move(body));
}

response validation_error(std::span<const field_error> errors)
{
    return validation_error("VALIDATION_ERROR", "Request validation failed", errors);
}

response validation_error(std::string_view code, std::string_view message,
                          std::span<const field_error> errors)
{
    std::string body;
    body.reserve(128 + message.size() + errors.size() * 64);
    append_error_head(body, code, message);
    body.append(R"(,"errors":[)");
    bool first = true;
    for (const auto& e : errors) {
        if (!first) {
            body.push_back(',');
        }
        first = false;
        body.append(R"({"field":")");
        common::append_json_escaped(body, e.field);
        body.append(R"(","message":")");
        common::append_json_escaped(body, e.message);
        body.append(R"("})");
    }
    body.append("]}");
    return json_response(422, std::move(body));
}

}  // namespace analytics::http
