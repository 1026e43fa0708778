#pragma once
// GET /health (liveness) and GET /ready (readiness). API.md: /health is always 200 with
// `status` healthy or degraded; /ready answers 503 with the same body while Redis is
// unreachable or the process is shutting down.
//
// `degraded` comes with a `reason`: `redis_unreachable`, or `redis_refusing_writes` while Redis
// answers reads but refuses writes (OOM at maxmemory, READONLY, MISCONF; redis::write_refusals),
// when `refusal` names the kind (`oom`, `readonly`, `misconf`). Refused writes leave /ready at
// 200: every instance shares the Redis, so taking this one out of rotation would help no one.
//
// Thread safety: one instance per worker; reads the worker's Redis client and process-wide state.

#include "common/asio.hpp"
#include "http/message.hpp"
#include "http/router.hpp"
#include "redis/write_refusals.hpp"

#include <atomic>
#include <functional>
#include <string>

namespace analytics::api {

class health_handlers {
public:
    /// `redis_connected` reports the worker's Redis connection; `shutting_down` is set on SIGTERM;
    /// `refusals` tells whether Redis refuses writes. The last two must outlive the handlers.
    health_handlers(std::function<bool()> redis_connected, const std::atomic<bool>& shutting_down,
                    const redis::write_refusals& refusals);

    net::awaitable<http::response> health(http::request& req);
    net::awaitable<http::response> ready(http::request& req);

    /// Registers GET /health and GET /ready on `r`.
    void register_routes(http::router& r);

private:
    std::string body(bool connected) const;

    std::function<bool()> redis_connected_;
    const std::atomic<bool>& shutting_down_;
    const redis::write_refusals& refusals_;
};

}  // namespace analytics::api
