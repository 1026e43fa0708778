#include "metrics/metric_store.hpp"

#include "common/logging.hpp"
#include "common/when_all.hpp"
#include "metrics/block.hpp"
#include "metrics/list_page.hpp"
#include "metrics/scripts.hpp"
#include "redis/arg_buffer.hpp"
#include "redis/key_tags.hpp"
#include "redis/write_refusals.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace analytics::metrics {

namespace {

using boost::system::error_code;

error_code transport_error(const result<redis::reply>& r, std::string_view operation)
{
    if (!r) {
        return r.error();
    }
    if (r->is_error()) {
        // A refused write (OOM, READONLY, MISCONF) is logged once per incident by the client's
        // redis::write_refusals, not once per call.
        if (!redis::write_refusals::is_refusal(r->str)) {
            log::error("metrics.redis_error", {{"operation", operation}, {"error", r->str}});
        }
        return redis::make_error_code(redis::errc::server_error);
    }
    return {};
}

// One sorted set of blocks as a list reads it (ZREVRANGE), from the newest block on.
struct list_source {
    std::string key;
    std::int64_t rank = 0;          // the first block not read yet
    std::size_t next_read = 1;      // how many blocks the next read asks for
    bool read_more = true;          // the walk needs more of it
    bool exhausted = false;         // every block has been read
    std::int64_t last_micros = 0;   // the newest timestamp of the last block read,
    std::int64_t last_arrival = 0;  // and its arrival: nothing unread lists before that
    int reads = 0;                  // reads made so far
};

}  // namespace

metric_store::metric_store(redis::client& redis, const config::metrics_options& options,
                           std::chrono::milliseconds timeout, const common::clock& clock,
                           unsigned wait_replicas)
    : redis_(redis),
      options_(options),
      settings_{std::chrono::duration_cast<std::chrono::milliseconds>(options.retention).count(),
                options.max_points_per_type,
                std::chrono::duration_cast<std::chrono::milliseconds>(options.type_idle).count(),
                std::chrono::duration_cast<std::chrono::milliseconds>(options.max_future).count()},
      timeout_(timeout),
      wait_replicas_(wait_replicas),
      clock_(clock),
      registry_(redis, options.max_types,
                std::chrono::duration_cast<std::chrono::milliseconds>(options.type_idle), timeout,
                clock),
      nonces_(std::random_device{}()),
      ingest_(
          redis.get_executor(), max_batch,
          [this](std::span<const queued> batch, std::span<result<outcome>> results,
                 ingest_queue::clock::time_point opened) {
              return store_queued(batch, results, opened);
          },
          result<outcome>(redis::make_error_code(redis::errc::stopped)))
{
    // Pipelines and MULTI send EVALSHA without falling back to EVAL: the script must be loaded
    // on every connection.
    redis_.register_script(scripts::store());
}

std::int64_t metric_store::next_arrival()
{
    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::microseconds>(clock_.now().time_since_epoch())
            .count();
    last_arrival_ = std::max(now, last_arrival_ + 1);
    return last_arrival_;
}

std::int64_t metric_store::now_ms() const
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now().time_since_epoch())
        .count();
}

void metric_store::stop()
{
    ingest_.stop();
}

net::awaitable<result<metric_store::outcome>> metric_store::add(const metric& m,
                                                                std::string_view idempotency_key,
                                                                std::string_view answer)
{
    // A named local, not a temporary: GCC 12 mislocates a braced temporary that lives across a
    // co_await (its string's inline buffer is left behind in the frame).
    // The answer is kept only for a request with a key: only a repeat of it asks for it.
    queued q{m, std::string(idempotency_key),
             idempotency_key.empty() ? std::string() : std::string(answer), now_ms()};
    co_return co_await ingest_.submit(std::move(q));
}

net::awaitable<result<store_call::outcome>> metric_store::run_call(
    store_call& call, std::chrono::milliseconds timeout)
{
    if (wait_replicas_ > 0) {
        auto outcomes = co_await run_pipelined(std::span(&call, 1), timeout, false);
        co_return std::move(outcomes.front());
    }
    const std::vector<std::string_view> keys = call.keys();
    const std::vector<std::string_view> args = call.args();
    auto r = co_await redis_.eval(scripts::store(), keys, args, timeout);
    co_return read_outcome(std::move(r));
}

result<store_call::outcome> metric_store::read_outcome(result<redis::reply> r)
{
    if (const error_code ec = transport_error(r, "ingest")) {
        return ec;
    }
    auto read = store_call::read_reply(std::move(*r));
    if (!read) {
        log::error("metrics.unexpected_reply", {{"operation", "ingest"}});
    }
    return read;
}

net::awaitable<std::vector<result<store_call::outcome>>> metric_store::run_calls(
    std::span<store_call> calls, std::chrono::milliseconds timeout, bool atomic)
{
    if (redis_.is_cluster()) {
        // Each tag's call on the master of its slot, all at once.
        std::vector<net::awaitable<result<store_call::outcome>>> running;
        running.reserve(calls.size());
        for (store_call& call : calls) {
            running.push_back(run_call(call, timeout));
        }
        co_return co_await common::when_all(std::move(running));
    }
    if (calls.size() == 1) {
        std::vector<result<store_call::outcome>> out;
        out.push_back(co_await run_call(calls.front(), timeout));
        co_return out;
    }
    co_return co_await run_pipelined(calls, timeout, atomic);
}

net::awaitable<std::vector<result<store_call::outcome>>> metric_store::run_pipelined(
    std::span<store_call> calls, std::chrono::milliseconds timeout, bool atomic)
{
    // EVALSHA sha numkeys keys... args... for each call, the views kept alive in this frame.
    const std::string& sha = scripts::store().sha1();
    std::vector<std::string> numkeys;
    std::vector<std::vector<std::string_view>> evals;
    numkeys.reserve(calls.size());
    evals.reserve(calls.size());
    for (store_call& call : calls) {
        const std::vector<std::string_view> keys = call.keys();
        const std::vector<std::string_view> args = call.args();
        numkeys.push_back(std::to_string(keys.size()));
        auto& eval = evals.emplace_back();
        eval.reserve(3 + keys.size() + args.size());
        eval.insert(eval.end(), {"EVALSHA", sha, numkeys.back()});
        eval.insert(eval.end(), keys.begin(), keys.end());
        eval.insert(eval.end(), args.begin(), args.end());
    }
    static constexpr std::array<std::string_view, 1> multi{"MULTI"};
    static constexpr std::array<std::string_view, 1> exec{"EXEC"};
    // WAIT gets half the deadline: Redis notices a WAIT's timeout only at its next cron tick
    // (every 100 ms at the default hz 10), and its count should arrive before the deadline.
    const std::string replicas = std::to_string(wait_replicas_);
    const std::string wait_ms = std::to_string(std::max<std::int64_t>(1, timeout.count() / 2));
    const std::array<std::string_view, 3> wait{"WAIT", replicas, wait_ms};

    std::vector<std::span<const std::string_view>> commands;
    commands.reserve(evals.size() + 3);
    if (atomic) {
        commands.emplace_back(multi);
    }
    for (const auto& eval : evals) {
        commands.emplace_back(eval);
    }
    if (atomic) {
        commands.emplace_back(exec);
    }
    if (wait_replicas_ > 0) {
        commands.emplace_back(wait);
    }
    const auto ch = wait_replicas_ > 0 ? redis::channel::write : redis::channel::shared;
    auto sent = co_await redis_.pipeline(calls.front().keys().front(), commands, timeout, ch);

    std::vector<result<store_call::outcome>> out;
    out.reserve(calls.size());
    auto fail_all = [&](error_code ec) {
        out.assign(calls.size(), result<store_call::outcome>(ec));
        return std::move(out);
    };
    if (!sent) {
        co_return fail_all(sent.error());
    }
    std::vector<redis::reply>& replies = *sent;
    if (replies.size() != commands.size()) {
        log::error("metrics.unexpected_reply", {{"operation", "ingest"}});
        co_return fail_all(redis::errc::unexpected_reply);
    }
    if (wait_replicas_ > 0) {
        const redis::reply& acked = replies.back();
        if (acked.type != redis::reply::kind::integer || acked.integer < wait_replicas_) {
            co_return fail_all(redis::errc::too_few_replicas);
        }
    }
    if (atomic) {
        // MULTI's OK, a QUEUED per call, then EXEC's array of the calls' replies; an error
        // instead (EXECABORT) means nothing ran.
        redis::reply& done = replies[evals.size() + 1];
        if (done.type != redis::reply::kind::array || done.elements.size() != evals.size()) {
            error_code ec = transport_error(result<redis::reply>(std::move(done)), "ingest");
            co_return fail_all(ec ? ec : redis::make_error_code(redis::errc::unexpected_reply));
        }
        for (redis::reply& r : done.elements) {
            out.push_back(read_outcome(std::move(r)));
        }
        co_return out;
    }
    for (std::size_t c = 0; c < evals.size(); ++c) {
        out.push_back(read_outcome(std::move(replies[c])));
    }
    co_return out;
}

void metric_store::renew(const std::vector<std::string_view>& types_of_call,
                         const store_call::stored& stored)
{
    for (const auto& [position, expiry] : stored.renewals) {
        if (position < types_of_call.size()) {
            registry_.renew(types_of_call[position], expiry);
        }
    }
}

net::awaitable<void> metric_store::store_queued(std::span<const queued> batch,
                                                std::span<result<outcome>> results,
                                                ingest_queue::clock::time_point opened)
{
    auto remaining = [&] {
        const auto waited =
            std::chrono::ceil<std::chrono::milliseconds>(ingest_queue::clock::now() - opened);
        return timeout_ - waited;
    };

    // Types this worker has not seen registered are admitted first, each while there is room.
    std::vector<std::string_view> unknown;
    for (const queued& q : batch) {
        if (registry_.known_until(q.m.type) == 0 &&
            std::find(unknown.begin(), unknown.end(), q.m.type) == unknown.end()) {
            unknown.push_back(q.m.type);
        }
    }
    std::vector<std::size_t> pending;
    if (!unknown.empty()) {
        std::vector<std::int64_t> until(unknown.size());
        if (auto admitted = co_await registry_.admit(unknown, type_registry::mode::each, until);
            !admitted) {
            for (auto& r : results) {
                r = admitted.error();
            }
            co_return;
        }
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
        if (registry_.known_until(batch[i].m.type) == 0) {
            results[i] = outcome{outcome::kind::type_limit, {}};
        } else {
            pending.push_back(i);
        }
    }

    // Rounds: a request whose key another request of this batch carries waits for the next
    // round (where it finds that one's record), and so do the requests of a call that found a
    // record and therefore wrote nothing.
    for (int round = 0; !pending.empty(); ++round) {
        if (round == 8) {
            for (const std::size_t i : pending) {
                results[i] = redis::make_error_code(redis::errc::unexpected_reply);
            }
            co_return;
        }
        std::vector<std::size_t> now_items;
        std::vector<std::size_t> later;
        std::unordered_set<std::string_view> keys_seen;
        for (const std::size_t i : pending) {
            const std::string& key = batch[i].idempotency_key;
            if (!key.empty() && !keys_seen.insert(key).second) {
                later.push_back(i);
            } else {
                now_items.push_back(i);
            }
        }
        std::vector<queued_metric> points;
        points.reserve(now_items.size());
        for (std::size_t n = 0; n < now_items.size(); ++n) {
            const queued& q = batch[now_items[n]];
            points.push_back({q.m, q.added_ms, static_cast<std::uint32_t>(n)});
        }
        const std::vector<tag_plan> plans = plan_ingest(points);
        const std::int64_t arrival = next_arrival();
        std::vector<store_call> calls;
        std::vector<std::vector<std::size_t>> items_of_call;  // batch positions
        std::vector<std::vector<std::size_t>> record_items;   // batch positions, record order
        std::vector<std::vector<std::string_view>> types_of_call;
        calls.reserve(plans.size());
        for (const tag_plan& plan : plans) {
            store_call& call =
                calls.emplace_back(plan.tag, settings_, arrival, nonces_(), nonces_() % 16 == 0);
            auto& types = types_of_call.emplace_back();
            for (const type_plan& t : plan.types) {
                call.add_type(t, registry_.known_until(t.name));
                types.push_back(t.name);
            }
            auto& items = items_of_call.emplace_back();
            auto& records = record_items.emplace_back();
            for (const std::size_t i : now_items) {
                if (redis::tag_index(batch[i].m.type) != plan.tag) {
                    continue;
                }
                items.push_back(i);
                if (!batch[i].idempotency_key.empty()) {
                    call.add_record(batch[i].idempotency_key, batch[i].answer);
                    records.push_back(i);
                }
            }
        }
        const auto outcomes = co_await run_calls(calls, remaining(), false);

        pending = std::move(later);
        for (std::size_t c = 0; c < calls.size(); ++c) {
            const auto& o = outcomes[c];
            if (!o) {
                for (const std::size_t i : items_of_call[c]) {
                    results[i] = o.error();
                }
                continue;
            }
            if (const auto* stored = std::get_if<store_call::stored>(&*o)) {
                renew(types_of_call[c], *stored);
                for (const std::size_t i : items_of_call[c]) {
                    results[i] = outcome{outcome::kind::stored, {}};
                }
                continue;
            }
            // A record existed: nothing of this call was written.
            const auto& answers = std::get<store_call::repeated>(*o).answers;
            std::unordered_set<std::size_t> answered;
            for (std::size_t r = 0; r < record_items[c].size() && r < answers.size(); ++r) {
                if (answers[r]) {
                    results[record_items[c][r]] = outcome{outcome::kind::repeated, *answers[r]};
                    answered.insert(record_items[c][r]);
                }
            }
            for (const std::size_t i : items_of_call[c]) {
                if (!answered.contains(i)) {
                    pending.push_back(i);
                }
            }
        }
        std::sort(pending.begin(), pending.end());
    }
}

net::awaitable<result<metric_store::outcome>> metric_store::add_batch(
    std::span<const metric> batch, std::string_view idempotency_key, std::string_view answer)
{
    const auto started = std::chrono::steady_clock::now();
    auto remaining = [&] {
        return timeout_ - std::chrono::ceil<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - started);
    };

    // Every new type of the batch is admitted, or none is and nothing is stored.
    std::vector<std::string_view> unknown;
    for (const metric& m : batch) {
        if (registry_.known_until(m.type) == 0 &&
            std::find(unknown.begin(), unknown.end(), m.type) == unknown.end()) {
            unknown.push_back(m.type);
        }
    }
    if (!unknown.empty()) {
        std::vector<std::int64_t> until(unknown.size());
        if (auto admitted = co_await registry_.admit(unknown, type_registry::mode::all, until);
            !admitted) {
            co_return admitted.error();
        }
        if (std::find(until.begin(), until.end(), 0) != until.end()) {
            co_return outcome{outcome::kind::type_limit, {}};
        }
    }

    // Every call of the batch carries one arrival time, so that its points order among themselves
    // by their place in it, whichever call stored them.
    const std::int64_t arrival = next_arrival();
    std::vector<queued_metric> points;
    points.reserve(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
        points.push_back({batch[i], arrival / 1000, static_cast<std::uint32_t>(i)});
    }
    const std::vector<tag_plan> plans = plan_ingest(points);
    std::vector<store_call> calls;
    std::vector<std::vector<std::string_view>> types_of_call;
    calls.reserve(plans.size());
    for (const tag_plan& plan : plans) {
        store_call& call =
            calls.emplace_back(plan.tag, settings_, arrival, nonces_(), nonces_() % 16 == 0);
        auto& types = types_of_call.emplace_back();
        for (const type_plan& t : plan.types) {
            call.add_type(t, registry_.known_until(t.name));
            types.push_back(t.name);
        }
        if (!idempotency_key.empty()) {
            call.add_record(idempotency_key, answer);
        }
    }
    const auto outcomes = co_await run_calls(calls, remaining(), true);

    outcome out{outcome::kind::stored, {}};
    error_code failed;
    for (std::size_t c = 0; c < calls.size(); ++c) {
        const auto& o = outcomes[c];
        if (!o) {
            failed = o.error();
        } else if (const auto* stored = std::get_if<store_call::stored>(&*o)) {
            renew(types_of_call[c], *stored);
        } else {
            // This part was stored by an earlier attempt with the same key: its answer stands.
            const auto& answers = std::get<store_call::repeated>(*o).answers;
            if (!answers.empty() && answers.front()) {
                out = outcome{outcome::kind::repeated, *answers.front()};
            }
        }
    }
    if (failed) {
        co_return failed;
    }
    co_return out;
}

net::awaitable<std::vector<result<redis::reply>>> metric_store::read_blocks(
    std::span<const std::array<std::string_view, 4>> commands)
{
    std::vector<result<redis::reply>> out;
    if (commands.size() == 1) {
        out.push_back(co_await redis_.exec(commands.front(), timeout_));
        co_return out;
    }
    if (!redis_.is_cluster()) {
        // One node holds every set, whatever their keys' slots.
        const std::vector<std::span<const std::string_view>> batch(commands.begin(),
                                                                   commands.end());
        auto replies = co_await redis_.pipeline(commands.front()[1], batch, timeout_);
        if (replies && replies->size() != commands.size()) {
            replies = redis::make_error_code(redis::errc::unexpected_reply);
        }
        if (!replies) {
            out.assign(commands.size(), result<redis::reply>(replies.error()));
            co_return out;
        }
        for (redis::reply& r : *replies) {
            out.emplace_back(std::move(r));
        }
        co_return out;
    }
    std::vector<net::awaitable<result<redis::reply>>> reads;
    for (const auto& command : commands) {
        reads.push_back(redis_.exec(command, timeout_));
    }
    co_return co_await common::when_all(std::move(reads));
}

net::awaitable<result<std::string>> metric_store::list_json(std::string_view type, unsigned limit)
{
    const std::int64_t cutoff_us = (now_ms() - settings_.retention_ms) * 1000;
    const std::size_t cap = settings_.max_points;
    std::vector<list_source> sources;
    if (type.empty()) {
        for (std::size_t t = 0; t < redis::tag_count; ++t) {
            sources.push_back({index_key(t)});
        }
    } else {
        sources.push_back({type_set_key(type)});
    }
    // Blocks to read first from each source: as many as the last list that read it needed for
    // as many points, an eighth more (what arrived since may hold fewer points a block), and
    // the one that shows nothing unread lists before; a source not read yet gets its share of
    // the points wanted, as if each block held one.
    const std::size_t wanted = type.empty() ? limit : std::min<std::size_t>(limit, cap);
    for (list_source& source : sources) {
        if (const auto it = blocks_needed_.find(source.key); it != blocks_needed_.end()) {
            const auto [blocks, points] = it->second;
            const std::size_t scaled = (blocks * wanted + points - 1) / points;
            source.next_read = std::min(scaled + scaled / 8 + 1, wanted + 1);
        } else {
            source.next_read = wanted / sources.size() + 1;
        }
    }

    std::vector<redis::reply> replies;  // the members the page views
    std::vector<std::size_t> replied;   // the source of each reply
    list_page page;
    std::vector<const list_page::entry*> shown;
    // Only a cap below the limit can keep a point from showing: each type shows at most `cap`.
    const bool capped = cap < limit;
    std::size_t blocks_read = 0;
    for (int round = 0;; ++round) {
        std::vector<std::size_t> read_from;
        std::vector<std::array<std::string, 2>> ranges;
        ranges.reserve(sources.size());
        std::vector<std::array<std::string_view, 4>> commands;
        commands.reserve(sources.size());
        for (std::size_t s = 0; s < sources.size(); ++s) {
            list_source& source = sources[s];
            if (!source.read_more || source.exhausted) {
                continue;
            }
            ranges.push_back({std::to_string(source.rank),
                              std::to_string(source.rank + std::int64_t(source.next_read) - 1)});
            commands.push_back(
                redis::command("ZREVRANGE", source.key, ranges.back()[0], ranges.back()[1]));
            read_from.push_back(s);
        }
        auto results = co_await read_blocks(commands);
        for (std::size_t n = 0; n < results.size(); ++n) {
            auto& r = results[n];
            if (const error_code ec = transport_error(r, "list")) {
                co_return ec;
            }
            if (r->type != redis::reply::kind::array) {
                co_return redis::make_error_code(redis::errc::unexpected_reply);
            }
            list_source& source = sources[read_from[n]];
            const auto& e = r->elements;
            source.exhausted = e.size() < source.next_read;
            source.rank += static_cast<std::int64_t>(e.size());
            ++source.reads;
            blocks_read += e.size();
            if (!e.empty()) {
                if (const auto last = read_block_head(e.back().str)) {
                    source.last_micros = last->newest_micros;
                    source.last_arrival = last->arrival_micros;
                }
            }
            replies.push_back(std::move(*r));
            replied.push_back(read_from[n]);
        }
        // The page sorts fastest what comes nearly in order: this round's blocks, newest first
        // across its sources (each source's already are).
        const std::size_t first_new = replies.size() - results.size();
        std::size_t arriving = 0;
        for (std::size_t n = first_new; n < replies.size(); ++n) {
            arriving += replies[n].elements.size();
        }
        std::vector<std::pair<block_head, std::string_view>> arrived;
        arrived.reserve(arriving);
        for (std::size_t n = first_new; n < replies.size(); ++n) {
            for (const redis::reply& member : replies[n].elements) {
                arrived.emplace_back(read_block_head(member.str).value_or(block_head{}),
                                     member.str);
            }
        }
        if (results.size() > 1) {
            std::stable_sort(arrived.begin(), arrived.end(), [](const auto& a, const auto& b) {
                return std::tie(b.first.newest_micros, b.first.arrival_micros) <
                       std::tie(a.first.newest_micros, a.first.arrival_micros);
            });
        }
        page.reserve(arrived.size());
        for (const auto& [head, member] : arrived) {
            if (!page.add(member, cutoff_us)) {
                log::error("metrics.corrupt_block", {{"size", member.size()}});
            }
        }
        page.sort();

        // Walk newest first. A point is shown only when no source can still hold a point that
        // lists before it: every point not read yet lies at or below its source's last block
        // read (by timestamp, then arrival). Each type shows at most `cap` points.
        shown.clear();
        std::unordered_map<std::string_view, std::size_t> per_type;
        for (list_source& source : sources) {
            source.read_more = false;
        }
        bool complete = true;
        for (const list_page::entry& p : page.points()) {
            if (shown.size() == limit) {
                break;
            }
            bool blocked = false;
            for (list_source& source : sources) {
                if (!source.exhausted &&
                    (source.last_micros > p.micros ||
                     (source.last_micros == p.micros && source.last_arrival >= p.arrival))) {
                    source.read_more = true;
                    blocked = true;
                }
            }
            if (blocked) {
                complete = false;
                break;
            }
            if (!capped || ++per_type[page.type_of(p)] <= cap) {
                shown.push_back(&p);
            }
        }
        if (complete && shown.size() < limit) {
            // Out of points: every source that still has blocks is read on.
            for (list_source& source : sources) {
                if (!source.exhausted) {
                    source.read_more = true;
                    complete = false;
                }
            }
        }
        if (complete || round == 32) {
            break;
        }
        // Reading on: enough blocks for the points still missing, at the points per block read
        // so far, plus one (the last block read may hold points that cannot show yet); from a
        // source's third read on at least twice its last, so that no walk takes many rounds.
        const double per_block =
            std::max(1.0, static_cast<double>(page.points().size()) /
                              static_cast<double>(std::max<std::size_t>(blocks_read, 1)));
        const std::size_t missing = wanted > shown.size() ? wanted - shown.size() : 1;
        const auto needed =
            static_cast<std::size_t>(std::ceil(static_cast<double>(missing) / per_block)) + 1;
        for (list_source& source : sources) {
            const std::size_t doubled = source.reads >= 2 ? 2 * source.next_read + 1 : 0;
            source.next_read = std::min<std::size_t>(std::max(needed, doubled), 4096);
        }
    }
    // How many blocks each source needed for the points shown: those that may hold a point
    // listed at or before the last one shown (every block read, when the list ran out of
    // points). The next list reads about as many at once, scaled to its limit.
    if (blocks_needed_.size() + sources.size() > 4096) {
        blocks_needed_.clear();
    }
    std::vector<std::size_t> needed(sources.size(), 0);
    if (shown.size() < wanted) {
        for (std::size_t s = 0; s < sources.size(); ++s) {
            needed[s] = static_cast<std::size_t>(sources[s].rank);
        }
    } else {
        const list_page::entry& cut = *shown.back();
        for (std::size_t n = 0; n < replies.size(); ++n) {
            for (const redis::reply& member : replies[n].elements) {
                const auto head = read_block_head(member.str);
                if (head &&
                    (head->newest_micros > cut.micros ||
                     (head->newest_micros == cut.micros && head->arrival_micros >= cut.arrival))) {
                    ++needed[replied[n]];
                }
            }
        }
    }
    for (std::size_t s = 0; s < sources.size(); ++s) {
        blocks_needed_[sources[s].key] = {needed[s], std::max<std::size_t>(shown.size(), 1)};
    }

    std::string body;
    page.append_json(body, shown);
    co_return body;
}

net::awaitable<result<summary>> metric_store::summarize(std::string_view type, period p)
{
    // HMGET, the type's rollups key, "meta", then the window's fields in time order.
    redis::arg_buffer command;
    command.add(std::string_view("HMGET"));
    command.add(type_rollups_key(type));
    command.add(std::string_view("meta"));
    if (p == period::all) {
        command.add(std::string_view("t"));
    } else {
        for (const auto& range : window_buckets(p, now_ms())) {
            for (std::int64_t i = range.first; i <= range.last; ++i) {
                command.text().push_back(range.hours ? 'h' : 'm');
                redis::arg_buffer::append_integer(command.text(), i);
                command.end_arg();
            }
        }
    }
    const std::vector<std::string_view> args = command.views();
    auto r = co_await redis_.exec(std::span<const std::string_view>(args), timeout_);
    if (const error_code ec = transport_error(r, "summary")) {
        co_return ec;
    }
    const std::size_t fields = args.size() - 2;
    if (r->type != redis::reply::kind::array || r->elements.size() != fields) {
        co_return redis::make_error_code(redis::errc::unexpected_reply);
    }
    summary s;
    // No state: the type is unknown, or has been forgotten with all its data.
    if (r->elements[0].type != redis::reply::kind::string) {
        co_return s;
    }
    for (std::size_t i = 1; i < fields; ++i) {
        const redis::reply& e = r->elements[i];
        if (e.type != redis::reply::kind::string) {
            continue;  // no point in that bucket
        }
        const auto bucket = parse_rollup(e.str);
        if (!bucket) {
            log::error("metrics.corrupt_rollup", {{"type", type}, {"field", args[i + 2]}});
            continue;
        }
        merge(s, *bucket);
    }
    co_return s;
}

}  // namespace analytics::metrics
