#include "metrics/metric_store.hpp"

#include "common/logging.hpp"

#include <array>
#include <charconv>
#include <cstdio>
#include <vector>

namespace analytics::metrics {

namespace {

constexpr std::int64_t minute_ms = 60'000;
constexpr std::int64_t micros_per_minute = 60'000'000;
// µs from 0001-01-01T00:00:00Z to the Unix epoch: makes every supported timestamp a
// non-negative 18-digit number, so the text order of members is the time order.
constexpr std::int64_t epoch_shift_micros = 62'135'596'800'000'000;
// A minute bucket is read by daily windows for 1440 minutes; one more minute of slack.
constexpr std::int64_t minute_bucket_life = 1441;
constexpr std::int64_t hour_bucket_life_minutes = 1500;
// Buckets are only kept for metrics up to a day ahead, so future timestamps cannot make an
// unbounded number of them.
constexpr std::int64_t future_horizon_minutes = 1440;

constexpr std::string_view index_points = "metrics:index:points";
constexpr std::string_view index_seq = "metrics:index:seq";

std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept
{
    const std::int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

std::string type_key(std::string_view type, std::string_view suffix)
{
    std::string key;
    key.reserve(16 + type.size() + suffix.size());
    key.append("metrics:{").append(type).append("}:").append(suffix);
    return key;
}

std::string bucket_key(std::string_view type, bool hours, std::int64_t index)
{
    return type_key(type, hours ? "h:" : "m:") + std::to_string(index);
}

// Adds the point to both sorted sets, folds it into the all-time rollup and into its minute
// and hour buckets, and trims the raw points, all atomically.
// KEYS: 1 type points, 2 index points, 3 total, 4 minute bucket, 5 hour bucket, 6 seq
// ARGV: 1 order key, 2 value, 3 type, 4 timestamp text, 5 minute bucket expiry (ms, 0: skip),
//       6 hour bucket expiry (ms, 0: skip), 7 retention cutoff order key, 8 max points
const redis::script& ingest_script()
{
    static const redis::script s(R"lua(
local seq = redis.call('INCR', KEYS[6])
local member = ARGV[1] .. string.format('%016d', seq) .. '|' .. ARGV[3] .. '|' .. ARGV[2] ..
    '|' .. ARGV[4]
local v = tonumber(ARGV[2])

local function fold(key)
  local cur = redis.call('HMGET', key, 'c', 's', 'mn', 'mx', 'lt', 'lv')
  if not cur[1] then
    redis.call('HSET', key, 'c', 1, 's', ARGV[2], 'mn', ARGV[2], 'mx', ARGV[2],
               'lt', ARGV[1], 'lv', ARGV[2])
    return true
  end
  local f = {'c', tonumber(cur[1]) + 1, 's', string.format('%.17g', tonumber(cur[2]) + v)}
  if v < tonumber(cur[3]) then f[#f + 1] = 'mn'; f[#f + 1] = ARGV[2] end
  if v > tonumber(cur[4]) then f[#f + 1] = 'mx'; f[#f + 1] = ARGV[2] end
  -- Newest timestamp wins; on a tie the later arrival (this one) does.
  if ARGV[1] >= cur[5] then
    f[#f + 1] = 'lt'; f[#f + 1] = ARGV[1]; f[#f + 1] = 'lv'; f[#f + 1] = ARGV[2]
  end
  redis.call('HSET', key, unpack(f))
  return false
end

-- The count cap is exact; the retention trim runs on every 16th point, which keeps it cheap
-- and lets at most 15 expired points linger until the next one.
local function trim(key, max)
  if seq % 16 == 0 then redis.call('ZREMRANGEBYLEX', key, '-', '(' .. ARGV[7]) end
  local n = redis.call('ZCARD', key)
  if n > max then redis.call('ZREMRANGEBYRANK', key, 0, n - max - 1) end
end

-- A point already older than the retention only counts in the rollups.
local keep = ARGV[1] >= ARGV[7]
if keep then
  redis.call('ZADD', KEYS[1], 0, member)
  redis.call('ZADD', KEYS[2], 0, member)
end
fold(KEYS[3])
-- A bucket's expiry is fixed by its time, so it is set once, when the bucket is created.
if ARGV[5] ~= '0' and fold(KEYS[4]) then redis.call('PEXPIREAT', KEYS[4], ARGV[5]) end
if ARGV[6] ~= '0' and fold(KEYS[5]) then redis.call('PEXPIREAT', KEYS[5], ARGV[6]) end
if keep then
  local max = tonumber(ARGV[8])
  trim(KEYS[1], max)
  trim(KEYS[2], max)
end
return seq
)lua");
    return s;
}

// Combines the rollup hashes in KEYS. Returns {0} when they hold nothing, else
// {count, sum, min, max, latest value} with the numbers as exact text.
const redis::script& summary_script()
{
    static const redis::script s(R"lua(
local c, s, mn, mx, lt, lv = 0, 0, nil, nil, nil, nil
for i = 1, #KEYS do
  local b = redis.call('HMGET', KEYS[i], 'c', 's', 'mn', 'mx', 'lt', 'lv')
  if b[1] then
    c = c + tonumber(b[1])
    s = s + tonumber(b[2])
    local bmn, bmx = tonumber(b[3]), tonumber(b[4])
    if mn == nil or bmn < mn then mn = bmn end
    if mx == nil or bmx > mx then mx = bmx end
    if lt == nil or b[5] > lt then lt = b[5]; lv = b[6] end
  end
end
if c == 0 then return {0} end
return {c, string.format('%.17g', s), string.format('%.17g', mn), string.format('%.17g', mx), lv}
)lua");
    return s;
}

bool parse_double(std::string_view text, double& out)
{
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && end == text.data() + text.size();
}

result<void> check_transport(const result<redis::reply>& r, std::string_view what)
{
    if (!r) {
        return r.error();
    }
    if (r->is_error()) {
        log::error("metrics.redis_error", {{"operation", what}, {"error", r->str}});
        return redis::make_error_code(redis::errc::server_error);
    }
    return {};
}

}  // namespace

metric_store::metric_store(redis::client& redis, const config::metrics_options& options,
                           std::chrono::milliseconds timeout, const common::clock& clock)
    : redis_(redis), options_(options), timeout_(timeout), clock_(clock)
{
}

std::string metric_store::order_key(std::int64_t unix_micros)
{
    std::array<char, 24> buf{};
    const int n = std::snprintf(buf.data(), buf.size(), "%018lld",
                                static_cast<long long>(unix_micros + epoch_shift_micros));
    return {buf.data(), static_cast<std::size_t>(n)};
}

net::awaitable<result<void>> metric_store::add(const metric& m)
{
    const std::int64_t now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now().time_since_epoch())
            .count();
    const std::int64_t now_minute = floor_div(now_ms, minute_ms);
    const std::int64_t minute = floor_div(m.timestamp.micros, micros_per_minute);
    const std::int64_t hour = floor_div(minute, 60);

    std::string minute_expiry = "0";
    std::string hour_expiry = "0";
    if (minute <= now_minute + future_horizon_minutes) {
        const std::int64_t minute_until = (minute + minute_bucket_life) * minute_ms;
        if (minute_until > now_ms) {
            minute_expiry = std::to_string(minute_until);
        }
        const std::int64_t hour_until = (hour * 60 + hour_bucket_life_minutes) * minute_ms;
        if (hour_until > now_ms) {
            hour_expiry = std::to_string(hour_until);
        }
    }

    const std::string points = type_key(m.type, "points");
    const std::string total = type_key(m.type, "total");
    const std::string minute_bucket = bucket_key(m.type, false, minute);
    const std::string hour_bucket = bucket_key(m.type, true, hour);
    const std::string key = order_key(m.timestamp.micros);
    const std::string value = format_value(m.value);
    const std::string ts = common::format_rfc3339(m.timestamp);
    const std::int64_t retention_micros =
        std::chrono::duration_cast<std::chrono::microseconds>(options_.retention).count();
    const std::string cutoff = order_key(now_ms * 1000 - retention_micros);
    const std::string max_points = std::to_string(options_.max_points_per_type);

    const std::array<std::string_view, 6> keys{points,        index_points, total,
                                               minute_bucket, hour_bucket,  index_seq};
    const std::array<std::string_view, 8> args{key,           value,       m.type, ts,
                                               minute_expiry, hour_expiry, cutoff, max_points};
    auto r = co_await redis_.eval(ingest_script(), keys, args, timeout_);
    co_return check_transport(r, "ingest");
}

net::awaitable<result<std::string>> metric_store::list_json(std::string_view type, unsigned limit)
{
    const std::string key = type.empty() ? std::string(index_points) : type_key(type, "points");
    const std::string count = std::to_string(limit);
    auto r = co_await redis_.exec(
        redis::command("ZREVRANGEBYLEX", key, "+", "-", "LIMIT", "0", count), timeout_);
    if (auto ok = check_transport(r, "list"); !ok) {
        co_return ok.error();
    }
    if (r->type != redis::reply::kind::array) {
        co_return redis::make_error_code(redis::errc::unexpected_reply);
    }
    std::string body;
    body.reserve(2 + r->elements.size() * 80);
    body.push_back('[');
    bool first = true;
    for (const auto& e : r->elements) {
        // <order key><seq>|<type>|<value>|<timestamp>; every part was validated on the way in.
        const std::string_view member = e.str;
        const auto p1 = member.find('|');
        const auto p2 = member.find('|', p1 + 1);
        const auto p3 = member.find('|', p2 + 1);
        if (p1 == std::string_view::npos || p2 == std::string_view::npos ||
            p3 == std::string_view::npos) {
            log::error("metrics.corrupt_member", {{"key", key}, {"member", member}});
            continue;
        }
        if (!first) {
            body.push_back(',');
        }
        first = false;
        body.append(R"({"timestamp":")");
        body.append(member.substr(p3 + 1));
        body.append(R"(","value":)");
        body.append(member.substr(p2 + 1, p3 - p2 - 1));
        body.append(R"(,"type":")");
        body.append(member.substr(p1 + 1, p2 - p1 - 1));
        body.append("\"}");
    }
    body.push_back(']');
    co_return body;
}

net::awaitable<result<summary>> metric_store::summarize(std::string_view type, period p)
{
    std::vector<std::string> key_storage;
    if (p == period::all) {
        key_storage.push_back(type_key(type, "total"));
    } else {
        const std::int64_t now_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now().time_since_epoch())
                .count();
        for (const auto& range : window_buckets(p, now_ms)) {
            for (std::int64_t i = range.first; i <= range.last; ++i) {
                key_storage.push_back(bucket_key(type, range.hours, i));
            }
        }
    }
    std::vector<std::string_view> keys(key_storage.begin(), key_storage.end());
    auto r =
        co_await redis_.eval(summary_script(), keys, std::span<const std::string_view>{}, timeout_);
    if (auto ok = check_transport(r, "summary"); !ok) {
        co_return ok.error();
    }
    if (r->type != redis::reply::kind::array || r->elements.empty()) {
        co_return redis::make_error_code(redis::errc::unexpected_reply);
    }
    summary s;
    const auto& e = r->elements;
    if (e[0].integer == 0) {
        co_return s;
    }
    if (e.size() != 5 || !parse_double(e[1].str, s.sum) || !parse_double(e[2].str, s.min) ||
        !parse_double(e[3].str, s.max) || !parse_double(e[4].str, s.latest)) {
        co_return redis::make_error_code(redis::errc::unexpected_reply);
    }
    s.count = static_cast<std::uint64_t>(e[0].integer);
    co_return s;
}

}  // namespace analytics::metrics
