#pragma once
// GET /health (liveness) and GET /ready (readiness). docs/contract.md, Health: /health is always
// 200 with `status` healthy or degraded (some Redis shard unreachable), `redis_connected` (every
// shard reachable) and `redis_nodes` (each node of the Redis deployment as this instance sees
// it); /ready answers 503 with the same body only while this instance cannot serve at all (no
// shard reachable) or is shutting down, so that one shard failing over does not make a load
// balancer drain every instance at once.
//
// `degraded` comes with a `reason`: `redis_unreachable`, or `redis_refusing_writes` while Redis
// answers reads but refuses writes (OOM at maxmemory, READONLY, MISCONF; redis::write_refusals),
// when `refusal` names the kind (`oom`, `readonly`, `misconf`). Refused writes leave /ready at
// 200: every instance shares the Redis, so taking this one out of rotation would help no one.
//
// Thread safety: one instance per worker; reads a snapshot function that is safe to call from
// any worker, and a process-wide flag.

#include "common/asio.hpp"
#include "http/message.hpp"
#include "http/router.hpp"
#include "redis/client.hpp"
#include "redis/write_refusals.hpp"

#include <atomic>
#include <functional>
#include <string>
#include <vector>

namespace analytics::api {

/// What the instance knows of its Redis connections, over every worker.
struct redis_health {
    bool connected = false;  // every shard reachable from every worker
    bool serving = false;    // at least one shard reachable from every worker
    // Each node (single node: the one server), masters first; `connected` is true when every
    // worker's connection to it is up.
    std::vector<redis::node_state> nodes;
    bool cluster = false;  // a Redis Cluster: nodes carry slots and the cluster's view of them
};

class health_handlers {
public:
    /// `redis` reports the instance's Redis connections; `shutting_down` is set on SIGTERM;
    /// `refusals` tells whether Redis refuses writes. The last two must outlive the handlers.
    health_handlers(std::function<redis_health()> redis, const std::atomic<bool>& shutting_down,
                    const redis::write_refusals& refusals);

    net::awaitable<http::response> health(http::request& req);
    net::awaitable<http::response> ready(http::request& req);

    /// Registers GET /health and GET /ready on `r`.
    void register_routes(http::router& r);

private:
    /// The /health body for `state` (without the closing brace when `open`).
    std::string body(const redis_health& state, bool open = false) const;

    std::function<redis_health()> redis_;
    const std::atomic<bool>& shutting_down_;
    const redis::write_refusals& refusals_;
};

}  // namespace analytics::api
