#pragma once
// The HTTP request methods the service tells apart. A vocabulary shared by the HTTP layer (the
// router matches on it) and telemetry (requests are counted per method), so it lives below both;
// http/method.hpp names it http::method.
//
// Thread safety: values and a pure function.

#include <cstddef>
#include <string_view>

namespace analytics::common {

enum class http_method { get, head, post, put, patch, delete_, options, other };

/// Methods in http_method.
inline constexpr std::size_t http_method_count = 8;

/// "GET", "POST", ... ("OTHER" for methods the router does not route).
std::string_view to_string(http_method m) noexcept;

}  // namespace analytics::common
