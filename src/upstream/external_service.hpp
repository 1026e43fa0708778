#pragma once
// The external service a summary cache miss consults (the seed's simulated upstream), behind one
// interface so the summary path does not care which one runs and tests can substitute their own:
//
//     simulated_service  the built-in simulator: fails with EXTERNAL_SERVICE_FAILURE_RATE and
//                        answers after EXTERNAL_SERVICE_LATENCY_MS, both changeable at run time
//                        (simulation_settings, PUT /api/admin/external-service)
//     http_service       a GET to EXTERNAL_SERVICE_URL (http:// or verified https://) that
//                        must answer 2xx
//
// Implementations apply no deadline of their own: the caller wraps `call` in
// `common::with_timeout(..., EXTERNAL_SERVICE_TIMEOUT)` and counts a timeout as a failure. In
// exchange every wait inside `call` honours per-operation cancellation, so a call abandoned by
// that timeout unwinds at once and leaves nothing running.
//
// Thread safety: `call` may be invoked concurrently from any worker thread; each call runs on
// the executor of the coroutine that awaits it.

#include "common/asio.hpp"
#include "config/settings.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace analytics::upstream {

class simulation_settings;

/// The outcome of one call: ok, or failed with a reason for the logs.
struct call_result {
    enum class status { ok, failed };

    status outcome = status::failed;
    std::string reason;  // empty when ok, e.g. "HTTP 503" or "connect: Connection refused"

    bool ok() const noexcept { return outcome == status::ok; }

    static call_result success() { return {status::ok, {}}; }
    static call_result failure(std::string why) { return {status::failed, std::move(why)}; }
};

class external_service {
public:
    virtual ~external_service() = default;

    /// Performs one call. `what` names the call in logs (e.g. the summary cache key); like every
    /// argument of a lazy awaitable it must stay valid until the returned awaitable completes.
    virtual net::awaitable<call_result> call(std::string_view what) = 0;
};

/// The upstream that `opts` selects: http_service when `opts.url` is set, else a
/// simulated_service reading `settings`. Both must outlive the returned service.
std::unique_ptr<external_service> make_external_service(const config::upstream_options& opts,
                                                        const simulation_settings& settings);

}  // namespace analytics::upstream
