#pragma once
// How a rate-limit decision shows in a response (docs/contract.md, Rate limiting):
// X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset (whole seconds until the count
// next drops, not an epoch time), and on a refusal 429 RATE_LIMIT_EXCEEDED with Retry-After.
// Alongside them, the fields of draft-ietf-httpapi-ratelimit-headers (revision 07):
// `RateLimit-Policy: 10;w=60` and `RateLimit: limit=10, remaining=3, reset=42`.
//
// Thread safety: free functions over values.

#include "http/message.hpp"
#include "ratelimit/decision.hpp"

namespace analytics::ratelimit {

/// Adds the five quota fields. Adds nothing for a decision without quota figures
/// (decision::has_quota(): Redis failed and RATE_LIMIT_FAILURE_MODE=open).
void add_rate_limit_headers(http::response& r, const decision& d);

/// 429 RATE_LIMIT_EXCEEDED in the contract's error format, with Retry-After and the quota fields.
http::response too_many_requests(const decision& d);

}  // namespace analytics::ratelimit
