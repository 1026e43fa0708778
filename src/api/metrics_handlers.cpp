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
                                "Metric storage is unavailable; retry later with the same "
                                "Idempotency-Key header so that nothing is stored twice");
}

http::response type_limit_reached()
{
    const http::field_error e{"type",
                              "is a new type, and METRICS_MAX_TYPES types are stored already"};
    return http::validation_error(
        "TYPE_LIMIT_REACHED", "The limit on distinct metric types is reached; nothing was stored",
        {&e, 1});
}

// The Idempotency-Key header: absent (empty), or 1-128 characters of [A-Za-z0-9._:-].
bool valid_idempotency_key(std::string_view key)
{
    return key.empty() || http::valid_request_id(key);
}

constexpr std::string_view future_message = "must not lie ahead of the server's clock by more "
                                            "than METRICS_MAX_FUTURE_SECONDS";

http::response invalid_query()
{
    const http::field_error e{"query", "is not a valid query string"};
    return http::validation_error({&e, 1});
}

}  // namespace

metrics_handlers::metrics_handlers(metrics::metric_store& store,
                                   metrics::summary_service& summaries,
                                   common::degraded_mode& storage_down, const common::clock& clock,
                                   std::chrono::seconds max_future, std::size_t batch_body_limit,
                                   telemetry::shard& stats)
    : store_(store),
      summaries_(summaries),
      storage_down_(storage_down),
      clock_(clock),
      max_future_(max_future),
      batch_body_limit_(batch_body_limit),
      stats_(stats)
{
}

std::int64_t metrics_handlers::latest_accepted_micros() const
{
    return std::chrono::duration_cast<std::chrono::microseconds>(
               (clock_.now() + max_future_).time_since_epoch())
        .count();
}

net::awaitable<http::response> metrics_handlers::ingest(http::request& req)
{
    auto parsed = metrics::parse_metric(req.body());
    if (parsed.result == metrics::parse_outcome::status::invalid_json) {
        co_return http::error_response(400, "INVALID_JSON", "Request body is not valid JSON");
    }
    if (parsed.result == metrics::parse_outcome::status::ok &&
        parsed.value.timestamp.micros > latest_accepted_micros()) {
        parsed.errors.push_back({"timestamp", std::string(future_message)});
    }
    const std::string_view key = req.header("Idempotency-Key");
    if (!valid_idempotency_key(key)) {
        parsed.errors.push_back({"Idempotency-Key", "must be 1-128 characters of A-Z a-z 0-9 . _ : -"});
    }
    if (!parsed.errors.empty()) {
        co_return http::validation_error(parsed.errors);
    }
    const auto& m = parsed.value;
    std::string body;
    body.reserve(96 + m.type.size());
    body.append(R"({"message":"Metric received","timestamp":")");
    common::append_rfc3339(body, m.timestamp);
    body.append(R"(","type":")");
    body.append(m.type);
    body.append("\"}");
    // The answer is recorded with the metric only when a repeat could ask for it.
    auto stored = co_await store_.add(m, key, key.empty() ? std::string_view{} : body);
    if (!stored) {
        co_return storage_unavailable(storage_down_, req.context(), "ingest", stored.error());
    }
    storage_down_.recovered();
    using kind = metrics::metric_store::outcome::kind;
    switch (stored->result) {
    case kind::type_limit:
        co_return type_limit_reached();
    case kind::repeated:
        co_return http::json_response(201, std::move(stored->answer));
    case kind::stored:
        break;
    }
    stats_.add(telemetry::counter::metrics_ingested);
    co_return http::json_response(201, std::move(body));
}

net::awaitable<http::response> metrics_handlers::ingest_batch(http::request& req)
{
    auto parsed = metrics::parse_metric_batch(req.body());
    if (parsed.result == metrics::parse_outcome::status::invalid_json) {
        co_return http::error_response(400, "INVALID_JSON", "Request body is not valid JSON");
    }
    if (parsed.result == metrics::parse_outcome::status::ok) {
        const std::int64_t latest = latest_accepted_micros();
        for (std::size_t i = 0; i < parsed.values.size(); ++i) {
            if (parsed.values[i].timestamp.micros > latest) {
                parsed.errors.push_back(
                    {"[" + std::to_string(i) + "].timestamp", std::string(future_message)});
            }
        }
    }
    const std::string_view key = req.header("Idempotency-Key");
    if (!valid_idempotency_key(key)) {
        parsed.errors.push_back({"Idempotency-Key", "must be 1-128 characters of A-Z a-z 0-9 . _ : -"});
    }
    if (!parsed.errors.empty()) {
        co_return http::validation_error(parsed.errors);
    }
    std::string body = R"({"message":"Metrics received","count":)";
    body.append(std::to_string(parsed.values.size()));
    body.push_back('}');
    auto stored = co_await store_.add_batch(parsed.values, key, body);
    if (!stored) {
        co_return storage_unavailable(storage_down_, req.context(), "ingest_batch",
                                      stored.error());
    }
    storage_down_.recovered();
    using kind = metrics::metric_store::outcome::kind;
    switch (stored->result) {
    case kind::type_limit:
        co_return type_limit_reached();
    case kind::repeated:
        co_return http::json_response(201, std::move(stored->answer));
    case kind::stored:
        break;
    }
    stats_.add(telemetry::counter::metrics_ingested, parsed.values.size());
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
    http::router& r, const std::function<http::handler(http::handler)>& wrap_ingest)
{
    r.add(http::method::post, "/api/metrics",
          wrap_ingest([this](http::request& req) { return ingest(req); }));
    r.add(http::method::post, "/api/metrics/batch",
          wrap_ingest([this](http::request& req) { return ingest_batch(req); }));
    r.set_body_limit("/api/metrics/batch", batch_body_limit_);
    r.add(http::method::get, "/api/metrics/list", [this](http::request& req) { return list(req); });
    r.add(http::method::get, "/api/metrics/summary",
          [this](http::request& req) { return summary(req); });
}

}  // namespace analytics::api
