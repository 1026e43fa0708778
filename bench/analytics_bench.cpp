// analytics_bench: Google Benchmark of the pure functions on the request path, in ns per call.
//
//     build/bench/bench/analytics_bench --benchmark_min_time=0.05
//
// Covers what every request pays for besides I/O: validating a metric body (POST /api/metrics),
// serialising a summary, building error bodies, RFC 3339 parsing and formatting, a list page,
// the rate limiter's window arithmetic, and reading Redis's replies to a list and to a summary.
// Inputs are the shapes the HTTP benchmark (bench/run.sh) sends.

#include "common/field_error.hpp"
#include "common/rfc3339.hpp"
#include "http/response.hpp"
#include "metrics/block.hpp"
#include "metrics/ingest_batch.hpp"
#include "metrics/list_page.hpp"
#include "metrics/metric.hpp"
#include "metrics/rollup.hpp"
#include "metrics/summary.hpp"
#include "ratelimit/refusal_memory.hpp"
#include "ratelimit/window_math.hpp"
#include "redis/resp.hpp"

#include <benchmark/benchmark.h>

#include <array>
#include <bit>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace analytics;

// The body bench/wrk/ingest.lua posts, and the seed's example.
constexpr std::string_view typical_body =
    R"({"timestamp": "2026-02-19T10:00:00Z", "value": 60.5, "type": "cpu_usage"})";
constexpr std::string_view fractional_offset_body =
    R"({"timestamp": "2026-02-19T11:30:00.123456+01:30", "value": -1234.5678e-3,)"
    R"( "type": "service.latency:p99", "host": "web-1", "tags": {"region": "eu"}})";
// Three failing fields: the 422 path, which builds one field_error per field.
constexpr std::string_view invalid_body =
    R"({"timestamp": "yesterday", "value": "NaN", "type": "no spaces allowed"})";
constexpr std::string_view not_json_body = R"({"timestamp": "2026-02-19T10:00:00Z", "value": )";

void parse_metric_typical(benchmark::State& state)
{
    for (auto _ : state) {
        auto out = metrics::parse_metric(typical_body);
        benchmark::DoNotOptimize(out);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * typical_body.size()));
}
BENCHMARK(parse_metric_typical);

void parse_metric_fraction_offset_extra_fields(benchmark::State& state)
{
    for (auto _ : state) {
        auto out = metrics::parse_metric(fractional_offset_body);
        benchmark::DoNotOptimize(out);
    }
}
BENCHMARK(parse_metric_fraction_offset_extra_fields);

void parse_metric_invalid_three_fields(benchmark::State& state)
{
    for (auto _ : state) {
        auto out = metrics::parse_metric(invalid_body);
        benchmark::DoNotOptimize(out);
    }
}
BENCHMARK(parse_metric_invalid_three_fields);

void parse_metric_not_json(benchmark::State& state)
{
    for (auto _ : state) {
        auto out = metrics::parse_metric(not_json_body);
        benchmark::DoNotOptimize(out);
    }
}
BENCHMARK(parse_metric_not_json);

void is_valid_type_64_chars(benchmark::State& state)
{
    const std::string type(metrics::max_type_length, 'a');
    for (auto _ : state) {
        benchmark::DoNotOptimize(metrics::is_valid_type(type));
    }
}
BENCHMARK(is_valid_type_64_chars);

void summary_to_json(benchmark::State& state)
{
    metrics::summary s;
    s.count = 1234;
    s.high = 84104.7;
    s.min = 12.25;
    s.max = 99.5;
    s.latest = 75.8;
    for (auto _ : state) {
        auto body = metrics::to_json("cpu_usage", metrics::period::daily, s);
        benchmark::DoNotOptimize(body);
    }
}
BENCHMARK(summary_to_json);

void summary_to_json_empty(benchmark::State& state)
{
    const metrics::summary s{};
    for (auto _ : state) {
        auto body = metrics::to_json("cpu_usage", metrics::period::all, s);
        benchmark::DoNotOptimize(body);
    }
}
BENCHMARK(summary_to_json_empty);

void summary_window_buckets_daily(benchmark::State& state)
{
    const std::int64_t now_ms = 1'771'502'400'123;  // 2026-02-19T12:00:00.123Z
    for (auto _ : state) {
        auto buckets = metrics::window_buckets(metrics::period::daily, now_ms);
        benchmark::DoNotOptimize(buckets);
    }
}
BENCHMARK(summary_window_buckets_daily);

// The service's half of storing a batch request of 100 metrics of 10 types: grouping by tag and
// type, the blocks and the rollup folds (what bench/run.sh's ingest_batch sends).
void plan_ingest_batch_100(benchmark::State& state)
{
    std::vector<metrics::queued_metric> batch(100);
    for (std::size_t i = 0; i < batch.size(); ++i) {
        batch[i].m.type = "bench_batch_" + std::to_string(i % 10);
        batch[i].m.timestamp.micros = 1'771'502'400'000'000;
        batch[i].m.value = static_cast<double>(i % 100) + 0.5;
        batch[i].added_ms = 1'771'502'400'000;
        batch[i].place = static_cast<std::uint32_t>(i);
    }
    for (auto _ : state) {
        auto plans = metrics::plan_ingest(batch);
        benchmark::DoNotOptimize(plans);
    }
}
BENCHMARK(plan_ingest_batch_100);

void format_value_double(benchmark::State& state)
{
    double v = 68.15;
    for (auto _ : state) {
        auto text = metrics::format_value(v);
        benchmark::DoNotOptimize(text);
        v += 0.01;
    }
}
BENCHMARK(format_value_double);

void error_response_429(benchmark::State& state)
{
    for (auto _ : state) {
        auto res = http::error_response(429, "RATE_LIMIT_EXCEEDED",
                                        "Rate limit exceeded. Try again in 42 seconds.");
        benchmark::DoNotOptimize(res);
    }
}
BENCHMARK(error_response_429);

void validation_error_three_fields(benchmark::State& state)
{
    const std::vector<common::field_error> errors{
        {"timestamp", "must be an RFC 3339 date-time with offset, e.g. 2026-02-19T12:00:00Z"},
        {"value", "must be a number"},
        {"type", "must be 1-64 characters of A-Z a-z 0-9 _ . : -"},
    };
    for (auto _ : state) {
        auto res = http::validation_error(errors);
        benchmark::DoNotOptimize(res);
    }
}
BENCHMARK(validation_error_three_fields);

void parse_rfc3339_utc(benchmark::State& state)
{
    for (auto _ : state) {
        benchmark::DoNotOptimize(common::parse_rfc3339("2026-02-19T12:00:00Z"));
    }
}
BENCHMARK(parse_rfc3339_utc);

void parse_rfc3339_fraction_offset(benchmark::State& state)
{
    for (auto _ : state) {
        benchmark::DoNotOptimize(common::parse_rfc3339("2026-02-19T13:30:00.123456789+01:30"));
    }
}
BENCHMARK(parse_rfc3339_fraction_offset);

void parse_rfc3339_rejected(benchmark::State& state)
{
    for (auto _ : state) {
        benchmark::DoNotOptimize(common::parse_rfc3339("2026-02-30T12:00:00Z"));
    }
}
BENCHMARK(parse_rfc3339_rejected);

void format_rfc3339_seconds(benchmark::State& state)
{
    const common::timestamp t{.micros = 1'771'502'400'000'000, .fraction_digits = 0};
    for (auto _ : state) {
        auto text = common::format_rfc3339(t);
        benchmark::DoNotOptimize(text);
    }
}
BENCHMARK(format_rfc3339_seconds);

void format_rfc3339_micros(benchmark::State& state)
{
    const common::timestamp t{.micros = 1'771'502'400'123'456, .fraction_digits = 6};
    for (auto _ : state) {
        auto text = common::format_rfc3339(t);
        benchmark::DoNotOptimize(text);
    }
}
BENCHMARK(format_rfc3339_micros);

void append_rfc3339_reused_buffer(benchmark::State& state)
{
    const common::timestamp t{.micros = 1'771'502'400'123'000, .fraction_digits = 3};
    std::string out;
    out.reserve(64);
    for (auto _ : state) {
        out.clear();
        common::append_rfc3339(out, t);
        benchmark::DoNotOptimize(out.data());
    }
}
BENCHMARK(append_rfc3339_reused_buffer);

void write_rfc3339_in_place(benchmark::State& state)
{
    common::timestamp t{.micros = 1'771'502'400'123'000, .fraction_digits = 3};
    std::array<char, common::rfc3339_max_size> out{};
    for (auto _ : state) {
        benchmark::DoNotOptimize(common::write_rfc3339(out.data(), t));
        t.micros += 1'000'003;  // a new instant each time, as the items of a page
    }
}
BENCHMARK(write_rfc3339_in_place);

// A list page of 100 (GET /api/metrics/list?limit=100 under bench/run.sh's ingest): 35 blocks
// of 3 points, read from their members, sorted, and the first 100 written as the JSON body.
// Values in the text the service stores, or as doubles (blocks of earlier builds).
std::vector<std::string> list_page_members(bool binary)
{
    std::vector<std::string> out;
    for (int b = 0; b < 35; ++b) {
        std::vector<metrics::block_point> points;
        for (int i = 0; i < 3; ++i) {
            points.push_back({{1'771'495'200'000'000, 0},
                              static_cast<double>((b * 3 + i) % 100) + 0.1 * (i + 1),
                              static_cast<std::uint32_t>(i)});
        }
        const auto prefix = metrics::order_prefix(1'771'495'200'000'000);
        std::string m(prefix.data(), prefix.size());
        const std::int64_t arrival =
            1'771'495'200'000'000 - b;  // newest first, as Redis gives them
        for (int i = 7; i >= 0; --i) {
            m.push_back(static_cast<char>((static_cast<std::uint64_t>(arrival) >> (8 * i)) & 0xff));
        }
        m.append(8, '\x01');
        metrics::append_block_rest(m, 29'524'920, points.size(), "bench_cpu");
        for (const auto& p : points) {
            metrics::append_point(m, p);
        }
        if (binary) {
            // The binary layout: the same header without the text flag, 21 bytes a point.
            m.resize(metrics::block_header_size + 9);
            m[metrics::block_header_size - 1] = 9;
            for (const auto& p : points) {
                const auto put = [&](std::uint64_t v, int bytes) {
                    for (int i = 0; i < bytes; ++i) {
                        m.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
                    }
                };
                put(static_cast<std::uint64_t>(p.timestamp.micros), 8);
                m.push_back(0);
                put(std::bit_cast<std::uint64_t>(p.value), 8);
                put(p.place, 4);
            }
        }
        out.push_back(std::move(m));
    }
    return out;
}

void list_page_100(benchmark::State& state, bool binary)
{
    const std::vector<std::string> members = list_page_members(binary);
    for (auto _ : state) {
        metrics::list_page page;
        page.reserve(members.size());
        for (const std::string& m : members) {
            page.add(m, 0);
        }
        page.sort();
        std::vector<const metrics::list_page::entry*> shown;
        for (std::size_t i = 0; i < 100 && i < page.points().size(); ++i) {
            shown.push_back(&page.points()[i]);
        }
        std::string body;
        page.append_json(body, shown);
        benchmark::DoNotOptimize(body.data());
    }
}
BENCHMARK_CAPTURE(list_page_100, text_values, false);
BENCHMARK_CAPTURE(list_page_100, binary_values, true);

// The limiter's pure arithmetic: the same computation the Lua script makes in Redis, and what the
// local backstop runs in process.
const ratelimit::window_policy seed_policy{.limit = 10, .window_ms = 60'000};

void window_admits(benchmark::State& state)
{
    ratelimit::window_sample s{.previous = 7, .current = 3, .elapsed_ms = 12'345};
    for (auto _ : state) {
        benchmark::DoNotOptimize(ratelimit::admits(s, seed_policy));
        s.elapsed_ms = (s.elapsed_ms + 977) % seed_policy.window_ms;
    }
}
BENCHMARK(window_admits);

void window_decide_admitted(benchmark::State& state)
{
    ratelimit::window_sample s{.previous = 7, .current = 2, .elapsed_ms = 12'345};
    for (auto _ : state) {
        auto d = ratelimit::decide(s, true, seed_policy, ratelimit::decision_source::redis);
        benchmark::DoNotOptimize(d);
        s.elapsed_ms = (s.elapsed_ms + 977) % seed_policy.window_ms;
    }
}
BENCHMARK(window_decide_admitted);

void window_decide_refused(benchmark::State& state)
{
    // Refused: Retry-After needs the time until the weighted count decays below the limit.
    ratelimit::window_sample s{.previous = 10, .current = 10, .elapsed_ms = 12'345};
    for (auto _ : state) {
        auto d = ratelimit::decide(s, false, seed_policy, ratelimit::decision_source::redis);
        benchmark::DoNotOptimize(d);
        s.elapsed_ms = (s.elapsed_ms + 977) % seed_policy.window_ms;
    }
}
BENCHMARK(window_decide_refused);

// A client refused recently is answered from memory: the lookup every refused request pays
// instead of a Redis round trip (compare with bench/run.sh's figures for an admitted check).
void refusal_memory_refused_for(benchmark::State& state)
{
    ratelimit::refusal_memory memory;
    const common::clock::mono_time now{};
    for (int i = 0; i < 1'000; ++i) {
        memory.remember("198.51.100." + std::to_string(i), now, std::chrono::seconds(30));
    }
    const std::string client = "198.51.100.500";
    for (auto _ : state) {
        benchmark::DoNotOptimize(memory.refused_for(client, now));
    }
}
BENCHMARK(refusal_memory_refused_for);

// Redis's replies, read by the connection's long-lived reader: a list page (ZREVRANGE of 25
// blocks of 4 points, as GET /api/metrics/list?limit=100 reads under single-metric ingest) and
// a daily summary's HMGET of its state and 83 buckets, every other one missing.
std::string list_page_reply()
{
    std::string out = "*25\r\n";
    for (int b = 0; b < 25; ++b) {
        std::string member = std::string(24, '\x01');
        metrics::append_block_rest(member, 29'525'040, 4, "cpu_usage");
        for (int i = 0; i < 4; ++i) {
            metrics::append_point(member, {{1'771'495'200'000'000 + b * 4 + i, 0}, i + 0.5,
                                           static_cast<std::uint32_t>(i)});
        }
        out += "$" + std::to_string(member.size()) + "\r\n" + member + "\r\n";
    }
    return out;
}

std::string bucket_mget_reply()
{
    std::string out = "*84\r\n$33\r\n" + std::string(33, '\x01') + "\r\n";
    const std::string rollup(metrics::rollup_size, '\x02');
    for (int i = 0; i < 83; ++i) {
        out += i % 2 == 0 ? "$73\r\n" + rollup + "\r\n" : std::string("$-1\r\n");
    }
    return out;
}

void read_reply(benchmark::State& state, const std::string& bytes)
{
    auto reader = redis::resp_reader::create();
    if (!reader) {
        state.SkipWithError("no reader");
        return;
    }
    for (auto _ : state) {
        const bool fed = reader->feed(bytes);
        auto r = reader->next();
        // A failed read would time the error path instead: stop rather than report it.
        if (!fed || !r || !r->has_value()) {
            state.SkipWithError("the reply did not read");
            break;
        }
        benchmark::DoNotOptimize(r);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes.size()));
}

void resp_read_list_page_100(benchmark::State& state)
{
    read_reply(state, list_page_reply());
}
BENCHMARK(resp_read_list_page_100);

void resp_read_hmget_83_buckets(benchmark::State& state)
{
    read_reply(state, bucket_mget_reply());
}
BENCHMARK(resp_read_hmget_83_buckets);

}  // namespace

BENCHMARK_MAIN();
