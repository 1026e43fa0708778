#pragma once
// The service's complete route table, for the test that holds it to docs/openapi.json.
//
// The routes are registered per worker in app/application.cpp. Until `application` can list them
// itself without starting (see docs_service_routes.cpp), this builds the same handler objects on
// the same kind of dependencies, none of which connects or starts anything, and registers them
// the way the worker does.

#include "http/router.hpp"

#include <vector>

namespace analytics::test {

/// Every (method, path) the service routes, in registration order.
std::vector<http::router::route_info> service_routes();

}  // namespace analytics::test
