#pragma once
// GET /api/circuit-breaker/status (docs/contract.md, Circuit breaker): 200 with
// {"state","failure_count","success_count","scope","instance"}, plus "opened_at" (RFC 3339)
// while OPEN or HALF_OPEN and "retry_after_seconds" while no call would be let through (OPEN,
// or HALF_OPEN with the trial in flight). In cluster scope the state is the fleet's, read from
// Redis; while Redis does not answer it is this instance's own breaker, which decides
// meanwhile, and the body says "fallback": true.
//
// Thread safety: one instance per worker, on that worker's thread, as is its breaker.

#include "breaker/scoped_breaker.hpp"
#include "common/asio.hpp"
#include "http/message.hpp"
#include "http/router.hpp"

#include <string>
#include <string_view>

namespace analytics::api {

class breaker_handlers {
public:
    /// `breaker` is the worker's breaker; `instance_id` names this instance (INSTANCE_ID). Both
    /// must outlive the handlers; the id is read at each request, so it may be set after
    /// construction, before the workers start.
    breaker_handlers(breaker::scoped_breaker& breaker, const std::string& instance_id);

    /// GET /api/circuit-breaker/status: 200 with the breaker's current state.
    net::awaitable<http::response> status(http::request& req);

    /// Registers GET /api/circuit-breaker/status on `r`.
    void register_routes(http::router& r);

    /// The JSON body for `s` (exposed for tests and for other renderers of the state).
    static std::string status_body(const breaker::scoped_status& s, std::string_view instance_id);

private:
    breaker::scoped_breaker& breaker_;
    const std::string& instance_id_;
};

}  // namespace analytics::api
