#pragma once
// Reads docs/openapi.json the way the documentation tests need it: the operations it lists, the
// statuses and headers it documents for each, and a validator for the subset of JSON Schema
// 2020-12 the document uses ($ref, allOf, anyOf, type, properties, required, items, enum,
// const, minimum, maximum, minLength, maxLength, minItems, pattern, format date-time). With it the
// tests hold the router, the handlers and the running service to the document, and fail when
// either side gains something the other lacks.
//
// Thread safety: functions over values; the parsed document is immutable.

#include "http/router.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace analytics::test::openapi {

/// The document the binary embeds (api::docs_handlers::openapi_document()), parsed.
const boost::json::object& document();

/// "get", "post", ... as OpenAPI spells a method.
std::string method_key(http::method m);

/// One (method, path) pair; `method` in OpenAPI's lower case.
struct operation_key {
    std::string method;
    std::string path;

    auto operator<=>(const operation_key&) const = default;
};

/// Every operation `doc` lists.
std::set<operation_key> operations(const boost::json::object& doc);

/// The disagreements between the router's routes and `doc`, one sentence each (empty when
/// they agree). The router answers HEAD with every GET route, so each needs a `head` operation.
std::vector<std::string> compare_routes(const std::vector<http::router::route_info>& routes,
                                        const boost::json::object& doc);

/// The statuses `doc` documents for an operation (empty when it has no such operation).
std::set<unsigned> documented_statuses(const boost::json::object& doc, const operation_key& op);

/// Follows a local "$ref" (`#/...`) until the value is not a reference.
const boost::json::value& resolve(const boost::json::object& doc, const boost::json::value& v);

/// The shared response (a name under components/responses) the router or the HTTP session gives
/// to a request outside every operation: 400 MalformedRequest, 404 NotFound, 405
/// MethodNotAllowed; null for any other status.
const char* router_response_name(unsigned status);

/// The response object `doc` documents for `op` and `status`, resolved; for a path or method the
/// document does not list, the shared router_response_name() response. Null when none.
const boost::json::object* response_for(const boost::json::object& doc, const operation_key& op,
                                        unsigned status);

/// Checks `instance` against `schema`; returns one sentence per problem, naming where it is
/// (`at` is the path so far, e.g. "body"). `strict`: an object may not have properties the
/// schema does not name, so a field the service added without documenting it is caught.
std::vector<std::string> validate(const boost::json::object& doc, const boost::json::value& schema,
                                  const boost::json::value& instance, bool strict,
                                  const std::string& at = "body");

/// An HTTP answer as the service gave it: status, headers (names in lower case), body.
struct observed_response {
    unsigned status = 0;
    std::map<std::string, std::string> headers;
    std::string body;
    bool head = false;  // answer to HEAD: no body to check
};

/// Every way `r` differs from what `doc` documents for `op` (for a HEAD the document lacks, what
/// it documents for GET of the path, which the router answers HEAD with): an undocumented status,
/// a header the document does not name (beyond HTTP's own framing fields) or one it requires but
/// is missing, a header value its schema refuses, a content type it does not list, a Content-Type
/// on an answer without content (other than HEAD's), or a JSON body its schema refuses
/// (strictly).
std::vector<std::string> check_response(const boost::json::object& doc, const operation_key& op,
                                        const observed_response& r);

}  // namespace analytics::test::openapi
