#include "telemetry/registry.hpp"

#include <charconv>
#include <cmath>
#include <stdexcept>
#include <string>

namespace analytics::telemetry {

namespace {

using common::http_method;
constexpr std::array<http_method, common::http_method_count> all_methods{
    http_method::get,   http_method::head,    http_method::post,    http_method::put,
    http_method::patch, http_method::delete_, http_method::options, http_method::other};

struct counter_info {
    std::string_view family;
    std::string_view labels;
};

// Which family and labels each counter is exposed as, in enum order.
constexpr std::array<counter_info, static_cast<std::size_t>(counter::count_)> counter_names{{
    {"ratelimit_decisions_total", R"(result="allowed")"},
    {"ratelimit_decisions_total", R"(result="limited")"},
    {"ratelimit_decisions_total", R"(result="fail_open")"},
    {"ratelimit_decisions_total", R"(result="local_backstop")"},
    {"cache_requests_total", R"(result="hit")"},
    {"cache_requests_total", R"(result="miss")"},
    {"cache_requests_total", R"(result="stale")"},
    {"summary_computations_total", ""},
    {"external_service_calls_total", R"(result="success")"},
    {"external_service_calls_total", R"(result="failure")"},
    {"external_service_calls_total", R"(result="timeout")"},
    {"external_service_calls_total", R"(result="rejected")"},
    {"redis_commands_total", R"(result="ok")"},
    {"redis_commands_total", R"(result="error_reply")"},
    {"redis_commands_total", R"(result="timeout")"},
    {"redis_commands_total", R"(result="not_connected")"},
    {"redis_commands_total", R"(result="connection_lost")"},
    {"redis_commands_total", R"(result="other_error")"},
    {"metrics_ingested_total", ""},
}};

struct family_help {
    std::string_view family;
    std::string_view help;
};

constexpr std::array<family_help, 6> counter_help{{
    {"ratelimit_decisions_total", "Rate-limit decisions on POST /api/metrics, by outcome."},
    {"cache_requests_total", "Summary cache lookups, by outcome."},
    {"summary_computations_total", "Summaries computed from the rollups (cache misses)."},
    {"external_service_calls_total", "Calls to the external service, by outcome."},
    {"redis_commands_total", "Redis commands and scripts, by outcome."},
    {"metrics_ingested_total", "Metrics stored (answered 201)."},
}};

void append_number(std::string& out, double v)
{
    if (std::isinf(v)) {
        out.append(v > 0 ? "+Inf" : "-Inf");
        return;
    }
    std::array<char, 32> buf{};
    const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    out.append(buf.data(), end);
}

void append_uint(std::string& out, std::uint64_t v)
{
    std::array<char, 24> buf{};
    const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    out.append(buf.data(), end);
}

// Label values come from route templates and fixed names; escape anyway, as the format says.
void append_label_value(std::string& out, std::string_view v)
{
    for (char c : v) {
        if (c == '\\' || c == '"') {
            out.push_back('\\');
            out.push_back(c);
        } else if (c == '\n') {
            out.append("\\n");
        } else {
            out.push_back(c);
        }
    }
}

struct histogram_sum {
    std::array<std::uint64_t, latency_buckets.size() + 1> buckets{};
    std::uint64_t sum_ns = 0;
    std::uint64_t count = 0;
};

void write_histogram(std::string& out, std::string_view name, std::string_view labels,
                     const histogram_sum& h)
{
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= latency_buckets.size(); ++i) {
        cumulative += h.buckets[i];
        out.append(name).append("_bucket{");
        if (!labels.empty()) {
            out.append(labels).push_back(',');
        }
        out.append("le=\"");
        if (i < latency_buckets.size()) {
            // Plain decimals ("0.0001", not "1e-04"), as Prometheus's own clients write bounds.
            std::array<char, 32> buf{};
            const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(),
                                                 latency_buckets[i], std::chars_format::fixed);
            out.append(buf.data(), end);
        } else {
            out.append("+Inf");
        }
        out.append("\"} ");
        append_uint(out, cumulative);
        out.push_back('\n');
    }
    const std::string braces = labels.empty() ? std::string() : "{" + std::string(labels) + "}";
    out.append(name).append("_sum").append(braces).push_back(' ');
    append_number(out, static_cast<double>(h.sum_ns) / 1e9);
    out.push_back('\n');
    out.append(name).append("_count").append(braces).push_back(' ');
    append_uint(out, h.count);
    out.push_back('\n');
}

}  // namespace

void shard::histogram_cells::observe(std::chrono::nanoseconds d) noexcept
{
    const double seconds = std::chrono::duration<double>(d).count();
    std::size_t i = 0;
    while (i < latency_buckets.size() && seconds > latency_buckets[i]) {
        ++i;
    }
    bump(buckets[i], 1);
    bump(sum_ns, static_cast<std::uint64_t>(d.count() > 0 ? d.count() : 0));
    bump(count, 1);
}

std::size_t shard::status_index(unsigned status) noexcept
{
    for (std::size_t i = 0; i < http_statuses.size(); ++i) {
        if (http_statuses[i] == status) {
            return i;
        }
    }
    return http_statuses.size();
}

void shard::record_http_request(std::size_t route_id, common::http_method m, unsigned status,
                                std::chrono::nanoseconds d) noexcept
{
    const std::size_t route = route_id < max_routes ? route_id : unmatched_route;
    const auto method = static_cast<std::size_t>(m) % methods;
    bump(http_requests_[(route * methods + method) * statuses + status_index(status)], 1);
    http_durations_[route].observe(d);
}

shard& registry::add_shard()
{
    auto s = std::make_unique<shard>();
    shard& mine = *s;
    std::lock_guard lock(mu_);
    shards_.push_back(std::move(s));
    return mine;
}

void registry::set_routes(std::vector<std::string> templates)
{
    // Past the cap, routes would share the `unmatched` slot and their series would lie; a
    // router that grew beyond it must stop start-up, not be discovered on a dashboard.
    if (templates.size() > unmatched_route) {
        throw std::length_error(std::to_string(templates.size()) +
                                " routes exceed the metrics registry's " +
                                std::to_string(unmatched_route) +
                                " route slots (raise telemetry::max_routes)");
    }
    std::lock_guard lock(mu_);
    routes_ = std::move(templates);
}

void registry::add_source(source s)
{
    std::lock_guard lock(mu_);
    sources_.push_back(std::move(s));
}

void write_header(std::string& out, std::string_view name, std::string_view type,
                  std::string_view help)
{
    out.append("# HELP ").append(name).push_back(' ');
    out.append(help).push_back('\n');
    out.append("# TYPE ").append(name).push_back(' ');
    out.append(type).push_back('\n');
}

void write_sample(std::string& out, std::string_view name, std::string_view labels, double value)
{
    out.append(name);
    if (!labels.empty()) {
        out.push_back('{');
        out.append(labels).push_back('}');
    }
    out.push_back(' ');
    append_number(out, value);
    out.push_back('\n');
}

std::uint64_t registry::sum_of(std::size_t counter_index) const
{
    std::uint64_t n = 0;
    for (const auto& s : shards_) {
        n += s->counters_[counter_index].load(std::memory_order_relaxed);
    }
    return n;
}

std::uint64_t registry::total(counter c) const
{
    std::lock_guard lock(mu_);
    return sum_of(static_cast<std::size_t>(c));
}

std::string registry::scrape() const
{
    std::lock_guard lock(mu_);
    std::string out;
    out.reserve(16 * 1024);

    // Plain counters, grouped by family.
    std::array<std::uint64_t, static_cast<std::size_t>(counter::count_)> counters{};
    for (std::size_t i = 0; i < counters.size(); ++i) {
        counters[i] = sum_of(i);
    }
    for (const auto& family : counter_help) {
        write_header(out, family.family, "counter", family.help);
        for (std::size_t i = 0; i < counters.size(); ++i) {
            if (counter_names[i].family == family.family) {
                write_sample(out, family.family, counter_names[i].labels,
                             static_cast<double>(counters[i]));
            }
        }
    }

    // HTTP requests by route template, method and status; only combinations seen.
    auto route_name = [this](std::size_t id) -> std::string_view {
        if (id < routes_.size() && id != unmatched_route) {
            return routes_[id];
        }
        return "unmatched";
    };
    write_header(out, "http_requests_total", "counter",
                 "HTTP requests answered, by route template, method and status.");
    for (std::size_t route = 0; route < max_routes; ++route) {
        for (std::size_t m = 0; m < shard::methods; ++m) {
            for (std::size_t st = 0; st < shard::statuses; ++st) {
                const std::size_t cell = (route * shard::methods + m) * shard::statuses + st;
                std::uint64_t n = 0;
                for (const auto& s : shards_) {
                    n += s->http_requests_[cell].load(std::memory_order_relaxed);
                }
                if (n == 0) {
                    continue;
                }
                std::string labels = "route=\"";
                append_label_value(labels, route_name(route));
                labels.append("\",method=\"");
                labels.append(common::to_string(all_methods[m]));
                labels.append("\",status=\"");
                labels.append(st < http_statuses.size() ? std::to_string(http_statuses[st])
                                                        : std::string("other"));
                labels.push_back('"');
                write_sample(out, "http_requests_total", labels, static_cast<double>(n));
            }
        }
    }

    auto sum_cells = [this](auto member_of) {
        histogram_sum h;
        for (const auto& s : shards_) {
            const auto& cells = member_of(*s);
            for (std::size_t i = 0; i < h.buckets.size(); ++i) {
                h.buckets[i] += cells.buckets[i].load(std::memory_order_relaxed);
            }
            h.sum_ns += cells.sum_ns.load(std::memory_order_relaxed);
            h.count += cells.count.load(std::memory_order_relaxed);
        }
        return h;
    };

    write_header(out, "http_request_duration_seconds", "histogram",
                 "Time from the first byte of a request to its answer, by route template.");
    for (std::size_t route = 0; route < max_routes; ++route) {
        const auto h =
            sum_cells([route](const shard& s) -> const auto& { return s.http_durations_[route]; });
        if (h.count == 0) {
            continue;
        }
        std::string labels = "route=\"";
        append_label_value(labels, route_name(route));
        labels.push_back('"');
        write_histogram(out, "http_request_duration_seconds", labels, h);
    }

    write_header(out, "external_service_call_duration_seconds", "histogram",
                 "Duration of external service calls, timeouts included.");
    write_histogram(out, "external_service_call_duration_seconds", "",
                    sum_cells([](const shard& s) -> const auto& {
                        return s.histograms_[static_cast<std::size_t>(histogram::external_call)];
                    }));
    write_header(out, "redis_command_duration_seconds", "histogram",
                 "Round-trip time of Redis commands and scripts.");
    write_histogram(out, "redis_command_duration_seconds", "",
                    sum_cells([](const shard& s) -> const auto& {
                        return s.histograms_[static_cast<std::size_t>(histogram::redis_command)];
                    }));

    for (const auto& write_values : sources_) {
        write_values(out);
    }
    return out;
}

}  // namespace analytics::telemetry
