#include "api/metrics_handlers.hpp"

#include "common/logging.hpp"
#include "common/query.hpp"
#include "http/response.hpp"

#include "telemetry/registry.hpp"

namespace analytics::api {

namespace {

constexpr unsigned default_list_limit = 100;
constexpr unsigned max_list_limit = 1000;

http::response storage_unavailable(common::degraded_mode& storage_down,
                                   const http::request_context& ctx, std::string_view operation,
                                   const boost::system::error_code& ec)
{
    storage_down.occurred({{"request_id", ctx.request_id()},
                           {"trace_id", ctx.trace_id()},
                           {"operation", operation},
                           {"error", ec.message()}});
    return http::error_response(503, "STORAGE_UNAVAILABLE",
                                "Metric storage is unavailable, try again later");
}

http::response invalid_query()
{
    const http::field_error e{"query", "is not a valid query string"};
    return http::validation_error({&e, 1});
}

}  // namespace

metrics_handlers::metrics_handlers(metrics::metric_store& store,
                                   metrics::summary_service& summaries,
                                   common::degraded_mode& storage_down)
    : store_(store), summaries_(summaries), storage_down_(storage_down)
{
}

net::awaitable<http::response> metrics_handlers::ingest(http::request& req,
                                                        ratelimit::admission* check)
{
    auto parsed = metrics::parse_metric(req.body());
    if (parsed.result == metrics::parse_outcome::status::invalid_json) {
        co_return http::error_response(400, "INVALID_JSON", "Request body is not valid JSON");
    }
    if (parsed.result == metrics::parse_outcome::status::invalid) {
        co_return http::validation_error(parsed.errors);
    }
    const auto& m = parsed.value;
    using admitted = metrics::metric_store::admitted;
    metrics::result<admitted> stored = admitted::stored;
    if (check != nullptr) {
        stored = co_await store_.admit_and_add(m, *check);
    } else if (auto added = co_await store_.add(m); !added) {
        stored = added.error();
    }
    if (!stored) {
        co_return storage_unavailable(storage_down_, req.context(), "ingest", stored.error());
    }
    if (*stored == admitted::refused) {
        co_return http::response{};  // the limit middleware answers 429 instead
    }
    storage_down_.recovered();
    telemetry::local().add(telemetry::counter::metrics_ingested);
    std::string body;
    body.reserve(96 + m.type.size());
    body.append(R"({"message":"Metric received","timestamp":")");
    common::append_rfc3339(body, m.timestamp);
    body.append(R"(","type":")");
    body.append(m.type);
    body.append("\"}");
    co_return http::json_response(201, std::move(body));
}

net::awaitable<http::response> metrics_handlers::list(http::request& req)
{
    const auto query = common::query_params::parse(req.query());
    if (!query) {
        co_return invalid_query();
    }
    std::vector<http::field_error> errors;
    std::string_view type;
    if (auto t = query->get("type")) {
        if (!metrics::is_valid_type(*t)) {
            errors.push_back({"type", "must be 1-64 characters of A-Z a-z 0-9 _ . : -"});
        } else {
            type = *t;
        }
    }
    unsigned limit = default_list_limit;
    if (auto l = query->get("limit")) {
        if (auto n = common::parse_integer(*l, 1, max_list_limit)) {
            limit = static_cast<unsigned>(*n);
        } else {
            errors.push_back({"limit", "must be an integer from 1 to 1000"});
        }
    }
    if (!errors.empty()) {
        co_return http::validation_error(errors);
    }
    auto body = co_await store_.list_json(type, limit);
    if (!body) {
        co_return storage_unavailable(storage_down_, req.context(), "list", body.error());
    }
    storage_down_.recovered();
    co_return http::json_response(200, std::move(*body));
}

net::awaitable<http::response> metrics_handlers::summary(http::request& req)
{
    const auto query = common::query_params::parse(req.query());
    if (!query) {
        co_return invalid_query();
    }
    std::vector<http::field_error> errors;
    const auto type = query->get("type");
    if (!type) {
        errors.push_back({"type", "is required"});
    } else if (!metrics::is_valid_type(*type)) {
        errors.push_back({"type", "must be 1-64 characters of A-Z a-z 0-9 _ . : -"});
    }
    auto period = metrics::period::all;
    if (auto p = query->get("period")) {
        if (auto parsed = metrics::parse_period(*p)) {
            period = *parsed;
        } else {
            errors.push_back({"period", "must be one of all, daily, hourly"});
        }
    }
    if (!errors.empty()) {
        co_return http::validation_error(errors);
    }

    auto answer = co_await summaries_.get(*type, period);
    using kind = metrics::summary_answer::kind;
    switch (answer.outcome) {
    case kind::hit:
    case kind::miss:
    case kind::stale: {
        auto res = http::json_response(200, std::move(answer.body));
        res.set("X-Cache", answer.outcome == kind::hit    ? "HIT"
                           : answer.outcome == kind::miss ? "MISS"
                                                          : "STALE");
        co_return res;
    }
    case kind::circuit_open: {
        auto res = http::error_response(503, "CIRCUIT_OPEN",
                                        "The external service is unavailable (circuit open)");
        res.set("Retry-After", std::to_string(std::max<long long>(1, answer.retry_after.count())));
        co_return res;
    }
    case kind::upstream_failed:
        co_return http::error_response(503, "EXTERNAL_SERVICE_ERROR",
                                       "The external service failed or timed out");
    case kind::storage_unavailable:
        break;
    }
    co_return http::error_response(503, "STORAGE_UNAVAILABLE",
                                   "Metric storage is unavailable, try again later");
}

void metrics_handlers::register_routes(
    http::router& r, const std::function<http::handler(ratelimit::admitted_handler)>& wrap_ingest)
{
    r.add(http::method::post, "/api/metrics",
          wrap_ingest([this](http::request& req, ratelimit::admission* check) {
              return ingest(req, check);
          }));
    r.add(http::method::get, "/api/metrics/list", [this](http::request& req) { return list(req); });
    r.add(http::method::get, "/api/metrics/summary",
          [this](http::request& req) { return summary(req); });
}

}  // namespace analytics::api
