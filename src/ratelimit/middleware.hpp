#pragma once
// The rate limit as route middleware, in the shape of userver's RateLimit calling Next(): the
// limiter decides before the handler runs (API.md: every request to the route counts, valid or
// not), a refusal answers 429 without calling the handler, and whatever the handler answers
// gets the quota fields. A handler whose only effect is one Redis write can instead take the
// check into that write (admitted_handler), which saves a round trip per request.
//
// Thread safety: the returned handler belongs to the worker whose limiter it refers to.

#include "http/router.hpp"
#include "ratelimit/sliding_window_limiter.hpp"

#include <functional>

namespace analytics::ratelimit {

/// Wraps `next` so that each request is first checked by `limiter`, keyed by the client
/// address of its request_context. With RATE_LIMIT_ENABLED=false returns `next` itself: no
/// limit, no headers. `limiter` must outlive the returned handler.
http::handler limit(sliding_window_limiter& limiter, http::handler next);

/// A handler that has the check decided by its own Redis write (see admission): it gets the
/// request's admission, or nullptr when the limit is disabled, and changes nothing unless that
/// write settles the admission allowed.
using admitted_handler = std::function<net::awaitable<http::response>(http::request&, admission*)>;

/// Like limit(), with the check left to `next`: a remembered refusal answers 429 at once;
/// otherwise `next` runs, and when it did not settle the admission the middleware checks after
/// it. Either way a refusal answers 429 in place of `next`'s answer, so the request counts
/// whatever `next` made of it.
http::handler limit(sliding_window_limiter& limiter, admitted_handler next);

}  // namespace analytics::ratelimit
