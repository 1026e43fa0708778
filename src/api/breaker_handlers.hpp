#pragma once
// GET /api/circuit-breaker/status (API.md § Circuit breaker, issue 4): 200 with
// {"state","failure_count","success_count"}, plus "opened_at" (RFC 3339) while OPEN or
// HALF_OPEN and "retry_after_seconds" while no call would be let through (OPEN, or HALF_OPEN
// with the trial in flight).
//
// Thread safety: one instance per worker; reads the process-wide breaker, which locks itself.

#include "breaker/circuit_breaker.hpp"
#include "common/asio.hpp"
#include "http/message.hpp"
#include "http/router.hpp"

#include <string>

namespace analytics::api {

class breaker_handlers {
public:
    /// `breaker` is the process-wide breaker; it must outlive the handlers.
    explicit breaker_handlers(breaker::circuit_breaker& breaker);

    /// GET /api/circuit-breaker/status: 200 with the breaker's current snapshot.
    net::awaitable<http::response> status(http::request& req);

    /// Registers GET /api/circuit-breaker/status on `r`.
    void register_routes(http::router& r);

    /// The JSON body for `s` (exposed for tests and for other renderers of the state).
    static std::string status_body(const breaker::snapshot& s);

private:
    breaker::circuit_breaker& breaker_;
};

}  // namespace analytics::api
