#pragma once
// The request methods the router distinguishes. A header of its own, so that what only needs
// the method (telemetry's per-method counters) does not include the request and response types.
//
// Thread safety: values and a pure function.

#include <string_view>

namespace analytics::http {

enum class method { get, head, post, put, patch, delete_, options, other };

/// "GET", "POST", ... ("OTHER" for methods we do not route).
std::string_view to_string(method m) noexcept;

}  // namespace analytics::http
