#include "metrics/v1_migration.hpp"

#include "common/logging.hpp"
#include "common/rfc3339.hpp"
#include "metrics/ingest_batch.hpp"
#include "metrics/scripts.hpp"
#include "metrics/store_call.hpp"
#include "metrics/type_registry.hpp"
#include "redis/arg_buffer.hpp"
#include "redis/key_tags.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <limits>
#include <random>
#include <vector>

namespace analytics::metrics {

namespace {

using boost::system::error_code;

// µs from 0001-01-01T00:00:00Z to the Unix epoch: v1's order keys count from there.
constexpr std::int64_t epoch_shift_micros = 62'135'596'800'000'000;
constexpr std::size_t order_key_size = 18;
constexpr std::size_t points_per_call = 1000;
// Buckets v1 may still hold: minute buckets lived 1441 minutes and were made up to a day ahead,
// hour buckets 1500 minutes.
constexpr std::int64_t minutes_back = 1441;
constexpr std::int64_t minutes_ahead = 1441;

bool all_digits(std::string_view s) noexcept
{
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

template <class T>
bool parse_number(std::string_view s, T& out) noexcept
{
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && end == s.data() + s.size();
}

double read_double(std::string_view bytes, std::size_t at) noexcept
{
    std::uint64_t bits = 0;
    for (std::size_t i = 0; i < 8; ++i) {
        bits |= std::uint64_t{static_cast<unsigned char>(bytes[at + i])} << (8 * i);
    }
    return std::bit_cast<double>(bits);
}

std::optional<std::int64_t> order_key_micros(std::string_view key) noexcept
{
    std::int64_t v = 0;
    if (key.size() != order_key_size || !all_digits(key) || !parse_number(key, v)) {
        return std::nullopt;
    }
    return v - epoch_shift_micros;
}

error_code failed(const boost::system::result<redis::reply>& r)
{
    if (!r) {
        return r.error();
    }
    if (r->is_error()) {
        log::error("metrics.v1_migration_error", {{"error", r->str}});
        return redis::make_error_code(redis::errc::server_error);
    }
    return {};
}

std::string v1_key(std::string_view type, std::string_view suffix)
{
    return "metrics:{" + std::string(type) + "}:" + std::string(suffix);
}

// What one v1 type holds.
struct v1_type {
    std::vector<std::string> members;             // its points' members, sorted
    std::vector<std::pair<std::string, rollup>> fields;  // "t", "m<minute>", "h<hour>"
    std::vector<std::string> bucket_keys;         // to delete with it
};

net::awaitable<boost::system::result<v1_type>> read_type(redis::client& redis,
                                                        std::string_view type,
                                                        std::int64_t now_ms,
                                                        std::chrono::milliseconds timeout)
{
    v1_type out;
    const std::string points = v1_key(type, "points");
    const std::string total = v1_key(type, "total");
    auto members = co_await redis.exec(redis::command("ZRANGE", points, "0", "-1"), timeout);
    if (const error_code ec = failed(members)) {
        co_return ec;
    }
    for (const auto& m : members->elements) {
        out.members.emplace_back(m.str);
    }
    auto t = co_await redis.exec(redis::command("GET", total), timeout);
    if (const error_code ec = failed(t)) {
        co_return ec;
    }
    if (t->type == redis::reply::kind::string) {
        if (const auto r = parse_v1_rollup(t->str)) {
            out.fields.emplace_back("t", *r);
        }
    }
    // The buckets that may still live, by name, a few hundred keys an MGET.
    const std::int64_t minute = now_ms / 60'000;
    std::vector<std::pair<std::string, std::string>> names;  // v1 key, current field
    for (std::int64_t m = minute - minutes_back; m <= minute + minutes_ahead; ++m) {
        names.emplace_back(v1_key(type, "m:" + std::to_string(m)), "m" + std::to_string(m));
    }
    for (std::int64_t h = (minute - 1500) / 60; h <= (minute + minutes_ahead) / 60 + 1; ++h) {
        names.emplace_back(v1_key(type, "h:" + std::to_string(h)), "h" + std::to_string(h));
    }
    for (std::size_t from = 0; from < names.size(); from += 500) {
        std::vector<std::string_view> args{"MGET"};
        const std::size_t to = std::min(names.size(), from + 500);
        for (std::size_t i = from; i < to; ++i) {
            args.push_back(names[i].first);
        }
        auto r = co_await redis.exec(std::span<const std::string_view>(args), timeout);
        if (const error_code ec = failed(r)) {
            co_return ec;
        }
        for (std::size_t i = 0; i < r->elements.size() && from + i < to; ++i) {
            const redis::reply& e = r->elements[i];
            if (e.type != redis::reply::kind::string) {
                continue;
            }
            out.bucket_keys.push_back(names[from + i].first);
            if (const auto rollup = parse_v1_rollup(e.str)) {
                out.fields.emplace_back(names[from + i].second, *rollup);
            }
        }
    }
    co_return out;
}

// One point a block, each with the arrival that keeps v1's order: `base_us` plus its arrival
// number, so every moved point arrived before anything stored after the move.
block_plan block_of(const v1_point& p, std::int64_t base_us)
{
    block_plan b;
    b.prefix = order_prefix(p.point.timestamp.micros);
    append_block_rest(b.rest, minute_of(p.point.timestamp.micros), 1, p.type);
    append_point(b.rest, p.point);
    b.arrival_us = base_us + p.arrival;
    return b;
}

}  // namespace

std::optional<v1_point> parse_v1_point(std::string_view member) noexcept
{
    const auto bar1 = member.find('|');
    if (bar1 == std::string_view::npos || (bar1 != 34 && bar1 != 37) ||
        !all_digits(member.substr(0, bar1))) {
        return std::nullopt;
    }
    const auto bar2 = member.find('|', bar1 + 1);
    const auto bar3 = bar2 == std::string_view::npos ? bar2 : member.find('|', bar2 + 1);
    if (bar3 == std::string_view::npos) {
        return std::nullopt;
    }
    v1_point p;
    const auto micros = order_key_micros(member.substr(0, order_key_size));
    std::int64_t arrival = 0;
    std::int64_t place = 0;
    p.type = member.substr(bar1 + 1, bar2 - bar1 - 1);
    const auto stamp = common::parse_rfc3339(member.substr(bar3 + 1));
    if (!micros || !parse_number(member.substr(order_key_size, 16), arrival) ||
        (bar1 == 37 && !parse_number(member.substr(34, 3), place)) ||
        !parse_number(member.substr(bar2 + 1, bar3 - bar2 - 1), p.point.value) || !stamp ||
        !is_valid_type(p.type)) {
        return std::nullopt;
    }
    p.point.timestamp.micros = *micros;
    p.point.timestamp.fraction_digits = stamp->fraction_digits;
    p.arrival = arrival + place;
    return p;
}

std::optional<rollup> parse_v1_rollup(std::string_view bytes) noexcept
{
    rollup r;
    std::string_view newest;
    double count = 0;
    if (bytes.size() == 59 && bytes[0] == '\x01') {
        count = read_double(bytes, 1);
        r.high = read_double(bytes, 9);
        r.min = read_double(bytes, 17);
        r.max = read_double(bytes, 25);
        r.latest = read_double(bytes, 33);
        newest = bytes.substr(41);
    } else {
        std::array<std::string_view, 6> part;
        std::string_view text = bytes;
        for (std::size_t i = 0; i < part.size(); ++i) {
            const auto space = text.find(' ');
            if ((space == std::string_view::npos) != (i + 1 == part.size())) {
                return std::nullopt;
            }
            part[i] = text.substr(0, space);
            text.remove_prefix(space == std::string_view::npos ? text.size() : space + 1);
        }
        std::uint64_t n = 0;
        if (!parse_number(part[0], n) || !parse_number(part[1], r.high) ||
            !parse_number(part[2], r.min) || !parse_number(part[3], r.max) ||
            !parse_number(part[5], r.latest)) {
            return std::nullopt;
        }
        count = static_cast<double>(n);
        newest = part[4];
    }
    const auto micros = order_key_micros(newest);
    if (!micros || !(count >= 1) || count != static_cast<double>(static_cast<std::uint64_t>(count))) {
        return std::nullopt;
    }
    r.count = static_cast<std::uint64_t>(count);
    r.latest_micros = *micros;
    return r;
}

net::awaitable<boost::system::result<v1_migration_report>> migrate_v1(
    redis::client& redis, const config::metrics_options& options,
    std::chrono::milliseconds timeout)
{
    v1_migration_report report;
    // Nothing waits for the migration but the data it moves: its reads of whole sets and its
    // calls of a thousand points get more time than a request's commands.
    timeout = std::max(timeout * 10, std::chrono::milliseconds(2000));
    net::steady_timer pause(co_await net::this_coro::executor);
    for (int i = 0; i < 300 && !redis.connected(); ++i) {
        pause.expires_after(std::chrono::milliseconds(100));
        co_await pause.async_wait(common::use_nothrow);
    }
    if (!redis.connected()) {
        co_return redis::make_error_code(redis::errc::not_connected);
    }
    const store_settings settings{
        std::chrono::duration_cast<std::chrono::milliseconds>(options.retention).count(),
        options.max_points_per_type,
        std::chrono::duration_cast<std::chrono::milliseconds>(options.type_idle).count(),
        std::chrono::duration_cast<std::chrono::milliseconds>(options.max_future).count()};
    const auto wall_now = std::chrono::system_clock::now().time_since_epoch();
    const std::int64_t now_us =
        std::chrono::duration_cast<std::chrono::microseconds>(wall_now).count();
    const std::int64_t now_ms = now_us / 1000;

    // Every moved point arrives before now: v1's arrival numbers count up to its counter.
    auto seq = co_await redis.exec(redis::command("GET", "metrics:index:seq"), timeout);
    if (const error_code ec = failed(seq)) {
        co_return ec;
    }
    std::int64_t last_arrival = 0;
    if (seq->type == redis::reply::kind::string) {
        parse_number(std::string_view(seq->str), last_arrival);
    }
    const std::int64_t base_us = now_us - last_arrival - 1'000'000;

    std::mt19937_64 nonces(std::random_device{}());
    type_registry registry(redis, std::numeric_limits<std::uint32_t>::max(),
                           std::chrono::duration_cast<std::chrono::milliseconds>(options.type_idle),
                           timeout, common::system_clock());
    std::string cursor = "0";
    do {
        auto scan = co_await redis.exec(
            redis::command("SCAN", cursor, "MATCH", "metrics:{*}:total", "COUNT", "1000"), timeout);
        if (const error_code ec = failed(scan)) {
            co_return ec;
        }
        if (scan->type != redis::reply::kind::array || scan->elements.size() != 2) {
            co_return redis::make_error_code(redis::errc::unexpected_reply);
        }
        cursor = scan->elements[0].str;
        for (const redis::reply& key : scan->elements[1].elements) {
            const std::string_view k = key.str;
            const std::string type(k.substr(9, k.size() - 9 - 7));  // metrics:{<type>}:total
            if (!is_valid_type(type)) {
                continue;
            }
            auto data = co_await read_type(redis, type, now_ms, timeout);
            if (!data) {
                co_return data.error();
            }
            // Registered like any type, even past the cap: nothing stored is dropped.
            const std::string_view name = type;
            std::int64_t until = 0;
            if (auto admitted = co_await registry.admit(std::span(&name, 1),
                                                        type_registry::mode::each,
                                                        std::span(&until, 1));
                !admitted) {
                co_return admitted.error();
            }
            // The points in calls of 1000; the rollups with the first call; each call recorded,
            // so that none is applied twice.
            std::vector<v1_point> points;
            for (const std::string& m : data->members) {
                if (auto p = parse_v1_point(m); p && p->type == type) {
                    points.push_back(*p);
                }
            }
            const std::size_t calls = std::max<std::size_t>(1, (points.size() + points_per_call - 1) /
                                                                    points_per_call);
            for (std::size_t c = 0; c < calls; ++c) {
                type_plan plan;
                plan.name = type;
                const std::size_t from = c * points_per_call;
                const std::size_t to = std::min(points.size(), from + points_per_call);
                for (std::size_t i = from; i < to; ++i) {
                    plan.blocks.push_back(block_of(points[i], base_us));
                }
                plan.points = to - from;
                if (c == 0) {
                    for (const auto& [field, share] : data->fields) {
                        plan.fields.push_back({field, share});
                    }
                }
                store_call call(redis::tag_index(type), settings, now_us, nonces(), false);
                call.add_type(plan, until);
                call.add_record("v1-migration:" + type + ":" + std::to_string(c), "moved");
                const auto keys = call.keys();
                const auto args = call.args();
                auto r = co_await redis.eval(scripts::store(), keys, args, timeout);
                if (const error_code ec = failed(r)) {
                    co_return ec;
                }
            }
            std::vector<std::string> doomed{"DEL", v1_key(type, "points"), std::string(k)};
            doomed.insert(doomed.end(), data->bucket_keys.begin(), data->bucket_keys.end());
            const std::vector<std::string_view> del(doomed.begin(), doomed.end());
            auto gone = co_await redis.exec(std::span<const std::string_view>(del), timeout);
            if (const error_code ec = failed(gone)) {
                co_return ec;
            }
            ++report.types;
            report.points += points.size();
        }
    } while (cursor != "0");
    if (report.types > 0) {
        // Every type has moved: the index of all of them and the counter go too.
        auto gone = co_await redis.exec(
            redis::command("DEL", "metrics:index:points", "metrics:index:seq"), timeout);
        if (const error_code ec = failed(gone)) {
            co_return ec;
        }
        log::info("metrics.v1_migrated", {{"types", report.types}, {"points", report.points}});
    }
    co_return report;
}

}  // namespace analytics::metrics
