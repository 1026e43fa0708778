#include "breaker/cluster_store.hpp"

#include <algorithm>
#include <array>

namespace analytics::breaker {

namespace {

// KEYS[1]: the hash. ARGV: operation (read | acquire | report), failure threshold, reset
// timeout in ms, trial lease in ms; for report also the generation the call was let through
// in, "1" when it was the trial, "1" when it succeeded.
// Answers {state, failures, successes, generation, wait_ms, opened_ms, trial_granted,
// trial_running, reason...}: state 0 CLOSED, 1 OPEN, 2 HALF_OPEN; wait_ms until a call may pass
// (OPEN: the reset timeout; HALF_OPEN: the trial's lease); one reason per change made.
// Times are Unix milliseconds by Redis's clock (13 digits, exact in Lua's numbers and in the
// "%.14g" Redis formats them with).
constexpr std::string_view script_source = R"lua(
local key = KEYS[1]
local threshold = tonumber(ARGV[2])
local reset_ms = tonumber(ARGV[3])
local lease_ms = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = redis.call('HMGET', key, 'state', 'failures', 'successes', 'generation', 'opened',
                    'trial_until')
local st = tonumber(h[1]) or 0
local failures = tonumber(h[2]) or 0
local successes = tonumber(h[3]) or 0
local gen = tonumber(h[4]) or 0
local opened = tonumber(h[5]) or 0
local trial_until = tonumber(h[6]) or 0
local reasons = {}
local dirty = false
local function move(to, reason)
    st = to
    gen = gen + 1
    successes = 0
    dirty = true
    reasons[#reasons + 1] = reason
end
local function open_at(at, reason)
    opened = at
    trial_until = 0
    move(1, reason)
end
-- What time alone changes comes first. A trial past its lease failed when the lease ended, and
-- the reset timeout counts from then.
for _ = 1, 3 do
    if st == 1 and now >= opened + reset_ms then
        trial_until = 0
        move(2, 'reset_timeout_elapsed')
    elseif st == 2 and trial_until > 0 and now >= trial_until then
        failures = failures + 1
        open_at(trial_until, 'trial_timed_out')
    else
        break
    end
end
local granted = 0
if ARGV[1] == 'acquire' then
    if st == 2 and trial_until == 0 then
        trial_until = now + lease_ms
        granted = 1
        dirty = true
    end
elseif ARGV[1] == 'report' and tonumber(ARGV[5]) == gen then
    local success = ARGV[7] == '1'
    if ARGV[6] == '1' then
        if st == 2 and trial_until > 0 then
            if success then
                failures = 0
                trial_until = 0
                move(0, 'trial_succeeded')
            else
                failures = failures + 1
                open_at(now, 'trial_failed')
            end
        end
    elseif st == 0 then
        if success then
            failures = 0
            successes = successes + 1
        else
            failures = failures + 1
            if failures >= threshold then
                open_at(now, 'failure_threshold_reached')
            end
        end
        dirty = true
    end
end
if dirty then
    redis.call('HSET', key, 'state', st, 'failures', failures, 'successes', successes,
               'generation', gen, 'opened', opened, 'trial_until', trial_until)
end
local wait = 0
if st == 1 then
    wait = opened + reset_ms - now
elseif st == 2 and trial_until > 0 then
    wait = trial_until - now
end
local out = {st, failures, successes, gen, wait, opened, granted, trial_until > 0 and 1 or 0}
for i = 1, #reasons do
    out[#out + 1] = reasons[i]
end
return out
)lua";

const redis::script& breaker_script()
{
    static const redis::script s{std::string(script_source)};
    return s;
}

struct reason_info {
    std::string_view name;
    state from;
    state to;
};

constexpr std::array<reason_info, 5> k_reasons{{
    {"failure_threshold_reached", state::closed, state::open},
    {"reset_timeout_elapsed", state::open, state::half_open},
    {"trial_succeeded", state::half_open, state::closed},
    {"trial_failed", state::half_open, state::open},
    {"trial_timed_out", state::half_open, state::open},
}};

boost::system::error_code unexpected()
{
    return redis::make_error_code(redis::errc::unexpected_reply);
}

}  // namespace

cluster_store::cluster_store(redis::client& redis, const config::breaker_options& opts,
                             std::chrono::milliseconds trial_timeout,
                             std::chrono::milliseconds redis_timeout)
    : redis_(redis),
      threshold_(std::to_string(std::max<std::uint32_t>(opts.failure_threshold, 1))),
      reset_ms_(std::to_string(std::max<std::int64_t>(opts.reset_timeout.count(), 0))),
      lease_ms_(std::to_string(std::max<std::int64_t>(trial_timeout.count(), 0))),
      timeout_(redis_timeout)
{
}

net::awaitable<boost::system::result<fleet_state>> cluster_store::read()
{
    return run("read", "0", "0", "0");
}

net::awaitable<boost::system::result<fleet_state>> cluster_store::acquire()
{
    return run("acquire", "0", "0", "0");
}

net::awaitable<boost::system::result<fleet_state>> cluster_store::report(std::uint64_t generation,
                                                                         bool trial, bool success)
{
    const std::string gen = std::to_string(generation);
    co_return co_await run("report", gen, trial ? "1" : "0", success ? "1" : "0");
}

net::awaitable<boost::system::result<fleet_state>> cluster_store::run(std::string_view operation,
                                                                      std::string_view generation,
                                                                      std::string_view trial,
                                                                      std::string_view success)
{
    const std::array<std::string_view, 1> keys{key};
    const std::array<std::string_view, 7> args{operation,  threshold_, reset_ms_, lease_ms_,
                                               generation, trial,      success};
    auto r = co_await redis_.eval(breaker_script(), keys, args, timeout_);
    if (!r) {
        co_return r.error();
    }
    if (r->is_error()) {
        co_return redis::make_error_code(redis::errc::server_error);
    }
    co_return parse(*r);
}

boost::system::result<fleet_state> cluster_store::parse(const redis::reply& r)
{
    if (r.type != redis::reply::kind::array || r.elements.size() < 8 ||
        r.elements.size() > 8 + k_reasons.size()) {
        return unexpected();
    }
    std::array<std::int64_t, 8> n{};
    for (std::size_t i = 0; i < n.size(); ++i) {
        if (r.elements[i].type != redis::reply::kind::integer || r.elements[i].integer < 0) {
            return unexpected();
        }
        n[i] = r.elements[i].integer;
    }
    if (n[0] > 2) {
        return unexpected();
    }
    fleet_state out;
    out.current = static_cast<state>(n[0]);
    out.failure_count = static_cast<std::uint64_t>(n[1]);
    out.success_count = static_cast<std::uint64_t>(n[2]);
    out.generation = static_cast<std::uint64_t>(n[3]);
    out.wait = std::chrono::milliseconds(n[4]);
    if (n[5] > 0) {
        out.opened_at = common::clock::wall_time{std::chrono::milliseconds(n[5])};
    }
    out.trial_granted = n[6] != 0;
    out.trial_in_flight = n[7] != 0;
    for (std::size_t i = 8; i < r.elements.size(); ++i) {
        const auto& e = r.elements[i];
        const auto* found = std::find_if(k_reasons.begin(), k_reasons.end(),
                                         [&](const reason_info& k) { return k.name == e.str; });
        if (e.type != redis::reply::kind::string || found == k_reasons.end()) {
            return unexpected();
        }
        out.changes.push_back({found->from, found->to, found->name});
    }
    return out;
}

}  // namespace analytics::breaker
