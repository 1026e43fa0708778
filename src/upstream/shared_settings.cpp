#include "upstream/shared_settings.hpp"

#include "common/logging.hpp"
#include "redis/script.hpp"

#include <boost/asio/this_coro.hpp>

#include <array>
#include <charconv>
#include <cmath>
#include <string>
#include <vector>

namespace analytics::upstream {

namespace {

// KEYS[1]: the hash. ARGV: failure_rate or "", latency_ms or "" (the change), then the writer's
// configured failure_rate and latency_ms for a field never stored. Answers
// {version, failure_rate, latency_ms} as stored now.
constexpr std::string_view write_source = R"lua(
local stored = redis.call('HMGET', KEYS[1], 'failure_rate', 'latency_ms')
local rate = ARGV[1] ~= '' and ARGV[1] or stored[1] or ARGV[3]
local latency = ARGV[2] ~= '' and ARGV[2] or stored[2] or ARGV[4]
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'failure_rate', rate, 'latency_ms', latency)
return {version, rate, latency}
)lua";

const redis::script& write_script()
{
    static const redis::script s{std::string(write_source)};
    return s;
}

using boost::system::result;

boost::system::error_code unexpected()
{
    return redis::make_error_code(redis::errc::unexpected_reply);
}

// The shortest text that reads back as the same double.
std::string format_rate(double d)
{
    std::array<char, 32> buf{};
    const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), d);
    return std::string(buf.data(), end);
}

std::optional<double> parse_rate(std::string_view s)
{
    double d = 0.0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
    if (ec != std::errc{} || end != s.data() + s.size() || !std::isfinite(d) || d < 0.0 ||
        d > 1.0) {
        return std::nullopt;
    }
    return d;
}

std::optional<std::int64_t> parse_count(std::string_view s)
{
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc{} || end != s.data() + s.size() || n < 0) {
        return std::nullopt;
    }
    return n;
}

// The three-element array both the write script and the HMGET answer.
result<const std::vector<redis::reply>*> three_fields(const result<redis::reply>& r)
{
    if (!r) {
        return r.error();
    }
    if (r->is_error()) {
        return redis::make_error_code(redis::errc::server_error);
    }
    if (r->type != redis::reply::kind::array || r->elements.size() != 3) {
        return unexpected();
    }
    return &r->elements;
}

struct stored {
    std::uint64_t version = 0;
    simulation_values values;
};

// The three fields as Redis answers them (version as integer or text, the others as text).
result<stored> read_fields(const redis::reply& version, const redis::reply& rate,
                           const redis::reply& latency)
{
    stored out;
    if (version.type == redis::reply::kind::integer && version.integer > 0) {
        out.version = static_cast<std::uint64_t>(version.integer);
    } else if (version.type == redis::reply::kind::string) {
        const auto v = parse_count(version.str);
        if (!v) {
            return unexpected();
        }
        out.version = static_cast<std::uint64_t>(*v);
    } else {
        return unexpected();
    }
    const auto r = rate.type == redis::reply::kind::string ? parse_rate(rate.str) : std::nullopt;
    const auto l =
        latency.type == redis::reply::kind::string ? parse_count(latency.str) : std::nullopt;
    if (!r || !l || *l > simulation_settings::max_latency.count()) {
        return unexpected();
    }
    out.values = {*r, std::chrono::milliseconds(*l)};
    return out;
}

}  // namespace

shared_settings::shared_settings(redis::client& redis, simulation_settings& settings,
                                 const config::upstream_options& configured,
                                 std::chrono::milliseconds timeout)
    : redis_(redis),
      settings_(settings),
      // As simulation_settings clamps them at start-up.
      configured_(simulation_settings(configured).current()),
      timeout_(timeout)
{
}

net::awaitable<result<simulation_change>> shared_settings::write(
    std::optional<double> failure_rate, std::optional<std::chrono::milliseconds> latency)
{
    const std::string rate = failure_rate ? format_rate(*failure_rate) : std::string();
    const std::string lat = latency ? std::to_string(latency->count()) : std::string();
    const std::string configured_rate = format_rate(configured_.failure_rate);
    const std::string configured_latency = std::to_string(configured_.latency.count());
    const std::array<std::string_view, 1> keys{key};
    const std::array<std::string_view, 4> args{rate, lat, configured_rate, configured_latency};
    const auto r = co_await redis_.eval(write_script(), keys, args, timeout_);
    const auto fields = three_fields(r);
    if (!fields) {
        co_return fields.error();
    }
    const auto& f = **fields;
    auto s = read_fields(f[0], f[1], f[2]);
    if (!s) {
        co_return s.error();
    }
    const auto before = settings_.current();
    settings_.adopt(s->values, s->version, true);
    // What is in force now: this write, or a newer one that overtook it.
    co_return simulation_change{before, settings_.current()};
}

net::awaitable<result<void>> shared_settings::refresh()
{
    const auto r = co_await redis_.exec(
        redis::command("HMGET", key, "version", "failure_rate", "latency_ms"), timeout_);
    const auto fields = three_fields(r);
    if (!fields) {
        co_return fields.error();
    }
    const auto& f = **fields;
    stored now{0, configured_};
    if (!f[0].is_nil()) {
        auto s = read_fields(f[0], f[1], f[2]);
        if (!s) {
            co_return s.error();
        }
        now = *s;
    }
    const auto in_force = settings_.version();
    if (now.version == in_force) {
        older_seen_.reset();
        co_return result<void>{};
    }
    if (now.version < in_force && older_seen_ != now.version) {
        older_seen_ = now.version;
        co_return result<void>{};
    }
    older_seen_.reset();
    if (const auto c = settings_.adopt(now.values, now.version, false)) {
        log::info("upstream.settings_adopted",
                  {{"version", now.version},
                   {"failure_rate", c->after.failure_rate},
                   {"latency_ms", c->after.latency.count()},
                   {"previous_failure_rate", c->before.failure_rate},
                   {"previous_latency_ms", c->before.latency.count()}});
    }
    co_return result<void>{};
}

net::awaitable<void> shared_settings::watch(std::chrono::milliseconds interval)
{
    net::steady_timer timer(co_await net::this_coro::executor);
    watch_timer_ = &timer;
    while (!stopped_) {
        // Before the first connection there is nothing to read and no outage to report.
        result<void> done;
        if (redis_.connects() > 0) {
            done = co_await refresh();
        }
        if (stopped_) {
            break;
        }
        if (done) {
            unreadable_.recovered();
        } else if (done.error() != redis::make_error_code(redis::errc::stopped)) {
            // Until Redis answers again the settings in force stay; logged once per outage.
            unreadable_.occurred({{"error", done.error().message()}});
        }
        timer.expires_after(interval);
        co_await timer.async_wait(common::use_nothrow);
    }
    watch_timer_ = nullptr;
}

void shared_settings::stop()
{
    stopped_ = true;
    if (watch_timer_ != nullptr) {
        watch_timer_->cancel();
    }
}

}  // namespace analytics::upstream
