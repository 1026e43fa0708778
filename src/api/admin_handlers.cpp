#include "api/admin_handlers.hpp"

#include "common/field_error.hpp"
#include "common/logging.hpp"
#include "http/response.hpp"

#include <boost/algorithm/string/classification.hpp>
#include <boost/algorithm/string/trim.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <optional>
#include <vector>

namespace analytics::api {

namespace {

constexpr std::string_view failure_rate_message = "must be a number between 0 and 1";
constexpr std::string_view latency_message = "must be an integer between 0 and 600000";

// The token of an `Authorization: Bearer <token>` header, or nullopt when the header is absent
// or uses another scheme. RFC 7235: the scheme name is case-insensitive and followed by at
// least one space.
std::optional<std::string_view> bearer_token(std::string_view header) noexcept
{
    const auto ows = boost::algorithm::is_any_of(" \t");
    header = boost::algorithm::trim_copy_if(header, ows);
    constexpr std::string_view scheme = "bearer";
    if (header.size() <= scheme.size() ||
        !boost::beast::iequals(header.substr(0, scheme.size()), scheme) ||
        header[scheme.size()] != ' ') {
        return std::nullopt;
    }
    return boost::algorithm::trim_copy_if(header.substr(scheme.size()), ows);
}

http::response unauthorized(std::string_view message, std::string challenge)
{
    auto res = http::error_response(401, "UNAUTHORIZED", message);
    res.set("WWW-Authenticate", std::move(challenge));
    return res;
}

std::optional<double> read_failure_rate(const json::value& v)
{
    double d = 0.0;
    switch (v.kind()) {
    case json::kind::int64:
        d = static_cast<double>(v.get_int64());
        break;
    case json::kind::uint64:
        d = static_cast<double>(v.get_uint64());
        break;
    case json::kind::double_:
        d = v.get_double();
        break;
    default:
        return std::nullopt;  // strings, booleans and null are not numbers
    }
    if (!std::isfinite(d) || d < 0.0 || d > 1.0) {
        return std::nullopt;
    }
    return d;
}

std::optional<std::chrono::milliseconds> read_latency(const json::value& v)
{
    constexpr auto max = upstream::simulation_settings::max_latency.count();
    switch (v.kind()) {
    case json::kind::int64:
        if (v.get_int64() >= 0 && v.get_int64() <= max) {
            return std::chrono::milliseconds(v.get_int64());
        }
        return std::nullopt;
    case json::kind::uint64:
        if (v.get_uint64() <= static_cast<std::uint64_t>(max)) {
            return std::chrono::milliseconds(static_cast<std::int64_t>(v.get_uint64()));
        }
        return std::nullopt;
    case json::kind::double_: {
        // 250.0 is an integer written as a float; 250.5 is not.
        const double d = v.get_double();
        if (std::isfinite(d) && d >= 0.0 && d <= static_cast<double>(max) && std::trunc(d) == d) {
            return std::chrono::milliseconds(static_cast<std::int64_t>(d));
        }
        return std::nullopt;
    }
    default:
        return std::nullopt;
    }
}

void append_double(std::string& out, double d)
{
    std::array<char, 32> buf{};
    const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), d);
    out.append(buf.data(), end);
}

std::string settings_body(const upstream::simulation_settings::values& v)
{
    std::string out = R"({"failure_rate":)";
    append_double(out, v.failure_rate);
    out.append(R"(,"latency_ms":)");
    out.append(std::to_string(v.latency.count()));
    out.push_back('}');
    return out;
}

}  // namespace

bool constant_time_equal(std::string_view expected, std::string_view given) noexcept
{
    // Every byte of `expected` is compared whatever `given` holds; a length mismatch is folded
    // into the same accumulator instead of returning early.
    unsigned diff = expected.size() == given.size() ? 0U : 1U;
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const auto e = static_cast<unsigned char>(expected[i]);
        const auto g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0U;
        diff |= e ^ g;
    }
    return diff == 0;
}

admin_handlers::admin_handlers(std::string admin_token, upstream::settings_writer& settings,
                               auth_throttle& throttle)
    : admin_token_(std::move(admin_token)), settings_(settings), throttle_(throttle)
{
}

std::optional<http::response> admin_handlers::check_authorization(const http::request& req) const
{
    if (admin_token_.empty()) {
        // docs/contract.md, Admin: with ADMIN_TOKEN unset the admin API answers 403 to everyone;
        // there is no credential that could help, so no 401 challenge.
        return http::error_response(403, "FORBIDDEN",
                                    "The admin API is disabled: ADMIN_TOKEN is not set");
    }
    // A client that guessed wrong too often is refused whatever it sends, the right token
    // included: otherwise the throttle would only slow the guessing down.
    const std::string_view client = req.context().client_key();
    if (const auto wait = throttle_.retry_after(client)) {
        auto res = http::error_response(429, "RATE_LIMIT_EXCEEDED",
                                        "Too many wrong admin tokens, try again later");
        res.set("Retry-After", std::to_string(wait->count()));
        return res;
    }
    const auto token = bearer_token(req.header("Authorization"));
    if (!token) {
        return unauthorized("An Authorization: Bearer <token> header is required", "Bearer");
    }
    if (!constant_time_equal(admin_token_, *token)) {
        throttle_.failed(client);
        // RFC 6750 § 3.1: a token that was sent but is not valid is `invalid_token`.
        return unauthorized("The bearer token is not valid", R"(Bearer error="invalid_token")");
    }
    return std::nullopt;
}

net::awaitable<http::response> admin_handlers::update_external_service(http::request& req)
{
    if (auto denied = check_authorization(req)) {
        co_return std::move(*denied);
    }

    boost::system::error_code ec;
    const json::value doc = json::parse(req.body(), ec);
    if (ec) {
        co_return http::error_response(400, "INVALID_JSON", "The request body is not valid JSON");
    }

    std::vector<common::field_error> errors;
    std::optional<double> failure_rate;
    std::optional<std::chrono::milliseconds> latency;
    if (const auto* object = doc.if_object()) {
        if (const auto* v = object->if_contains("failure_rate")) {
            failure_rate = read_failure_rate(*v);
            if (!failure_rate) {
                errors.push_back({"failure_rate", std::string(failure_rate_message)});
            }
        }
        if (const auto* v = object->if_contains("latency_ms")) {
            latency = read_latency(*v);
            if (!latency) {
                errors.push_back({"latency_ms", std::string(latency_message)});
            }
        }
        if (errors.empty() && !failure_rate && !latency) {
            errors.push_back({"body", "must contain failure_rate, latency_ms or both"});
        }
    } else {
        errors.push_back({"body", "must be a JSON object"});
    }
    if (!errors.empty()) {
        // Nothing is applied unless the whole body is valid.
        co_return http::validation_error(errors);
    }

    const auto written = co_await settings_.write(failure_rate, latency);
    if (!written) {
        // Nothing was stored, so nothing changed on any instance: the client may retry.
        log::warn("upstream.settings_not_stored", {{"request_id", req.context().request_id()},
                                                   {"error", written.error().message()}});
        co_return http::error_response(503, "STORAGE_UNAVAILABLE",
                                       "The settings could not be stored, try again later");
    }
    const auto& change = *written;
    log::info("upstream.settings_changed",
              {{"request_id", req.context().request_id()},
               {"failure_rate", change.after.failure_rate},
               {"latency_ms", change.after.latency.count()},
               {"previous_failure_rate", change.before.failure_rate},
               {"previous_latency_ms", change.before.latency.count()}});
    co_return http::json_response(200, settings_body(change.after));
}

void admin_handlers::register_routes(http::router& r)
{
    r.add(http::method::put, "/api/admin/external-service",
          [this](http::request& req) { return update_external_service(req); });
}

}  // namespace analytics::api
