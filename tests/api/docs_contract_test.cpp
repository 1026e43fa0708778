// docs/openapi.json against the service: the router and the document list the same
// routes, the document lists every status each handler can answer, the router's own 404 and
// 405 look as documented, and the document is complete enough for client generators (ids,
// summaries, examples that pass their own schemas). A route, method or status added on one side
// only fails here.

#include "api/docs_contract.hpp"

#include "api/docs_handlers.hpp"
#include "api/docs_service_routes.hpp"
#include "http/response.hpp"
#include "support/run_coro.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <string>

namespace analytics::test::openapi {
namespace {

namespace json = boost::json;

std::string joined(const std::vector<std::string>& lines)
{
    std::string out;
    for (const auto& l : lines) {
        out += "\n  " + l;
    }
    return out;
}

std::string joined(const std::set<unsigned>& statuses)
{
    std::string out;
    for (const auto s : statuses) {
        out += (out.empty() ? "" : ", ") + std::to_string(s);
    }
    return out;
}

// What each handler can answer, read from its code (src/api, src/ratelimit/headers.cpp). A route
// missing here fails the test below: add what its handler can answer, here and in the document.
// Every operation can also answer what the HTTP session and the router answer to any request:
// 400 (malformed HTTP), 404 and 405 (the router's, before an operation is chosen) and 431
// (headers over the limit), and 500 (an exception escaped the handler); one with a request body
// also 413 (body over the limit). HEAD answers what GET answers.
std::map<operation_key, std::set<unsigned>> handler_statuses()
{
    std::map<operation_key, std::set<unsigned>> out = {
        {{"get", "/health"}, {200}},
        {{"get", "/ready"}, {200, 503}},
        // 400 INVALID_JSON, 422 VALIDATION_ERROR or TYPE_LIMIT_REACHED, 429 from the limiter,
        // 503 STORAGE_UNAVAILABLE; the same for a batch.
        {{"post", "/api/metrics"}, {201, 400, 413, 422, 429, 503}},
        {{"post", "/api/metrics/batch"}, {201, 400, 413, 422, 429, 503}},
        {{"get", "/api/metrics/list"}, {200, 422, 503}},
        // 503: CIRCUIT_OPEN, EXTERNAL_SERVICE_ERROR, STORAGE_UNAVAILABLE.
        {{"get", "/api/metrics/summary"}, {200, 422, 503}},
        {{"get", "/api/circuit-breaker/status"}, {200}},
        // 429: too many wrong tokens from one client.
        // 503 STORAGE_UNAVAILABLE: the settings could not be stored for every instance.
        {{"put", "/api/admin/external-service"}, {200, 400, 401, 403, 413, 422, 429, 503}},
        {{"get", "/metrics"}, {200}},
    };
    const api::docs_handlers docs;
    for (const auto& a : docs.assets()) {
        out[{"get", std::string(a.path)}] = {200, 304};
    }
    for (auto& [op, statuses] : out) {
        statuses.insert({400, 404, 405, 431, 500});
    }
    for (const auto& [op, statuses] : std::map(out)) {
        if (op.method == "get") {
            out[{"head", op.path}] = statuses;
        }
    }
    return out;
}

std::string_view no_headers(const void*, std::string_view)
{
    return {};
}

http::response dispatch(const http::router& r, http::method m, std::string_view target)
{
    net::io_context ioc;
    http::request_context ctx;
    http::request req(m, target, {}, nullptr, &no_headers, ctx);
    return run_coro(ioc, r.dispatch(req));
}

// Visits every value of a JSON tree with its JSON pointer.
void walk(const json::value& v, const std::string& at,
          const std::function<void(const json::value&, const std::string&)>& visit)
{
    visit(v, at);
    if (const auto* o = v.if_object()) {
        for (const auto& [k, child] : *o) {
            walk(child, at + "/" + std::string(k), visit);
        }
    } else if (const auto* a = v.if_array()) {
        for (std::size_t i = 0; i < a->size(); ++i) {
            walk((*a)[i], at + "/" + std::to_string(i), visit);
        }
    }
}

TEST(docs_contract, the_router_and_the_document_list_the_same_routes)
{
    const auto problems = compare_routes(service_routes(), document());
    EXPECT_TRUE(problems.empty()) << joined(problems);
}

TEST(docs_contract, the_document_lists_every_status_each_handler_can_answer)
{
    const auto& doc = document();
    const auto expected = handler_statuses();
    std::vector<operation_key> served;
    for (const auto& route : service_routes()) {
        served.push_back({method_key(route.verb), route.path});
        if (route.verb == http::method::get) {
            served.push_back({"head", route.path});
        }
    }
    for (const auto& op : served) {
        const auto it = expected.find(op);
        if (it == expected.end()) {
            ADD_FAILURE() << op.method << " " << op.path
                          << " is routed but handler_statuses() does not say what it answers";
            continue;
        }
        const auto documented = documented_statuses(doc, op);
        std::set<unsigned> missing;
        std::set_difference(it->second.begin(), it->second.end(), documented.begin(),
                            documented.end(), std::inserter(missing, missing.end()));
        EXPECT_TRUE(missing.empty()) << op.method << " " << op.path << " can answer "
                                     << joined(missing) << ", which docs/openapi.json omits";
    }
}

TEST(docs_contract, the_routers_own_404_and_405_look_as_the_document_says)
{
    const auto& doc = document();
    const auto routes = service_routes();
    http::router r;
    for (const auto& route : routes) {
        r.add(route.verb, route.path, [](http::request&) -> net::awaitable<http::response> {
            co_return http::json_response(200, "{}");
        });
    }

    const auto not_found = dispatch(r, http::method::get, "/no/such/path");
    ASSERT_EQ(not_found.status, 404U);
    const auto* documented_404 = response_for(doc, {"get", "/no/such/path"}, 404);
    ASSERT_NE(documented_404, nullptr) << "components/responses lacks NotFound";
    const auto& schema_404 = documented_404->at("content").at("application/json").at("schema");
    EXPECT_TRUE(validate(doc, schema_404, json::parse(not_found.body), true).empty());

    // For every documented path, a method it lacks gets 405 whose Allow names exactly the
    // methods the document lists for it (HEAD with GET).
    std::map<std::string, std::set<std::string>> methods_by_path;
    for (const auto& op : operations(doc)) {
        methods_by_path[op.path].insert(op.method);
    }
    for (const auto& [path, methods] : methods_by_path) {
        const bool has_delete = methods.count("delete") > 0;
        const auto probe = has_delete ? http::method::patch : http::method::delete_;
        const auto res = dispatch(r, probe, path);
        ASSERT_EQ(res.status, 405U) << path;
        std::set<std::string> allowed;
        std::string_view allow = res.get("Allow");
        while (!allow.empty()) {
            const auto comma = allow.find(", ");
            allowed.insert(std::string(allow.substr(0, comma)));
            allow = comma == std::string_view::npos ? std::string_view{} : allow.substr(comma + 2);
        }
        std::set<std::string> expected;
        for (const auto& m : methods) {
            std::string upper = m;
            std::transform(upper.begin(), upper.end(), upper.begin(), [](char c) {
                return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
            });
            expected.insert(upper);
            if (m == "get") {
                expected.insert("HEAD");
            }
        }
        EXPECT_EQ(allowed, expected) << path;
        const auto* documented_405 = response_for(doc, {method_key(probe), path}, 405);
        ASSERT_NE(documented_405, nullptr) << "components/responses lacks MethodNotAllowed";
        EXPECT_TRUE(documented_405->at("headers").as_object().contains("Allow"));
    }
}

TEST(docs_contract, the_comparison_reports_a_route_missing_on_either_side)
{
    std::vector<http::router::route_info> routes = service_routes();
    routes.erase(std::remove_if(routes.begin(), routes.end(),
                                [](const auto& r) { return r.path == "/ready"; }),
                 routes.end());
    routes.push_back({http::method::delete_, "/api/metrics"});
    const auto problems = compare_routes(routes, document());
    ASSERT_EQ(problems.size(), 3U) << joined(problems);
    EXPECT_EQ(problems[0], "docs/openapi.json documents GET /ready, but no route serves it");
    EXPECT_EQ(problems[1], "docs/openapi.json documents HEAD /ready, but no route serves it");
    EXPECT_EQ(problems[2],
              "the router serves DELETE /api/metrics, but docs/openapi.json does not document it");
}

TEST(docs_contract, the_comparison_reports_a_get_route_whose_head_is_not_documented)
{
    auto doc = document();
    doc.at("paths").as_object().at("/health").as_object().erase("head");
    const auto problems = compare_routes(service_routes(), doc);
    ASSERT_EQ(problems.size(), 1U) << joined(problems);
    EXPECT_EQ(problems[0],
              "the router serves HEAD /health (with GET), but docs/openapi.json does "
              "not document it");
}

TEST(docs_contract, every_head_operation_answers_what_its_get_answers_without_a_body)
{
    const auto& doc = document();
    std::size_t checked = 0;
    for (const auto& op : operations(doc)) {
        if (op.method != "get") {
            continue;
        }
        const auto& item = doc.at("paths").at(op.path).as_object();
        ASSERT_TRUE(item.contains("head")) << op.path;
        const auto& get = item.at("get").as_object();
        const auto& head = item.at("head").as_object();
        // Parameters live on the path, where both share them.
        EXPECT_FALSE(get.contains("parameters")) << op.path;
        EXPECT_FALSE(head.contains("parameters")) << op.path;
        const auto security = [](const json::object& o) {
            return o.contains("security") ? o.at("security") : json::value();
        };
        EXPECT_EQ(security(get), security(head)) << op.path;
        EXPECT_EQ(documented_statuses(doc, op), documented_statuses(doc, {"head", op.path}))
            << op.path;
        for (const auto status : documented_statuses(doc, op)) {
            const std::string at = "HEAD " + op.path + " " + std::to_string(status);
            const auto* g = response_for(doc, op, status);
            const auto* h = response_for(doc, {"head", op.path}, status);
            ASSERT_NE(h, nullptr) << at;
            EXPECT_FALSE(h->contains("content")) << at << ": a HEAD answer has no body";
            std::set<std::string> get_headers;
            std::set<std::string> head_headers;
            for (const auto& [name, v] : g->at("headers").as_object()) {
                get_headers.emplace(name);
            }
            for (const auto& [name, v] : h->at("headers").as_object()) {
                head_headers.emplace(name);
            }
            EXPECT_EQ(head_headers, get_headers) << at;
            ++checked;
        }
    }
    EXPECT_GT(checked, 100U);
}

TEST(docs_contract, every_operation_lists_what_the_router_and_the_session_answer_any_request)
{
    const auto& doc = document();
    for (const auto& op : operations(doc)) {
        const auto& responses =
            doc.at("paths").at(op.path).at(op.method).at("responses").as_object();
        for (const unsigned status : {400U, 404U, 405U}) {
            const std::string at = op.method + " " + op.path + " " + std::to_string(status);
            const auto* r = responses.if_contains(std::to_string(status));
            ASSERT_NE(r, nullptr) << at;
            const std::string shared = std::string("#/components/responses/") +
                                       router_response_name(status) +
                                       (op.method == "head" ? "Head" : "");
            const auto* ref = r->as_object().if_contains("$ref");
            if (ref != nullptr && ref->as_string() == shared) {
                continue;
            }
            // An operation with a body has its own 400 (INVALID_JSON), which must also name the
            // session's BAD_REQUEST.
            ASSERT_EQ(status, 400U) << at << " is not " << shared;
            const auto& media = resolve(doc, *r).at("content").at("application/json").as_object();
            std::set<std::string> codes;
            for (const auto& [name, ex] : media.at("examples").as_object()) {
                codes.emplace(resolve(doc, ex).at("value").at("code").as_string());
            }
            EXPECT_EQ(codes, (std::set<std::string>{"BAD_REQUEST", "INVALID_JSON"})) << at;
        }
    }
}

TEST(docs_contract, every_reference_resolves)
{
    const auto& doc = document();
    walk(json::value(doc), "#", [&](const json::value& v, const std::string& at) {
        if (const auto* o = v.if_object(); o && o->contains("$ref")) {
            EXPECT_NO_THROW(resolve(doc, v)) << at;
        }
    });
}

TEST(docs_contract, every_operation_has_what_client_generators_and_readers_need)
{
    const auto& doc = document();
    std::set<std::string> ids;
    for (const auto& op : operations(doc)) {
        const auto& o = doc.at("paths").at(op.path).at(op.method).as_object();
        const std::string where = op.method + " " + op.path;
        ASSERT_TRUE(o.contains("operationId")) << where;
        EXPECT_TRUE(ids.insert(std::string(o.at("operationId").as_string())).second)
            << where << ": operationId used twice";
        EXPECT_TRUE(o.contains("summary")) << where;
        EXPECT_TRUE(o.contains("tags")) << where;
        for (const auto& [status, r] : o.at("responses").as_object()) {
            const auto& response = resolve(doc, r).as_object();
            const std::string at = where + " " + std::string(status);
            // Every answer of the service carries X-Request-Id (docs/contract.md, Conventions).
            ASSERT_TRUE(response.contains("headers")) << at;
            EXPECT_TRUE(response.at("headers").as_object().contains("X-Request-Id")) << at;
            if (const auto* content = response.if_contains("content")) {
                for (const auto& [type, media] : content->as_object()) {
                    if (type != "application/json") {
                        continue;
                    }
                    EXPECT_TRUE(media.as_object().contains("example") ||
                                media.as_object().contains("examples"))
                        << at << ": no example";
                }
            }
        }
    }
}

TEST(docs_contract, every_example_passes_its_own_schema)
{
    const auto& doc = document();
    std::size_t checked = 0;
    walk(json::value(doc), "#", [&](const json::value& v, const std::string& at) {
        const auto* media = v.if_object();
        // walk() does not escape '/' in keys, so a JSON media type object ends like this.
        if (media == nullptr || !media->contains("schema") ||
            !at.ends_with("/content/application/json")) {
            return;
        }
        const auto& schema = media->at("schema");
        if (const auto* e = media->if_contains("example")) {
            for (const auto& p : validate(doc, schema, *e, true, at + "/example")) {
                ADD_FAILURE() << p;
            }
            ++checked;
        }
        if (const auto* examples = media->if_contains("examples")) {
            for (const auto& [name, ex] : examples->as_object()) {
                const auto& value = resolve(doc, ex).at("value");
                for (const auto& p :
                     validate(doc, schema, value, true, at + "/examples/" + std::string(name))) {
                    ADD_FAILURE() << p;
                }
                ++checked;
            }
        }
    });
    EXPECT_GT(checked, 20U);
}

TEST(docs_contract, the_documents_version_is_the_builds)
{
    EXPECT_EQ(document().at("info").at("version").as_string(), ANALYTICS_VERSION);
    EXPECT_EQ(document().at("openapi").as_string(), "3.1.0");
}

TEST(docs_contract, the_validator_refuses_what_the_schema_does_not_allow)
{
    const auto& doc = document();
    const json::value summary_ref = {{"$ref", "#/components/schemas/Summary"}};
    const auto good = json::parse(R"({"type":"cpu","period":"all","count":0,"average_value":null,
        "min_value":null,"max_value":null,"latest_value":null})");
    EXPECT_TRUE(validate(doc, summary_ref, good, true).empty());

    auto extra = good;
    extra.as_object()["surprise"] = 1;
    EXPECT_EQ(validate(doc, summary_ref, extra, true),
              std::vector<std::string>{"body: the property \"surprise\" is not documented"});
    EXPECT_TRUE(validate(doc, summary_ref, extra, false).empty());

    auto wrong = good;
    wrong.as_object()["period"] = "weekly";
    wrong.as_object()["count"] = 1.5;
    wrong.as_object()["type"] = "no spaces allowed";
    wrong.as_object().erase("latest_value");
    EXPECT_EQ(validate(doc, summary_ref, wrong, true).size(), 4U)
        << joined(validate(doc, summary_ref, wrong, true));

    const json::value validation_ref = {{"$ref", "#/components/schemas/ValidationError"}};
    const auto error = json::parse(R"({"code":"VALIDATION_ERROR","message":"m",
        "timestamp":"2026-02-19T12:00:00Z","errors":[{"field":"f","message":"m"}]})");
    EXPECT_TRUE(validate(doc, validation_ref, error, true).empty());
    auto bad_time = error;
    bad_time.as_object()["timestamp"] = "yesterday";
    EXPECT_EQ(validate(doc, validation_ref, bad_time, true).size(), 1U);
}

TEST(docs_contract, a_response_is_checked_for_status_headers_and_body)
{
    const auto& doc = document();
    const operation_key ingest{"post", "/api/metrics"};
    observed_response r;
    r.status = 201;
    r.headers = {{"content-type", "application/json; charset=utf-8"},
                 {"content-length", "70"},
                 {"x-request-id", "abc"},
                 {"x-ratelimit-limit", "10"},
                 {"x-ratelimit-remaining", "9"},
                 {"x-ratelimit-reset", "60"},
                 {"ratelimit-policy", "10;w=60"},
                 {"ratelimit", "limit=10, remaining=9, reset=60"}};
    r.body = R"({"message":"Metric received","timestamp":"2026-02-19T12:00:00Z","type":"cpu"})";
    EXPECT_TRUE(check_response(doc, ingest, r).empty()) << joined(check_response(doc, ingest, r));

    auto undocumented = r;
    undocumented.headers["x-cache"] = "HIT";
    undocumented.headers["x-ratelimit-remaining"] = "many";
    undocumented.headers["x-request-id"] = "no spaces allowed";
    EXPECT_EQ(check_response(doc, ingest, undocumented).size(), 3U)
        << joined(check_response(doc, ingest, undocumented));

    auto teapot = r;
    teapot.status = 418;
    EXPECT_EQ(check_response(doc, ingest, teapot),
              std::vector<std::string>{"POST /api/metrics -> 418: the status is not documented "
                                       "for it"});

    auto no_id = r;
    no_id.headers.erase("x-request-id");
    EXPECT_EQ(check_response(doc, ingest, no_id).size(), 1U);
}

}  // namespace
}  // namespace analytics::test::openapi
