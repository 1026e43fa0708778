#include "redis/client.hpp"

#include "common/logging.hpp"
#include "redis/command_batch.hpp"
#include "redis/connection.hpp"
#include "redis/redirect.hpp"
#include "redis/script_registry.hpp"
#include "redis/slot.hpp"
#include "redis/write_refusals.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/assert.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cstddef>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "telemetry/registry.hpp"

namespace analytics::redis {

namespace {

using boost::system::error_code;
using steady_clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// MOVED and ASK replies one call follows before giving up. A resharding moves a slot once;
// more than a few hops in a row means the nodes disagree, and the next map read settles it.
constexpr int max_redirects = 5;

// TRYAGAIN: the first wait and the cap of the doubling waits. A slot's keys are migrated in
// batches within milliseconds; the cap keeps a longer migration from being polled hard.
constexpr std::chrono::milliseconds first_try_again_delay{2};
constexpr std::chrono::milliseconds max_try_again_delay{50};

constexpr std::uint16_t no_owner = 0xffff;

// One call's outcome in redis_commands_total and the command latency histogram.
void record(telemetry::shard& stats, error_code e, const reply_list& replies,
            steady_clock::duration took)
{
    telemetry::counter c = telemetry::counter::redis_ok;
    if (!e &&
        std::any_of(replies.begin(), replies.end(), [](const reply& x) { return x.is_error(); })) {
        c = telemetry::counter::redis_error_reply;
    } else if (e) {
        c = e == errc::timeout           ? telemetry::counter::redis_timeout
            : e == errc::not_connected   ? telemetry::counter::redis_not_connected
            : e == errc::connection_lost ? telemetry::counter::redis_connection_lost
                                         : telemetry::counter::redis_other_error;
    }
    stats.add(c);
    stats.observe(telemetry::histogram::redis_command,
                  std::chrono::duration_cast<std::chrono::nanoseconds>(took));
}

net::awaitable<result<reply>> ready(result<reply> r)
{
    co_return r;
}

}  // namespace

// A Redis server the client knows: the single server, or a cluster node from the slot map (or
// from a MOVED/ASK reply not yet confirmed by the map).
struct cluster_member {
    std::string host;
    std::uint16_t port = 0;
    std::string address;  // host:port, the key of client::impl::nodes_
    node_role role = node_role::master;
    std::string health;
    std::size_t slots = 0;
    std::shared_ptr<connection> shared;  // masters; opened when the node is first seen as one
    std::shared_ptr<connection> write;   // opened by the first pipeline(..., channel::write)
};

struct client::impl {
    impl(const net::any_io_executor& executor, const client_options& options)
        : options_(options),
          executor_(executor),
          cluster_(!options.cluster_nodes.empty()),
          refresh_timer_(executor),
          all_ended_(executor)
    {
        if (cluster_) {
            slot_owner_.assign(slot_count, no_owner);
        } else {
            single_ = make_member(options_.host, options_.port);
            single_->slots = slot_count;
            single_->shared = make_connection(*single_, true);
        }
    }

    // ---- lifetime ---------------------------------------------------------------------------

    net::awaitable<void> run()
    {
        if (stopped_) {
            co_return;
        }
        running_ = true;
        if (cluster_) {
            co_await maintain_slot_map();
        } else {
            launch(single_->shared);
        }
        // Every connection's run() has ended only after stop().
        while (live_runs_ > 0) {
            all_ended_.expires_at(steady_clock::time_point::max());
            co_await all_ended_.async_wait(common::use_nothrow);
        }
        running_ = false;
        if (run_failure_) {
            std::rethrow_exception(run_failure_);
        }
    }

    void stop()
    {
        if (stopped_) {
            return;
        }
        stopped_ = true;
        refresh_timer_.cancel();
        if (probe_) {
            probe_->stop();
        }
        for_each_connection([](connection& c) { c.stop(); });
        recompute();
    }

    template <class F>
    void for_each_connection(F f)
    {
        auto visit = [&](cluster_member& m) {
            if (m.shared) {
                f(*m.shared);
            }
            if (m.write) {
                f(*m.write);
            }
        };
        if (single_) {
            visit(*single_);
        }
        for (auto& [address, m] : nodes_) {
            visit(*m);
        }
    }

    std::shared_ptr<cluster_member> make_member(const std::string& host, std::uint16_t port)
    {
        auto m = std::make_shared<cluster_member>();
        m->host = host;
        m->port = port;
        m->address = cluster_node{{}, host, port, {}, {}}.address();
        return m;
    }

    // `main`: the single server's shared connection, whose changes on_connection_change hears.
    std::shared_ptr<connection> make_connection(const cluster_member& m, bool main = false)
    {
        client_options o = options_;
        o.host = m.host;
        o.port = m.port;
        o.cluster_nodes.clear();
        o.on_connection_change = nullptr;
        if (cluster_) {
            o.db = 0;
        }
        return std::make_shared<connection>(
            executor_, std::move(o), scripts_, [this, address = m.address, main](bool up) {
                on_state_change(address, up);
                if (main && !stopped_ && options_.on_connection_change) {
                    options_.on_connection_change(up);
                }
            });
    }

    // Spawns a connection's run(); run() of the client waits for all of them to end.
    void launch(const std::shared_ptr<connection>& c)
    {
        ++live_runs_;
        net::co_spawn(executor_, c->run(), [this, c](std::exception_ptr e) {
            if (e && !run_failure_) {
                run_failure_ = e;
            }
            if (--live_runs_ == 0) {
                all_ended_.cancel();
            }
        });
    }

    // The connection of `m` for `ch`, opening the write connection on first use; null when the
    // client is not running.
    std::shared_ptr<connection> connection_for(cluster_member& m, channel ch)
    {
        if (ch == channel::shared) {
            return m.shared;
        }
        if (!m.write && running_ && !stopped_) {
            m.write = make_connection(m);
            launch(m.write);
        }
        return m.write;
    }

    void on_state_change(const std::string& address, bool up)
    {
        if (up) {
            connects_.fetch_add(1, std::memory_order_relaxed);
        }
        recompute();
        if (up || !cluster_ || stopped_) {
            return;
        }
        // A master may be gone: look at the map again soon, to find its replacement. (Not for
        // a seed asked for the map, nor a node that left the map.)
        const auto it = nodes_.find(address);
        if (it != nodes_.end() && it->second->slots > 0) {
            request_refresh();
        }
    }

    // ---- health -----------------------------------------------------------------------------

    // Recomputes what connected(), any_connected() and nodes() report.
    void recompute()
    {
        if (!cluster_) {
            return;
        }
        bool all = map_known_ && !stopped_;
        bool any = false;
        bool serving = false;
        for (const auto& m : owners_) {
            if (m->slots == 0) {
                continue;
            }
            serving = true;
            const bool up = m->shared && m->shared->connected() && !stopped_;
            any = any || up;
            all = all && up;
        }
        all = all && serving;
        const bool was = all_connected_.exchange(all, std::memory_order_relaxed);
        any_connected_.store(any, std::memory_order_relaxed);
        if (was && !all) {
            refresh_timer_.cancel();  // the map loop switches to its short interval
        }

        std::vector<node_state> states;
        states.reserve(nodes_.size());
        for (const auto& [address, m] : nodes_) {
            states.push_back({m->address, m->role, m->slots,
                              m->role == node_role::master && m->shared && m->shared->connected(),
                              m->health});
        }
        std::stable_sort(states.begin(), states.end(),
                         [](const node_state& a, const node_state& b) {
                             return a.role == node_role::master && b.role != node_role::master;
                         });
        const std::lock_guard lock(snapshot_mutex_);
        snapshot_ = std::move(states);
    }

    std::vector<node_state> nodes() const
    {
        if (!cluster_) {
            return {{single_->address, node_role::master, slot_count, single_->shared->connected(),
                     ""}};
        }
        const std::lock_guard lock(snapshot_mutex_);
        return snapshot_;
    }

    bool slot_servable(std::uint16_t slot) const noexcept
    {
        if (!cluster_) {
            return single_->shared->connected();
        }
        const auto owner = slot < slot_owner_.size() ? slot_owner_[slot] : no_owner;
        return owner != no_owner && owners_[owner]->shared && owners_[owner]->shared->connected();
    }

    // ---- routing ----------------------------------------------------------------------------

    // The master of `slot`, or for a command without a key a connected master (the first in
    // map order, so keyless commands of one worker go to one node while it is up).
    std::shared_ptr<cluster_member> route(std::optional<std::uint16_t> slot) const
    {
        if (!cluster_) {
            return single_;
        }
        if (slot) {
            const auto owner = slot_owner_[*slot];
            return owner == no_owner ? nullptr : owners_[owner];
        }
        std::shared_ptr<cluster_member> fallback;
        for (const auto& m : owners_) {
            if (m->slots == 0 || !m->shared) {
                continue;
            }
            if (m->shared->connected()) {
                return m;
            }
            if (!fallback) {
                fallback = m;
            }
        }
        return fallback;
    }

    // The node at host:port, added (with a connection) when the map does not know it yet.
    std::shared_ptr<cluster_member> member_at(const std::string& host, std::uint16_t port)
    {
        const std::string address = cluster_node{{}, host, port, {}, {}}.address();
        if (auto it = nodes_.find(address); it != nodes_.end()) {
            auto& m = it->second;
            if (!m->shared && running_ && !stopped_) {
                m->shared = make_connection(*m);
                launch(m->shared);
            }
            return m;
        }
        auto m = make_member(host, port);
        if (running_ && !stopped_) {
            m->shared = make_connection(*m);
            launch(m->shared);
        }
        nodes_.emplace(address, m);
        return m;
    }

    // MOVED: the slot is served by `to` from now on.
    void follow_moved(std::uint16_t slot, const std::shared_ptr<cluster_member>& to)
    {
        to->role = node_role::master;
        auto it = std::find(owners_.begin(), owners_.end(), to);
        if (it == owners_.end()) {
            owners_.push_back(to);
            it = owners_.end() - 1;
        }
        const auto index = static_cast<std::uint16_t>(it - owners_.begin());
        const auto previous = slot_owner_[slot];
        if (previous != index) {
            if (previous != no_owner && owners_[previous]->slots > 0) {
                --owners_[previous]->slots;
            }
            ++to->slots;
            slot_owner_[slot] = index;
        }
        request_refresh();
        recompute();
    }

    // ---- commands ---------------------------------------------------------------------------

    // Sends `batch` to the node that serves `slot` (any master when nullopt) and follows the
    // cluster's refusals within the deadline; see the header for the rules. The replies of the
    // last attempt land in `out`, owned by the caller's frame. `eval_script` is the script of
    // an eval() call, whose NOSCRIPT is answered with EVAL. The call is counted in the Redis
    // telemetry once, whatever it took.
    net::awaitable<error_code> follow_refusals(command_batch& batch,
                                               std::optional<std::uint16_t> slot,
                                               steady_clock::time_point deadline, channel ch,
                                               const script* eval_script, reply_list& out)
    {
        const auto started = steady_clock::now();
        auto finish = [&](error_code e) {
            if (options_.stats != nullptr) {
                record(*options_.stats, e, out, steady_clock::now() - started);
            }
            if (options_.refusals != nullptr && !e) {
                options_.refusals->observe(out);
            }
            return e;
        };
        std::shared_ptr<cluster_member> asked;  // the node an ASK sent us to
        bool noscript_repaired = false;
        bool reload_scripts = false;
        int redirects = 0;
        auto try_again_delay = first_try_again_delay;
        for (;;) {
            if (stopped_) {
                co_return finish(errc::stopped);
            }
            const auto target = asked ? asked : route(slot);
            if (!target) {
                request_refresh();
                co_return finish(errc::not_connected);
            }
            const auto conn = connection_for(*target, ch);
            if (!conn) {
                co_return finish(errc::not_connected);
            }
            // A node first seen a moment ago (a MOVED to a promoted replica, the write
            // connection's first use) is worth waiting for; one that is down is not.
            if (!conn->connected() && conn->first_attempt_pending()) {
                co_await conn->wait_connected(deadline);
            }

            error_code ec;
            if (!asked && !reload_scripts) {
                ec = co_await conn->request(batch, deadline, out);
            } else {
                ec = co_await request_decorated(*conn, batch, asked != nullptr, reload_scripts,
                                                deadline, out);
                reload_scripts = false;
            }
            if (ec) {
                if (cluster_ && (ec == errc::not_connected || ec == errc::connection_lost)) {
                    request_refresh();
                }
                co_return finish(ec);
            }
            // Most replies are no refusal at all; judging needs a look at every command.
            if (batch.size() == 1 && !out[0].is_error()) {
                co_return finish({});
            }
            const auto verdict = judge_replies(batch, out);
            const bool follow = cluster_ || verdict.kind == error_class::noscript;
            if (verdict.kind == error_class::other || !follow) {
                co_return finish({});
            }
            switch (verdict.kind) {
            case error_class::moved: {
                ++stats_.moved;
                auto host = verdict.target->host.empty() ? target->host : verdict.target->host;
                follow_moved(verdict.target->slot, member_at(host, verdict.target->port));
                asked = nullptr;
                if (++redirects > max_redirects) {
                    co_return finish(errc::too_many_redirects);
                }
                break;
            }
            case error_class::ask: {
                ++stats_.ask;
                auto host = verdict.target->host.empty() ? target->host : verdict.target->host;
                asked = member_at(host, verdict.target->port);
                if (++redirects > max_redirects) {
                    co_return finish(errc::too_many_redirects);
                }
                break;
            }
            case error_class::try_again: {
                ++stats_.try_again;
                asked = nullptr;
                if (steady_clock::now() + try_again_delay >= deadline) {
                    co_return finish(errc::try_again);
                }
                net::steady_timer pause(executor_, try_again_delay);
                co_await pause.async_wait(common::use_nothrow);
                try_again_delay = std::min(try_again_delay * 2, max_try_again_delay);
                break;
            }
            case error_class::cluster_down:
                request_refresh();
                co_return finish(errc::cluster_down);
            case error_class::noscript:
                if (noscript_repaired) {
                    co_return finish({});
                }
                noscript_repaired = true;
                ++stats_.noscript;
                if (eval_script != nullptr) {
                    // EVAL sends the source and caches it, so later calls are EVALSHA hits.
                    batch.set(0, 0, "EVAL");
                    batch.set(0, 1, eval_script->source());
                } else if (scripts_.entries().empty()) {
                    co_return finish({});
                } else {
                    reload_scripts = true;
                }
                break;
            case error_class::other:
                co_return finish({});
            }
        }
    }

    // Sends `batch` with the scripts loaded in front (reload) and ASKING before each command
    // outside MULTI (ask; inside MULTI the flag set before MULTI lasts until EXEC), and returns
    // the replies of the batch's own commands.
    net::awaitable<error_code> request_decorated(connection& conn, const command_batch& batch,
                                                 bool ask, bool reload,
                                                 steady_clock::time_point deadline, reply_list& out)
    {
        command_batch sent;
        boost::container::small_vector<std::size_t, 4> own;  // where batch's commands are
        if (reload) {
            for (const auto& s : scripts_.entries()) {
                sent.add({"SCRIPT", "LOAD", s.source});
            }
        }
        bool in_multi = false;
        for (std::size_t i = 0; i < batch.size(); ++i) {
            const auto command = batch.command(i);
            const std::string_view name = command.empty() ? std::string_view{} : command[0];
            if (ask && !in_multi) {
                sent.add({"ASKING"});
            }
            own.push_back(sent.size());
            sent.add(command);
            if (is_command(name, "MULTI")) {
                in_multi = true;
            } else if (is_command(name, "EXEC") || is_command(name, "DISCARD")) {
                in_multi = false;
            }
        }
        reply_list all;
        const auto ec = co_await conn.request(sent, deadline, all);
        out.clear();
        if (ec) {
            co_return ec;
        }
        for (const std::size_t i : own) {
            out.push_back(std::move(all[i]));
        }
        co_return error_code{};
    }

    net::awaitable<result<reply>> exec_one(command_batch batch, std::optional<std::uint16_t> slot,
                                           steady_clock::time_point deadline)
    {
        reply_list replies;
        const auto ec =
            co_await follow_refusals(batch, slot, deadline, channel::shared, nullptr, replies);
        if (ec) {
            co_return ec;
        }
        co_return std::move(replies.front());
    }

    // EVALSHA first; the batch is "EVALSHA", sha1, (numkeys), keys..., args..., and numkeys is
    // written here so that its digits live in this frame.
    net::awaitable<result<reply>> eval(const script& s, command_batch batch, std::size_t numkeys,
                                       std::optional<std::uint16_t> slot,
                                       steady_clock::time_point deadline)
    {
        std::array<char, 24> digits{};
        const auto written = std::to_chars(digits.data(), digits.data() + digits.size(), numkeys);
        batch.set(
            0, 2,
            std::string_view(digits.data(), static_cast<std::size_t>(written.ptr - digits.data())));
        reply_list replies;
        const auto ec =
            co_await follow_refusals(batch, slot, deadline, channel::shared, &s, replies);
        if (ec) {
            co_return ec;
        }
        co_return std::move(replies.front());
    }

    net::awaitable<result<std::vector<reply>>> pipeline(command_batch batch,
                                                        std::optional<std::uint16_t> slot,
                                                        steady_clock::time_point deadline,
                                                        channel ch)
    {
        reply_list replies;
        const auto ec = co_await follow_refusals(batch, slot, deadline, ch, nullptr, replies);
        if (ec) {
            co_return ec;
        }
        co_return std::vector<reply>(std::make_move_iterator(replies.begin()),
                                     std::make_move_iterator(replies.end()));
    }

    void register_script(const script& s)
    {
        if (!scripts_.add(s)) {
            return;
        }
        // Connections that are up (or setting up) load it now, ahead of any command that may
        // use it on them; the next connections load it in their handshake.
        const std::array<std::string_view, 3> load{"SCRIPT", "LOAD", s.source()};
        for_each_connection([&](connection& c) { c.send_and_forget(load); });
    }

    // ---- the slot map -----------------------------------------------------------------------

    void request_refresh()
    {
        if (!cluster_ || refresh_requested_) {
            return;
        }
        refresh_requested_ = true;
        refresh_timer_.cancel();
    }

    // Reads the slot map at start, every cluster_refresh_interval, and after a refresh was
    // requested or while a master is unreachable every cluster_min_refresh_interval, until
    // stop().
    net::awaitable<void> maintain_slot_map()
    {
        while (!stopped_) {
            const auto now = steady_clock::now();
            const bool soon = refresh_requested_ || !all_connected_.load(std::memory_order_relaxed);
            const auto due = last_refresh_ + (soon ? options_.cluster_min_refresh_interval
                                                   : options_.cluster_refresh_interval);
            // Without a map yet, connected() is false too: retries come at the short interval.
            if (now < due) {
                refresh_timer_.expires_at(due);
                co_await refresh_timer_.async_wait(common::use_nothrow);
                continue;
            }
            refresh_requested_ = false;
            last_refresh_ = now;
            co_await refresh();
        }
    }

    // Asks a connected node for the map, and failing that each seed in turn.
    net::awaitable<void> refresh()
    {
        const auto deadline =
            steady_clock::now() + std::max(options_.command_timeout, options_.connect_timeout);
        std::vector<std::shared_ptr<connection>> sources;
        if (const auto first = route(std::nullopt); first && first->shared) {
            sources.push_back(first->shared);
        }
        for (const auto& [address, m] : nodes_) {
            if (m->shared && m->shared->connected() &&
                std::find(sources.begin(), sources.end(), m->shared) == sources.end()) {
                sources.push_back(m->shared);
            }
        }
        std::string last_error = "no node reachable";
        for (const auto& source : sources) {
            if (!source->connected()) {
                continue;
            }
            if (co_await read_map(*source, deadline, last_error) || stopped_) {
                co_return;
            }
        }
        for (const auto& seed : options_.cluster_nodes) {
            if (stopped_) {
                co_return;
            }
            const auto m = make_member(seed.host, seed.port);
            probe_ = make_connection(*m);
            launch(probe_);
            co_await probe_->wait_connected(steady_clock::now() + options_.connect_timeout);
            const bool ok = co_await read_map(*probe_, deadline, last_error);
            probe_->stop();
            probe_.reset();
            if (ok || stopped_) {
                co_return;
            }
        }
        log::write(map_failure_logged_ ? log::level::debug : log::level::warning,
                   "redis.cluster_map_failed", {{"error", last_error}});
        map_failure_logged_ = true;
    }

    // CLUSTER SHARDS (or CLUSTER SLOTS where SHARDS is unknown) on one connection; applies
    // the map and returns true when it could be read.
    net::awaitable<bool> read_map(connection& source, steady_clock::time_point deadline,
                                  std::string& error)
    {
        for (;;) {
            command_batch query;
            query.add({"CLUSTER", shards_unknown_ ? "SLOTS" : "SHARDS"});
            reply_list replies;
            const auto ec = co_await source.request(query, deadline, replies);
            if (stopped_) {
                co_return false;
            }
            if (ec) {
                error = ec.message();
                co_return false;
            }
            const reply& answer = replies.front();
            if (answer.is_error()) {
                // Redis before 7.0 does not know SHARDS: "ERR unknown subcommand 'SHARDS'".
                if (!shards_unknown_ && answer.str.find("nknown") != std::string::npos) {
                    shards_unknown_ = true;
                    continue;
                }
                error = answer.str;
                co_return false;
            }
            const auto& host = source.options().host;
            // CLUSTER SLOTS and redirections already give the port of the caller's kind of
            // connection; CLUSTER SHARDS gives both.
            const bool tls = source.options().tls != nullptr;
            auto topology = shards_unknown_ ? parse_cluster_slots(answer, host)
                                            : parse_cluster_shards(answer, host, tls);
            if (!topology || topology->ranges.empty()) {
                error = topology ? "the node serves no slots" : topology.error().message();
                co_return false;
            }
            apply(*topology);
            co_return true;
        }
    }

    void apply(const cluster_topology& topology)
    {
        std::map<std::string, std::shared_ptr<cluster_member>> next;
        std::vector<std::shared_ptr<cluster_member>> by_index;
        by_index.reserve(topology.nodes.size());
        for (const auto& info : topology.nodes) {
            const std::string address = info.address();
            auto it = nodes_.find(address);
            auto m = it != nodes_.end() ? it->second : make_member(info.host, info.port);
            m->role = info.role;
            m->health = info.health;
            m->slots = 0;
            next.emplace(address, m);
            by_index.push_back(std::move(m));
        }
        for (const auto& range : topology.ranges) {
            by_index[range.master]->slots += std::size_t{range.last} - range.first + 1;
        }

        owners_.clear();
        std::fill(slot_owner_.begin(), slot_owner_.end(), no_owner);
        std::vector<std::string> described;  // sorted: each node lists the shards in its order
        for (const auto& m : by_index) {
            if (m->role == node_role::master && m->slots > 0) {
                if (!m->shared && running_ && !stopped_) {
                    m->shared = make_connection(*m);
                    launch(m->shared);
                }
                owners_.push_back(m);
            }
            described.push_back(
                m->address + (m->role == node_role::master ? " master " : " replica ") +
                std::to_string(m->slots) + (m->health.empty() ? "" : " " + m->health));
        }
        std::sort(described.begin(), described.end());
        std::string summary;
        for (const auto& d : described) {
            summary += summary.empty() ? "" : ",";
            summary += d;
        }
        for (const auto& range : topology.ranges) {
            const auto it = std::find(owners_.begin(), owners_.end(), by_index[range.master]);
            const auto index = static_cast<std::uint16_t>(it - owners_.begin());
            std::fill(slot_owner_.begin() + range.first, slot_owner_.begin() + range.last + 1,
                      index);
        }

        std::vector<std::shared_ptr<cluster_member>> retired;
        for (auto& [address, m] : nodes_) {
            if (!next.contains(address)) {
                retired.push_back(m);
            }
        }
        nodes_ = std::move(next);
        map_known_ = true;
        map_failure_logged_ = false;
        ++stats_.map_updates;
        // Commands in flight on a node that left the map may have run: connection_lost.
        for (const auto& m : retired) {
            for (const auto& c : {m->shared, m->write}) {
                if (c) {
                    c->stop(errc::connection_lost);
                }
            }
        }
        if (summary != map_summary_) {
            log::info("redis.cluster_map", {{"nodes", summary}, {"masters", owners_.size()}});
            map_summary_ = std::move(summary);
        }
        recompute();
    }

    // ---- state ------------------------------------------------------------------------------

    const client_options& options_;
    net::any_io_executor executor_;
    const bool cluster_;
    script_registry scripts_;

    std::shared_ptr<cluster_member> single_;                        // single-node mode
    std::map<std::string, std::shared_ptr<cluster_member>> nodes_;  // cluster, by address
    std::vector<std::shared_ptr<cluster_member>> owners_;           // masters that serve slots
    std::vector<std::uint16_t> slot_owner_;  // slot -> index into owners_, or no_owner
    std::shared_ptr<connection> probe_;      // a seed being asked for the map

    net::steady_timer refresh_timer_;  // the map loop's sleep; cancelled to wake it
    steady_clock::time_point last_refresh_{};
    bool refresh_requested_ = false;
    bool map_known_ = false;
    bool map_failure_logged_ = false;
    bool shards_unknown_ = false;  // the server predates CLUSTER SHARDS
    std::string map_summary_;      // the last map logged

    net::steady_timer all_ended_;  // cancelled when the last connection's run() ends
    std::size_t live_runs_ = 0;
    std::exception_ptr run_failure_;
    bool running_ = false;
    bool stopped_ = false;

    std::atomic<bool> all_connected_{false};
    std::atomic<bool> any_connected_{false};
    std::atomic<std::uint64_t> connects_{0};
    client_stats stats_;
    mutable std::mutex snapshot_mutex_;
    std::vector<node_state> snapshot_;
};

client::client(net::any_io_executor executor, client_options options)
    : options_(std::move(options)), impl_(std::make_unique<impl>(executor, options_))
{
}

client::~client() = default;

net::awaitable<void> client::run()
{
    return impl_->run();
}

void client::stop()
{
    impl_->stop();
}

bool client::connected() const noexcept
{
    return impl_->cluster_ ? impl_->all_connected_.load(std::memory_order_relaxed)
                           : impl_->single_->shared->connected();
}

bool client::any_connected() const noexcept
{
    return impl_->cluster_ ? impl_->any_connected_.load(std::memory_order_relaxed)
                           : impl_->single_->shared->connected();
}

bool client::is_cluster() const noexcept
{
    return impl_->cluster_;
}

std::vector<node_state> client::nodes() const
{
    return impl_->nodes();
}

bool client::slot_servable(std::uint16_t slot) const noexcept
{
    return impl_->slot_servable(slot);
}

net::any_io_executor client::get_executor() const noexcept
{
    return impl_->executor_;
}

std::uint64_t client::connects() const noexcept
{
    return impl_->connects_.load(std::memory_order_relaxed);
}

client_stats client::stats() const noexcept
{
    return impl_->stats_;
}

net::awaitable<result<reply>> client::exec(std::span<const std::string_view> args,
                                           std::chrono::milliseconds timeout)
{
    std::optional<std::uint16_t> slot;
    if (impl_->cluster_) {
        if (const auto key = first_key(args)) {
            slot = key_slot(*key);
        }
    }
    return impl_->exec_one(command_batch(args), slot, steady_clock::now() + timeout);
}

net::awaitable<result<reply>> client::exec(std::span<const std::string_view> args)
{
    return exec(args, options_.command_timeout);
}

net::awaitable<result<reply>> client::exec(std::initializer_list<std::string_view> args)
{
    return exec(std::span<const std::string_view>(args.begin(), args.size()),
                options_.command_timeout);
}

net::awaitable<result<reply>> client::exec(std::initializer_list<std::string_view> args,
                                           std::chrono::milliseconds timeout)
{
    return exec(std::span<const std::string_view>(args.begin(), args.size()), timeout);
}

net::awaitable<result<reply>> client::exec_on(std::string_view routing_key,
                                              std::span<const std::string_view> args,
                                              std::chrono::milliseconds timeout)
{
    std::optional<std::uint16_t> slot;
    if (impl_->cluster_) {
        slot = key_slot(routing_key);
    }
    return impl_->exec_one(command_batch(args), slot, steady_clock::now() + timeout);
}

net::awaitable<result<reply>> client::eval(const script& s, std::span<const std::string_view> keys,
                                           std::span<const std::string_view> args,
                                           std::chrono::milliseconds timeout)
{
    std::optional<std::uint16_t> slot;
    if (impl_->cluster_) {
        // One script runs on one node: its keys must live there, whatever the slot map.
        const bool one_slot = same_slot(keys);
        BOOST_ASSERT_MSG(one_slot, "the keys of one eval must share a cluster slot");
        if (!one_slot) {
            return ready(errc::cross_slot);
        }
        if (!keys.empty()) {
            slot = key_slot(keys.front());
        }
    }
    impl_->register_script(s);
    command_batch batch;
    batch.reserve(1, 3 + keys.size() + args.size());
    batch.push_arg("EVALSHA");
    batch.push_arg(s.sha1());
    batch.push_arg({});  // numkeys, filled in by impl::eval
    for (const auto k : keys) {
        batch.push_arg(k);
    }
    for (const auto a : args) {
        batch.push_arg(a);
    }
    batch.end_command();
    return impl_->eval(s, std::move(batch), keys.size(), slot, steady_clock::now() + timeout);
}

net::awaitable<result<reply>> client::eval(const script& s,
                                           std::initializer_list<std::string_view> keys,
                                           std::initializer_list<std::string_view> args,
                                           std::chrono::milliseconds timeout)
{
    return eval(s, std::span<const std::string_view>(keys.begin(), keys.size()),
                std::span<const std::string_view>(args.begin(), args.size()), timeout);
}

net::awaitable<result<std::vector<reply>>> client::pipeline(
    std::string_view routing_key, std::span<const std::span<const std::string_view>> commands,
    std::chrono::milliseconds timeout, channel ch)
{
    command_batch batch;
    for (const auto& c : commands) {
        batch.add(c);
    }
    std::optional<std::uint16_t> slot;
    if (impl_->cluster_) {
        slot = key_slot(routing_key);
    }
    return impl_->pipeline(std::move(batch), slot, steady_clock::now() + timeout, ch);
}

net::awaitable<result<std::vector<reply>>> client::pipeline(
    std::string_view routing_key, std::initializer_list<std::span<const std::string_view>> commands,
    std::chrono::milliseconds timeout, channel ch)
{
    return pipeline(
        routing_key,
        std::span<const std::span<const std::string_view>>(commands.begin(), commands.size()),
        timeout, ch);
}

void client::register_script(const script& s)
{
    impl_->register_script(s);
}

}  // namespace analytics::redis
