#pragma once
// Building responses in the contract's shapes (docs/contract.md, Conventions): every error,
// whatever its status, has the body {"code": "UPPER_SNAKE", "message": "human text", "timestamp":
// "..."}; a 422 adds "errors": [{"field": ..., "message": ...}].
//
// Thread safety: free functions; the timestamp cache is per thread.

#include "common/field_error.hpp"
#include "http/message.hpp"

#include <span>
#include <string>
#include <string_view>

namespace analytics::http {

using common::field_error;

/// A JSON response with the given status and an already-serialised body.
response json_response(unsigned status, std::string body);

/// An error response in the contract's format.
response error_response(unsigned status, std::string_view code, std::string_view message);

/// 422 VALIDATION_ERROR with the per-field `errors` list.
response validation_error(std::span<const field_error> errors);

/// A 422 with its own code and message and the per-field `errors` list.
response validation_error(std::string_view code, std::string_view message,
                          std::span<const field_error> errors);

/// The current time as `YYYY-MM-DDTHH:MM:SSZ`, formatted once per second per thread.
std::string_view now_rfc3339();

}  // namespace analytics::http
