#pragma once
// GET /health (liveness) and GET /ready (readiness). docs/contract.md, Endpoints: /health is always
// 200 with `status` healthy or degraded (Redis unreachable); /ready answers 503 with the same body
// while Redis is unreachable or the process is shutting down.
//
// Thread safety: one instance per worker; reads the worker's Redis client and a process-wide flag.

#include "common/asio.hpp"
#include "http/message.hpp"
#include "http/router.hpp"

#include <atomic>
#include <functional>

namespace analytics::api {

class health_handlers {
public:
    /// `redis_connected` reports the worker's Redis connection; `shutting_down` is set on SIGTERM.
    health_handlers(std::function<bool()> redis_connected, const std::atomic<bool>& shutting_down);

    net::awaitable<http::response> health(http::request& req);
    net::awaitable<http::response> ready(http::request& req);

    /// Registers GET /health and GET /ready on `r`.
    void register_routes(http::router& r);

private:
    std::string body(bool connected) const;

    std::function<bool()> redis_connected_;
    const std::atomic<bool>& shutting_down_;
};

}  // namespace analytics::api
