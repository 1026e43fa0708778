#include "metrics/metric_store.hpp"

#include "common/logging.hpp"
#include "common/string_writer.hpp"
#include "metrics/rollup.hpp"
#include "redis/arg_buffer.hpp"
#include "redis/write_refusals.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>
#include <vector>

namespace analytics::metrics {

namespace {

// µs from 0001-01-01T00:00:00Z to the Unix epoch: makes every supported timestamp a
// non-negative 18-digit number, so the text order of members is the time order.
constexpr std::int64_t epoch_shift_micros = 62'135'596'800'000'000;

constexpr std::string_view index_points = "metrics:index:points";
constexpr std::string_view index_seq = "metrics:index:seq";

void append_type_key(std::string& out, std::string_view type, std::string_view suffix)
{
    out.append("metrics:{").append(type).append("}:").append(suffix);
}

std::string type_key(std::string_view type, std::string_view suffix)
{
    std::string key;
    key.reserve(16 + type.size() + suffix.size());
    append_type_key(key, type, suffix);
    return key;
}

void append_bucket_key(std::string& out, std::string_view type, bool hours, std::int64_t index)
{
    append_type_key(out, type, hours ? "h:" : "m:");
    redis::arg_buffer::append_integer(out, index);
}

// Room for an order key, or for any int64 should a timestamp fall outside the supported years.
using order_key_buffer = std::array<char, 24>;

// Writes the order key of `unix_micros` into `buf` and returns it.
std::string_view format_order_key(order_key_buffer& buf, std::int64_t unix_micros)
{
    char* const begin = buf.data();
    const auto [end, ec] =
        std::to_chars(begin, begin + buf.size(), unix_micros + epoch_shift_micros);
    const auto n = static_cast<std::size_t>(end - begin);
    if (n >= order_key_size || buf[0] == '-') {
        return {begin, n};
    }
    std::copy_backward(begin, end, begin + order_key_size);
    std::fill(begin, begin + (order_key_size - n), '0');
    return {begin, order_key_size};
}

void append_order_key(std::string& out, std::int64_t unix_micros)
{
    order_key_buffer buf{};
    out.append(format_order_key(buf, unix_micros));
}

// A point's position in its batch, in the 3 digits that follow the batch's first arrival
// number in its member (store_functions).
static_assert(metric_store::max_batch <= 1000);
void append_place(std::string& out, std::size_t place)
{
    out.push_back(static_cast<char>('0' + place / 100));
    out.push_back(static_cast<char>('0' + place / 10 % 10));
    out.push_back(static_cast<char>('0' + place % 10));
}

// Stores one batch of points (ingest_batch.hpp) in two steps, so that a check of the batch can
// come between them. store_read(kfirst, afirst) reads what the writes depend on: the rollups
// (one MGET) and the point sets' sizes, which also make a key of the wrong type fail the script
// before anything is written. store_write(kfirst, afirst, rollups, sizes) gives the points
// consecutive arrival numbers, adds those within the retention to their type's sorted set and
// to the index, trims both, and folds each rollup's share of the batch into its value: one read
// and one write per rollup.
//
// Both read their keys from KEYS[kfirst] and their arguments from ARGV[afirst]:
// KEYS: index points, seq, then T type point sets, then R rollups
// ARGV: points in the batch (kept or not), retention cutoff order key, max points per set, T,
//       R; then per type set: its number of points k, then k times (order key,
//       "<place>|type|value|timestamp", the place being the point's 0-based position in the
//       batch in 3 digits); then per rollup: its share of the batch (a rollup, rollup.hpp) and
//       its expiry (Unix ms; 0: none)
// store_write returns the last arrival number given.
//
// A point's member is its order key, the batch's first arrival number (16 digits) and the rest
// of its argument: members with equal order keys sort by arrival, also against members of
// earlier builds, which held the point's own arrival number there (always below a later batch's
// first). Formatting the number once per batch spares the script two calls per point.
//
// Scores are passed to ZADD as the string '0': a Lua number would be printed to text for
// every member.
constexpr std::string_view store_functions = R"lua(
local function store_read(kfirst, afirst)
  local K, A = kfirst - 1, afirst - 1
  local types, rollups = tonumber(ARGV[A + 4]), tonumber(ARGV[A + 5])
  local sizes = {}
  for k = K + 1, K + 2 + types do
    if k ~= K + 2 then sizes[k] = redis.call('ZCARD', KEYS[k]) end
  end
  if rollups == 0 then return {}, sizes end
  return redis.call('MGET', unpack(KEYS, K + 3 + types, K + 2 + types + rollups)), sizes
end

-- A rollup (rollup.hpp), or nil: what earlier builds wrote as text is read too, anything
-- else (a key of another type reads as false) is replaced.
local rollup_format = '<Bdddddc18'
local function read_rollup(v)
  if not v then return nil end
  if #v == 59 and string.byte(v, 1) == 1 then
    local _, c, s, mn, mx, lv, lt = struct.unpack(rollup_format, v)
    return c, s, mn, mx, lv, lt
  end
  local c, s, mn, mx, lt, lv = string.match(v, '^(%d+) (%S+) (%S+) (%S+) (%d+) (%S+)$')
  if not c or #lt ~= 18 then return nil end
  c, s, mn, mx, lv = tonumber(c), tonumber(s), tonumber(mn), tonumber(mx), tonumber(lv)
  if not (c and s and mn and mx and lv) then return nil end
  return c, s, mn, mx, lv, lt
end

local function store_write(kfirst, afirst, current, sizes)
  local K, A = kfirst - 1, afirst - 1
  local n, cutoff, max = tonumber(ARGV[A + 1]), ARGV[A + 2], tonumber(ARGV[A + 3])
  local types, rollups = tonumber(ARGV[A + 4]), tonumber(ARGV[A + 5])
  local last = redis.call('INCRBY', KEYS[K + 2], n)
  local base = last - n

  -- The count cap is exact: a set that holds more than max after the batch's points (its size
  -- before them plus those ZADD added) is cut to its newest max; a negative rank counts from
  -- the end. The retention trim runs when the batch's arrival numbers pass a multiple of 256,
  -- so at most 255 expired points linger; the list never shows them (it reads from the same
  -- cutoff), and under load this spares nearly every batch the trim.
  local expire = math.floor(last / 256) > math.floor(base / 256)
  local function trim(k, added)
    if expire then redis.call('ZREMRANGEBYLEX', KEYS[k], '-', '(' .. cutoff) end
    if sizes[k] + added > max then redis.call('ZREMRANGEBYRANK', KEYS[k], 0, -max - 1) end
  end

  local a = A + 6
  local first = string.format('%016d', base + 1)
  local index, x = {}, 0
  for t = 1, types do
    local k = tonumber(ARGV[a])
    a = a + 1
    local add = {}
    for i = 1, k do
      local member = ARGV[a] .. first .. ARGV[a + 1]
      a = a + 2
      add[2 * i - 1] = '0'
      add[2 * i] = member
      index[x + 1] = '0'
      index[x + 2] = member
      x = x + 2
    end
    trim(K + 2 + t, redis.call('ZADD', KEYS[K + 2 + t], unpack(add)))
  end
  if x > 0 then
    trim(K + 1, redis.call('ZADD', KEYS[K + 1], unpack(index)))
  end

  for r = 1, rollups do
    local key, value, expiry = KEYS[K + 2 + types + r], ARGV[a], ARGV[a + 1]
    a = a + 2
    local oc, os, omn, omx, olv, olt = read_rollup(current[r])
    if oc then
      local _, c, s, mn, mx, lv, lt = struct.unpack(rollup_format, value)
      -- The first of equal values is kept; the newest timestamp wins, on a tie the later
      -- arrival (this batch).
      if omn <= mn then mn = omn end
      if omx >= mx then mx = omx end
      if olt > lt then lt, lv = olt, olv end
      value = struct.pack(rollup_format, 1, oc + c, os + s, mn, mx, lv, lt)
    end
    if expiry == '0' then
      redis.call('SET', key, value)
    elseif oc then
      -- A bucket's expiry is fixed by its time, so it is set once, when the bucket is created.
      redis.call('SET', key, value, 'KEEPTTL')
    else
      redis.call('SET', key, value, 'PXAT', expiry)
    end
  end
  return last
end
)lua";

// The ingest script: decides the batch's rate-limit checks (sliding_window_limiter) between
// the store's reads and its writes, and writes only if every check passed, so a checked metric
// costs one round trip.
// ARGV[1]: how many KEYS the store takes (the checks' keys follow them); ARGV[2]: where the
// checks' arguments begin in ARGV (after the store's, which begin at ARGV[3]), 0 for none.
// Returns the checks' answers (none without checks) followed by store_write()'s result, or -1 when
// a check was refused and nothing was stored.
constexpr std::string_view ingest_main = R"lua(
local store_keys, checks = tonumber(ARGV[1]), tonumber(ARGV[2])
local current, sizes = store_read(1, 3)
local out, admitted = {}, true
if checks > 0 then
  out, admitted = rate_limit(store_keys + 1, checks)
end
out[#out + 1] = admitted and store_write(1, 3, current, sizes) or -1
return out
)lua";

const redis::script& ingest_script()
{
    static const redis::script s(std::string(ratelimit::sliding_window_limiter::script_function()) +
                                 std::string(store_functions) + std::string(ingest_main));
    return s;
}

result<void> check_transport(const result<redis::reply>& r, std::string_view what)
{
    if (!r) {
        return r.error();
    }
    if (r->is_error()) {
        // A refused write (OOM, READONLY, MISCONF) is logged once per incident by the client's
        // redis::write_refusals, not once per call.
        if (!redis::write_refusals::is_refusal(r->str)) {
            log::error("metrics.redis_error", {{"operation", what}, {"error", r->str}});
        }
        return redis::make_error_code(redis::errc::server_error);
    }
    return {};
}

}  // namespace

metric_store::metric_store(redis::client& redis, const config::metrics_options& options,
                           std::chrono::milliseconds timeout, const common::clock& clock)
    : redis_(redis),
      options_(options),
      timeout_(timeout),
      clock_(clock),
      ingest_(make_queue()),
      checked_ingest_(make_queue())
{
}

metric_store::ingest_queue metric_store::make_queue()
{
    return ingest_queue(
        redis_.get_executor(), max_batch,
        [this](std::span<const queued_metric> batch, std::span<batch_share> results,
               ingest_queue::clock::time_point opened) {
            return store_batch(batch, results, opened);
        },
        batch_share{redis::make_error_code(redis::errc::stopped), false, std::nullopt});
}

std::string metric_store::order_key(std::int64_t unix_micros)
{
    std::string key;
    append_order_key(key, unix_micros);
    return key;
}

std::int64_t metric_store::now_ms() const
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now().time_since_epoch())
        .count();
}

net::awaitable<result<void>> metric_store::add(const metric& m)
{
    // A named local, not a temporary: GCC 12 mislocates a braced temporary that lives across a
    // co_await (its string's inline buffer is left behind in the frame).
    queued_metric queued{m, now_ms(), nullptr, {}};
    const batch_share share = co_await ingest_.submit(std::move(queued));
    if (share.error) {
        co_return share.error;
    }
    co_return result<void>{};  // a batch without checks always writes
}

net::awaitable<result<metric_store::admitted>> metric_store::admit_and_add(
    const metric& m, ratelimit::admission& check)
{
    queued_metric queued{m, now_ms(), &check.limiter(), check.client()};
    const batch_share share = co_await checked_ingest_.submit(std::move(queued));
    if (share.check) {
        check.settle(*share.check);
    } else {
        const std::string why =
            share.error ? share.error.message() : std::string("no answer to the check");
        check.settle(ratelimit::batch_answer{std::nullopt, why});
    }
    if (!check.result().allowed) {
        co_return admitted::refused;
    }
    if (share.error) {
        co_return share.error;
    }
    if (share.wrote) {
        co_return admitted::stored;
    }
    // Allowed, but another check of the batch was refused, so the batch wrote nothing: store
    // the metric by itself (its check is spent).
    if (auto again = co_await add(m); !again) {
        co_return again.error();
    }
    co_return admitted::stored;
}

void metric_store::stop()
{
    ingest_.stop();
    checked_ingest_.stop();
}

net::awaitable<void> metric_store::store_batch(std::span<const queued_metric> batch,
                                               std::span<batch_share> results,
                                               ingest_queue::clock::time_point opened)
{
    const ingest_plan plan = plan_ingest(batch, options_);
    // A batch's checks are all made by the worker's limiter (checked_by), one per metric of
    // the checked queue.
    clients_.clear();
    ratelimit::sliding_window_limiter* limiter = nullptr;
    for (const queued_metric& q : batch) {
        if (q.checked_by != nullptr) {
            limiter = q.checked_by;
            clients_.push_back(q.client);
        }
    }
    const std::size_t checks = clients_.size();

    redis::arg_buffer keys;
    redis::arg_buffer args;
    keys.reserve(2 + plan.types.size() + plan.rollups.size(),
                 64 + (plan.types.size() + plan.rollups.size()) * 96);
    args.reserve(7 + plan.types.size() + batch.size() * 3 + plan.rollups.size() * 2,
                 64 + batch.size() * 170 + plan.rollups.size() * (rollup_size + 16));
    keys.add(index_points);
    keys.add(index_seq);
    std::size_t sets = 0;
    for (const type_share& t : plan.types) {
        if (!t.kept.empty()) {
            append_type_key(keys.text(), t.name, "points");
            keys.end_arg();
            ++sets;
        }
    }
    for (const rollup_share& r : plan.rollups) {
        const std::string_view type = plan.types[r.type].name;
        if (r.kind == rollup_kind::total) {
            append_type_key(keys.text(), type, "total");
        } else {
            append_bucket_key(keys.text(), type, r.kind == rollup_kind::hour, r.bucket);
        }
        keys.end_arg();
    }

    std::size_t kept = 0;
    for (const type_share& t : plan.types) {
        kept += t.kept.size();
    }
    const std::size_t store_keys = 2 + sets + plan.rollups.size();
    const std::size_t store_args = 5 + sets + 2 * kept + 2 * plan.rollups.size();
    args.add_integer(static_cast<std::int64_t>(store_keys));
    args.add_integer(checks == 0 ? 0 : static_cast<std::int64_t>(3 + store_args));
    args.add_integer(static_cast<std::int64_t>(batch.size()));
    append_order_key(args.text(), plan.trim_cutoff_micros);
    args.end_arg();
    args.add_integer(options_.max_points_per_type);
    args.add_integer(static_cast<std::int64_t>(sets));
    args.add_integer(static_cast<std::int64_t>(plan.rollups.size()));
    for (const type_share& t : plan.types) {
        if (t.kept.empty()) {
            continue;
        }
        args.add_integer(static_cast<std::int64_t>(t.kept.size()));
        for (const std::size_t i : t.kept) {
            const metric& m = batch[i].m;
            append_order_key(args.text(), m.timestamp.micros);
            args.end_arg();
            std::string& out = args.text();
            append_place(out, i);
            out.push_back('|');
            out.append(m.type);
            out.push_back('|');
            append_value(out, m.value);
            out.push_back('|');
            common::append_rfc3339(out, m.timestamp);
            args.end_arg();
        }
    }
    for (const rollup_share& r : plan.rollups) {
        order_key_buffer newest{};
        append_rollup(args.text(), {r.count, r.sum, r.min, r.max, r.latest,
                                    format_order_key(newest, r.latest_micros)});
        args.end_arg();
        args.add_integer(r.expires_at_ms);
    }
    std::vector<std::uint32_t> client_of_check;
    if (checks != 0) {
        client_of_check.reserve(checks);
        limiter->append_batch(clients_, keys, args, client_of_check);
    }

    // The batch's deadline counts from when its first metric was queued, so no caller waits
    // longer than `timeout_` for Redis.
    const auto waited =
        std::chrono::ceil<std::chrono::milliseconds>(ingest_queue::clock::now() - opened);
    const auto key_views = keys.views();
    const auto arg_views = args.views();
    auto r = co_await redis_.eval(ingest_script(), key_views, arg_views, timeout_ - waited);

    // Every metric of a failed call fails, and its check is decided without Redis.
    auto fail = [&](boost::system::error_code ec, const std::string& why) {
        for (std::size_t i = 0; i < batch.size(); ++i) {
            results[i].error = ec;
            if (batch[i].checked_by != nullptr) {
                results[i].check = ratelimit::batch_answer{std::nullopt, why};
            }
        }
    };
    if (const result<void> transport = check_transport(r, "ingest"); !transport) {
        fail(transport.error(), r ? r->str : r.error().message());
        co_return;
    }
    // The checks' answers (sliding_window_limiter::read_answers), then the store's result.
    const auto& e = r->elements;
    std::vector<ratelimit::script_answer> answers(checks);
    const bool well_formed =
        r->type == redis::reply::kind::array && !e.empty() &&
        e.back().type == redis::reply::kind::integer &&
        (checks == 0 ? e.size() == 1
                     : ratelimit::sliding_window_limiter::read_answers(
                           std::span<const redis::reply>(e.data(), e.size() - 1), client_of_check,
                           answers));
    if (!well_formed) {
        log::error("metrics.unexpected_reply", {{"operation", "ingest"}});
        fail(redis::make_error_code(redis::errc::unexpected_reply), "unexpected reply");
        co_return;
    }
    const bool wrote = e.back().integer >= 0;
    std::size_t check = 0;
    for (std::size_t i = 0; i < batch.size(); ++i) {
        results[i].error = {};
        results[i].wrote = wrote;
        if (batch[i].checked_by != nullptr) {
            results[i].check = ratelimit::batch_answer{answers[check++], std::string()};
        }
    }
}

net::awaitable<result<std::string>> metric_store::list_json(std::string_view type, unsigned limit)
{
    const std::string key = type.empty() ? std::string(index_points) : type_key(type, "points");
    const std::string count = std::to_string(limit);
    // Points past the retention may linger until a batch trims them; the list starts at the
    // cutoff that trim uses, so it never shows them.
    std::string from = "[";
    append_order_key(from, retention_cutoff_micros(now_ms(), options_));
    auto r = co_await redis_.exec(
        redis::command("ZREVRANGEBYLEX", key, "+", from, "LIMIT", "0", count), timeout_);
    if (auto ok = check_transport(r, "list"); !ok) {
        co_return ok.error();
    }
    if (r->type != redis::reply::kind::array) {
        co_return redis::make_error_code(redis::errc::unexpected_reply);
    }
    // An item takes at most its member's text and this much around it; the body is written
    // through a pointer into room made once for the largest it can be.
    constexpr std::string_view open_item = R"({"timestamp":")";
    constexpr std::string_view before_value = R"(","value":)";
    constexpr std::string_view before_type = R"(,"type":")";
    constexpr std::string_view close_item = R"("})";
    constexpr std::size_t item_framing =
        1 + open_item.size() + before_value.size() + before_type.size() + close_item.size();
    std::size_t most = 2;
    for (const auto& e : r->elements) {
        most += e.str.size() + item_framing;
    }
    std::string body;
    {
        common::string_writer w(body, most);
        w.put('[');
        bool first = true;
        for (const auto& e : r->elements) {
            // <order key><arrival>|<type>|<value>|<timestamp>; every part was validated on the
            // way in.
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
                w.put(',');
            }
            first = false;
            w.put(open_item);
            w.put(member.substr(p3 + 1));
            w.put(before_value);
            w.put(member.substr(p2 + 1, p3 - p2 - 1));
            w.put(before_type);
            w.put(member.substr(p1 + 1, p2 - p1 - 1));
            w.put(close_item);
        }
        w.put(']');
    }
    co_return body;
}

net::awaitable<result<summary>> metric_store::summarize(std::string_view type, period p)
{
    // MGET and the keys in one buffer: a window of buckets is up to 83 keys, each too long for
    // a string's inline buffer.
    redis::arg_buffer command;
    command.add(std::string_view("MGET"));
    if (p == period::all) {
        append_type_key(command.text(), type, "total");
        command.end_arg();
    } else {
        for (const auto& range : window_buckets(p, now_ms())) {
            for (std::int64_t i = range.first; i <= range.last; ++i) {
                append_bucket_key(command.text(), type, range.hours, i);
                command.end_arg();
            }
        }
    }
    const std::vector<std::string_view> args = command.views();
    const std::span<const std::string_view> keys(args.begin() + 1, args.end());
    auto r = co_await redis_.exec(std::span<const std::string_view>(args), timeout_);
    if (auto ok = check_transport(r, "summary"); !ok) {
        co_return ok.error();
    }
    if (r->type != redis::reply::kind::array || r->elements.size() != keys.size()) {
        co_return redis::make_error_code(redis::errc::unexpected_reply);
    }
    // Combined in key order, as the buckets follow each other in time: the sum adds them one
    // by one; of equal newest timestamps the first wins.
    summary s;
    std::string_view newest;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        const redis::reply& e = r->elements[i];
        if (e.type != redis::reply::kind::string) {
            continue;  // no such bucket (nil)
        }
        const auto bucket = parse_rollup(e.str);
        if (!bucket) {
            log::error("metrics.corrupt_rollup", {{"key", keys[i]}});
            continue;
        }
        if (s.count == 0) {
            s.min = bucket->min;
            s.max = bucket->max;
        } else {
            s.min = std::min(s.min, bucket->min);
            s.max = std::max(s.max, bucket->max);
        }
        s.count += bucket->count;
        s.sum += bucket->sum;
        if (newest.empty() || bucket->newest > newest) {
            newest = bucket->newest;
            s.latest = bucket->latest;
        }
    }
    co_return s;
}

}  // namespace analytics::metrics
