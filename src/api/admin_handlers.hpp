#pragma once
// PUT /api/admin/external-service (docs/contract.md, Admin): changes the simulated upstream's
// failure rate and latency at run time and answers the settings now in force, 200 {"failure_rate":
// x, "latency_ms": n}.
//
//     403 FORBIDDEN           ADMIN_TOKEN is unset or empty: the admin API is off for everyone
//     401 UNAUTHORIZED        no `Authorization: Bearer <token>`, or the wrong token
//                             (with `WWW-Authenticate: Bearer`, RFC 6750)
//     429 RATE_LIMIT_EXCEEDED the client sent 10 wrong tokens within a minute (auth_throttle),
//                             with `Retry-After`; whatever its token, until the minute passes
//     400 INVALID_JSON        the body is not JSON
//     422 VALIDATION_ERROR    failure_rate not a number in [0, 1], latency_ms not an integer in
//                             [0, 600000], neither given, or the body not an object
//     503 STORAGE_UNAVAILABLE the settings could not be stored for the fleet (Redis
//                             unreachable): nothing changed anywhere
//
// Two Authorization headers are refused before routing (400, http::scan_head). Every accepted
// change writes one `upstream.settings_changed` log line (before and after).
//
// Owns: a copy of the admin token. Holds references to where settings are written (the
// worker's shared_settings, which stores them for every instance) and to the process-wide
// throttle.
//
// Thread safety: one instance per worker, on that worker's thread, as is its settings writer.

#include "api/auth_throttle.hpp"
#include "common/asio.hpp"
#include "http/message.hpp"
#include "http/router.hpp"
#include "upstream/settings_writer.hpp"
#include "upstream/simulation_settings.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace analytics::api {

class admin_handlers {
public:
    /// `admin_token` is ADMIN_TOKEN (empty: every request gets 403); `settings` and `throttle`
    /// must outlive the handlers.
    admin_handlers(std::string admin_token, upstream::settings_writer& settings,
                   auth_throttle& throttle);

    /// PUT /api/admin/external-service: checks the token, validates the body, applies it.
    net::awaitable<http::response> update_external_service(http::request& req);

    /// Registers PUT /api/admin/external-service on `r`.
    void register_routes(http::router& r);

private:
    /// nullopt when `req` carries the right bearer token, else the 401, 403 or 429 to answer.
    std::optional<http::response> check_authorization(const http::request& req) const;

    std::string admin_token_;
    upstream::settings_writer& settings_;
    auth_throttle& throttle_;
};

/// True when `given` equals `expected`, in a time that does not depend on where they differ (only
/// on the length of `expected`), so the token cannot be guessed byte by byte from timings.
bool constant_time_equal(std::string_view expected, std::string_view given) noexcept;

}  // namespace analytics::api
