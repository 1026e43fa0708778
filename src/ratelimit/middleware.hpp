#pragma once
// The rate limit as route middleware, in the shape of userver's RateLimit calling Next(): the
// limiter decides before the handler runs (every request to the route counts, valid or not), a
// refusal answers 429 without calling the handler, and whatever the handler answers gets the
// quota fields.
//
// Thread safety: the returned handler belongs to the worker whose limiter it refers to.

#include "http/router.hpp"
#include "ratelimit/sliding_window_limiter.hpp"

namespace analytics::telemetry {
class shard;
}

namespace analytics::ratelimit {

/// Wraps `next` so that each request is first checked by `limiter`, keyed by the client
/// address of its request_context, and the decision counted in `stats` (the worker's shard).
/// With RATE_LIMIT_ENABLED=false returns `next` itself: no limit, no headers. `limiter` and
/// `stats` must outlive the returned handler.
http::handler limit(sliding_window_limiter& limiter, telemetry::shard& stats, http::handler next);

}  // namespace analytics::ratelimit
