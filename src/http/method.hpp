#pragma once
// The request methods the router distinguishes: common::http_method under the HTTP layer's
// name. A header of its own, so that what only needs the method does not include the request
// and response types.
//
// Thread safety: values and a pure function.

#include "common/http_method.hpp"

namespace analytics::http {

using method = common::http_method;
using common::to_string;

}  // namespace analytics::http
