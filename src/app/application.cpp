#include "app/application.hpp"

#include "api/admin_handlers.hpp"
#include "api/auth_throttle.hpp"
#include "app/redis_tls.hpp"
#include "api/breaker_handlers.hpp"
#include "api/docs_handlers.hpp"
#include "api/health_handlers.hpp"
#include "api/metrics_handlers.hpp"
#include "api/prometheus_handler.hpp"
#include "breaker/circuit_breaker.hpp"
#include "breaker/cluster_store.hpp"
#include "breaker/fleet_view.hpp"
#include "breaker/scoped_breaker.hpp"
#include "cache/client_tracking.hpp"
#include "cache/summary_cache.hpp"
#include "common/logging.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "metrics/metric_store.hpp"
#include "metrics/summary_service.hpp"
#include "metrics/v1_migration.hpp"
#include "ratelimit/local_backstop.hpp"
#include "ratelimit/middleware.hpp"
#include "ratelimit/outage_log.hpp"
#include "ratelimit/sliding_window_limiter.hpp"
#include "redis/client.hpp"
#include "redis/subscriber.hpp"
#include "redis/write_refusals.hpp"
#include "upstream/external_service.hpp"
#include "upstream/shared_settings.hpp"
#include "upstream/simulation_settings.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <unistd.h>

#include <csignal>
#include <stdexcept>
#include <thread>

#include "telemetry/process_metrics.hpp"
#include "telemetry/registry.hpp"

namespace analytics::app {

namespace {

// A trial that succeeds right at EXTERNAL_SERVICE_TIMEOUT may report a moment after it; the
// trial's own deadline (its lease, in cluster scope) leaves room for that.
std::chrono::milliseconds trial_timeout(const config::settings& s)
{
    return s.upstream.timeout + std::chrono::milliseconds(250);
}

// How often one worker per process reads the fleet's shared state from Redis: changes made by
// another instance reach this one within that time (one Redis call per period per process).
constexpr std::chrono::milliseconds breaker_poll{100};
constexpr std::chrono::milliseconds settings_poll{250};

}  // namespace

// The process-wide pieces: shared by every worker, each safe across threads.
struct application::shared_state {
    explicit shared_state(const config::settings& s)
        : gate(s.http.max_connections),
          clients(s.http.max_connections_per_client, s.ratelimit.ipv6_prefix,
                  s.http.trusted_proxies),
          bodies(s.http.max_buffered_body_bytes),
          server{s.http.max_connections, s.http.read_timeout, s.http.idle_timeout,
                 s.http.header_limit,    s.http.body_limit,   s.http.trusted_proxies,
                 s.ratelimit.ipv6_prefix},
          breaker(s.breaker, trial_timeout(s), common::system_clock()),
          fleet_breaker(common::system_clock()),
          instance_id(s.instance_id),
          simulation(s.upstream),
          backstop(s.ratelimit, common::system_clock()),
          outages(common::system_clock()),
          external(upstream::make_external_service(s.upstream, simulation)),
          redis_tls(make_redis_tls(s.redis))
    {
    }

    http::connection_gate gate;
    http::client_connections clients;
    http::body_budget bodies;
    http::server_options server;
    // In cluster scope, `breaker` decides only while Redis does not answer.
    breaker::circuit_breaker breaker;
    breaker::fleet_view fleet_breaker;
    // INSTANCE_ID, or <hostname>:<port> once the port is known (set by start()).
    std::string instance_id;
    upstream::simulation_settings simulation;
    ratelimit::local_backstop backstop;
    ratelimit::outage_log outages;
    // Settles for a second: while Redis refuses writes, reads still succeed, and each would
    // otherwise end the outage that the next write starts again.
    common::degraded_mode storage_down{"metrics.storage_unavailable", std::chrono::seconds(1)};
    common::degraded_mode upstream_failing{"upstream.call_failed"};
    common::degraded_mode serving_stale{"summary.serving_stale"};
    std::unique_ptr<upstream::external_service> external;
    redis::write_refusals refusals{common::system_clock()};
    api::auth_throttle admin_failures{common::system_clock()};
    net::io_context control{1};
    net::signal_set signals{control, SIGINT, SIGTERM};
    // Every Redis connection's TLS context (null without REDIS_TLS).
    std::shared_ptr<common::tls_context> redis_tls;
    // The service's own metrics (GET /metrics): each worker records into a shard of its own.
    telemetry::registry telemetry;
};

namespace {

// `tls`: every connection's TLS context (null without REDIS_TLS). `refusals`: told every
// command's outcome (the connections that carry the service's writes).
redis::client_options redis_options(const config::settings& s,
                                    std::shared_ptr<common::tls_context> tls,
                                    redis::write_refusals* refusals = nullptr)
{
    redis::client_options o;
    o.refusals = refusals;
    o.host = s.redis.host;
    o.port = s.redis.port;
    o.password = s.redis.password;
    o.username = s.redis.username;
    o.tls = std::move(tls);
    o.tls_server_name = s.redis.tls_server_name;
    o.db = s.redis.db;
    o.command_timeout = s.redis.timeout;
    for (const auto& n : s.redis.cluster_nodes) {
        o.cluster_nodes.push_back({n.host, n.port});
    }
    return o;
}

breaker::scoped_breaker make_breaker(const config::settings& s, breaker::circuit_breaker& local,
                                     breaker::fleet_view& view, breaker::cluster_store& store)
{
    if (s.breaker.scope == config::breaker_scope::cluster) {
        return breaker::scoped_breaker(local, view, store);
    }
    return breaker::scoped_breaker(local);
}

std::string host_name()
{
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') {
        return "localhost";
    }
    return buf;
}

}  // namespace

// Everything one thread owns. Members are declared in dependency order so they are built
// in that order and destroyed in reverse.
struct application::worker {
    worker(application& app, shared_state& shared)
        : stats(shared.telemetry.add_shard()),
          redis(ioc.get_executor(),
                tracked(redis_options(app.settings_, shared.redis_tls, &shared.refusals))),
          subscriber(ioc.get_executor(), redis_options(app.settings_, shared.redis_tls)),
          tracking(redis, subscriber, "summary:", app.settings_.redis.timeout),
          limiter(redis, app.settings_.ratelimit, app.settings_.redis.timeout, shared.backstop,
                  shared.outages, common::system_clock()),
          store(redis, app.settings_.metrics, app.settings_.redis.timeout, common::system_clock(),
                app.settings_.redis.wait_replicas),
          cache(redis, app.settings_.cache, app.settings_.redis.timeout),
          breaker_store(redis, app.settings_.breaker, trial_timeout(app.settings_),
                        app.settings_.redis.timeout),
          breaker(make_breaker(app.settings_, shared.breaker, shared.fleet_breaker, breaker_store)),
          settings_store(redis, shared.simulation, app.settings_.upstream,
                         app.settings_.redis.timeout),
          summaries(cache, tracking, store, breaker, *shared.external,
                    app.settings_.upstream.timeout,
                    {shared.storage_down, shared.upstream_failing, shared.serving_stale},
                    common::system_clock(), stats),
          // Ready only when every worker can reach Redis: a request may land on any of them.
          health([&app] { return app.redis_health(); }, app.shutting_down_, shared.refusals),
          metrics(store, summaries, shared.storage_down, common::system_clock(),
                  app.settings_.metrics.max_future, app.settings_.http.batch_body_limit, stats),
          breaker_api(breaker, shared.instance_id),
          admin_api(app.settings_.admin_token, settings_store, shared.admin_failures),
          prometheus(shared.telemetry),
          listener(ioc, shared.server, routes, shared.gate, shared.clients, shared.bodies, stats)
    {
        health.register_routes(routes);
        breaker_api.register_routes(routes);
        admin_api.register_routes(routes);
        docs.register_routes(routes);
        if (app.settings_.http.metrics_port == 0) {
            prometheus.register_routes(routes);
        }
        // Every request to the ingest routes counts, valid or not: the limiter decides before
        // the handler runs (a batch is one request).
        metrics.register_routes(routes, [this](http::handler h) {
            return ratelimit::limit(limiter, stats, std::move(h));
        });
    }

    // The main connection reports its reconnects to the cache's tracking, which must then be
    // turned on again, and counts its commands in the worker's shard.
    redis::client_options tracked(redis::client_options o)
    {
        o.stats = &stats;
        o.on_connection_change = [this](bool up) { tracking.connection_changed(up); };
        return o;
    }

    // This thread's share of the application's telemetry: only this worker's thread writes it.
    telemetry::shard& stats;
    net::io_context ioc{1};
    redis::client redis;
    // Pushed invalidations of cached summaries (server-assisted client-side caching).
    redis::subscriber subscriber;
    cache::client_tracking tracking;
    ratelimit::sliding_window_limiter limiter;
    metrics::metric_store store;
    cache::summary_cache cache;
    breaker::cluster_store breaker_store;
    breaker::scoped_breaker breaker;
    upstream::shared_settings settings_store;
    metrics::summary_service summaries;
    api::health_handlers health;
    api::metrics_handlers metrics;
    api::breaker_handlers breaker_api;
    api::admin_handlers admin_api;
    api::docs_handlers docs;
    api::prometheus_handler prometheus;
    http::router routes;
    http::listener listener;
    std::thread thread;
};

// GET /metrics on a port of its own (METRICS_PORT), served by the first worker's loop (and
// counted in its shard).
struct application::metrics_endpoint {
    metrics_endpoint(worker& first, shared_state& shared)
        : handler(shared.telemetry),
          listener(first.ioc, shared.server, routes, shared.gate, shared.clients, shared.bodies,
                   first.stats)
    {
        handler.register_routes(routes);
    }

    api::prometheus_handler handler;
    http::router routes;
    http::listener listener;
};

application::application(config::settings settings)
    : settings_(std::move(settings)),
      started_(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
                   .count()),
      shared_(std::make_unique<shared_state>(settings_))
{
    const unsigned threads = std::max(1U, settings_.http.threads);
    for (unsigned i = 0; i < threads; ++i) {
        workers_.push_back(std::make_unique<worker>(*this, *shared_));
    }
    if (settings_.http.metrics_port != 0) {
        metrics_endpoint_ = std::make_unique<metrics_endpoint>(*workers_.front(), *shared_);
    }
}

void application::register_telemetry()
{
    std::vector<std::string> names;
    for (const auto& r : workers_.front()->routes.routes()) {
        names.push_back(r.path);
    }
    auto& registry = shared_->telemetry;
    registry.set_routes(std::move(names));
    registry.add_source([this](std::string& out) {
        const auto s = workers_.front()->breaker.current().state;
        telemetry::write_header(out, "circuit_breaker_state", "gauge",
                                "Circuit breaker state: 0 closed, 1 open, 2 half-open.");
        telemetry::write_sample(out, "circuit_breaker_state", "",
                                s.current == breaker::state::closed ? 0
                                : s.current == breaker::state::open ? 1
                                                                    : 2);
        telemetry::write_header(out, "circuit_breaker_transitions_total", "counter",
                                "Circuit breaker state changes, by old and new state.");
        for (const auto from :
             {breaker::state::closed, breaker::state::open, breaker::state::half_open}) {
            for (const auto to :
                 {breaker::state::closed, breaker::state::open, breaker::state::half_open}) {
                const auto n = s.transitions_by_state[static_cast<std::size_t>(from)]
                                                     [static_cast<std::size_t>(to)];
                if (from != to) {
                    telemetry::write_sample(out, "circuit_breaker_transitions_total",
                                            "from=\"" + std::string(breaker::to_string(from)) +
                                                "\",to=\"" + std::string(breaker::to_string(to)) +
                                                "\"",
                                            static_cast<double>(n));
                }
            }
        }
        telemetry::write_header(out, "http_open_connections", "gauge",
                                "Client connections open right now.");
        telemetry::write_sample(out, "http_open_connections", "",
                                static_cast<double>(shared_->gate.open()));
        std::uint64_t connected = 0;
        std::uint64_t reconnects = 0;
        for (const auto& w : workers_) {
            connected += w->redis.connected() ? 1 : 0;
            const auto connects = w->redis.connects();
            reconnects += connects > 0 ? connects - 1 : 0;
        }
        telemetry::write_header(out, "redis_connected", "gauge",
                                "1 while every worker's Redis connection is up, else 0.");
        telemetry::write_sample(out, "redis_connected", "", connected == workers_.size() ? 1 : 0);
        telemetry::write_header(out, "redis_reconnects_total", "counter",
                                "Redis connections re-established after a loss.");
        telemetry::write_sample(out, "redis_reconnects_total", "", static_cast<double>(reconnects));
        telemetry::write_header(out, "redis_write_refusals_total", "counter",
                                "Redis error replies refusing a write (OOM, READONLY, MISCONF).");
        for (const auto kind :
             {redis::write_refusals::kind::oom, redis::write_refusals::kind::readonly,
              redis::write_refusals::kind::misconf}) {
            telemetry::write_sample(
                out, "redis_write_refusals_total",
                "kind=\"" + std::string(redis::write_refusals::name(kind)) + "\"",
                static_cast<double>(shared_->refusals.total(kind)));
        }
        telemetry::write_process_metrics(out, started_, ANALYTICS_VERSION);
    });
}

application::~application()
{
    for (auto& w : workers_) {
        if (w->thread.joinable()) {
            w->ioc.stop();
            w->thread.join();
        }
    }
}

namespace {

// APP_HOST as an address to bind: a literal as written, a name through the resolver (as
// REDIS_HOST is). A name may stand for several addresses; the first IPv4 one is taken, else
// the first, so that `localhost` binds 127.0.0.1 wherever it also resolves to ::1.
net::ip::address listen_address(net::io_context& ioc, const std::string& host)
{
    boost::system::error_code ec;
    const auto literal = net::ip::make_address(host, ec);
    if (!ec) {
        return literal;
    }
    net::ip::tcp::resolver resolver(ioc);
    // Without the default address_configured flag: on a host whose only interface is
    // loopback, getaddrinfo would otherwise find nothing for `localhost`.
    const auto results = resolver.resolve(host, "0", net::ip::resolver_base::numeric_service, ec);
    if (ec || results.empty()) {
        throw config::config_error("APP_HOST: cannot resolve \"" + host + "\"" +
                                   (ec ? ": " + ec.message() : std::string()));
    }
    for (const auto& entry : results) {
        if (entry.endpoint().address().is_v4()) {
            return entry.endpoint().address();
        }
    }
    return results.begin()->endpoint().address();
}

std::string describe_bind_error(const std::string& host, std::uint16_t port,
                                const boost::system::error_code& ec, std::string_view variable)
{
    std::string out = "cannot bind " + host + ":" + std::to_string(port) + ": " + ec.message();
    if (ec == net::error::address_in_use) {
        out += " (another process listens there; set " + std::string(variable) + " to a free port)";
    }
    return out;
}

// How long a starting worker holds its first connections back while its Redis connection is
// being made.
constexpr std::chrono::milliseconds redis_wait_at_start{2000};

// Starts `l` accepting once `redis` is connected, or after redis_wait_at_start. A load balancer
// sends a starting instance requests as soon as its port takes connections; answered before the
// connection to Redis is up (its TLS handshake, under load, can take a while), every write would
// be a 503. The port is bound already, so the connections that arrive meanwhile wait in its
// backlog. With Redis down the worker starts serving after the wait and answers as it does
// without Redis.
net::awaitable<void> accept_once_connected(http::listener& l, const redis::client& redis)
{
    net::steady_timer tick(co_await net::this_coro::executor);
    const auto give_up = std::chrono::steady_clock::now() + redis_wait_at_start;
    while (!redis.connected() && std::chrono::steady_clock::now() < give_up) {
        tick.expires_after(std::chrono::milliseconds(5));
        co_await tick.async_wait(common::use_nothrow);
    }
    l.start();
}

}  // namespace

void application::start()
{
    const auto address = listen_address(workers_.front()->ioc, settings_.http.host);
    std::uint16_t port = settings_.http.port;
    if (port != 0) {
        // The workers share the port with SO_REUSEPORT, which would also let a second copy of
        // the service join them unnoticed; a plain bind first makes that an error instead.
        net::ip::tcp::acceptor probe(workers_.front()->ioc);
        probe.open(address.is_v4() ? net::ip::tcp::v4() : net::ip::tcp::v6());
        probe.set_option(net::socket_base::reuse_address(true));
        boost::system::error_code ec;
        probe.bind({address, port}, ec);
        if (ec) {
            throw std::runtime_error(
                describe_bind_error(settings_.http.host, port, ec, "APP_PORT"));
        }
    }
    for (auto& w : workers_) {
        // The first worker may bind port 0; the others join the port it got.
        w->listener.open({address, port});
        port = w->listener.port();
    }
    port_ = port;
    if (shared_->instance_id.empty()) {
        shared_->instance_id = host_name() + ":" + std::to_string(port_);
    }
    if (metrics_endpoint_) {
        try {
            metrics_endpoint_->listener.open({address, settings_.http.metrics_port});
        } catch (const boost::system::system_error& e) {
            throw std::runtime_error(describe_bind_error(
                settings_.http.host, settings_.http.metrics_port, e.code(), "METRICS_PORT"));
        }
        metrics_endpoint_->listener.start();
    }
    register_telemetry();
    // One worker per process keeps the fleet's shared state (admin settings, and the breaker
    // in cluster scope) fresh; its first reads follow the connection to Redis.
    auto& first = *workers_.front();
    net::co_spawn(first.ioc, first.settings_store.watch(settings_poll), net::detached);
    net::co_spawn(first.ioc, first.breaker.watch(breaker_poll), net::detached);
    // On a Redis Cluster no one connection hears every change of a cached key, so summaries
    // are not copied in-process there: every hit is read from Redis.
    const bool on_cluster = !settings_.redis.cluster_nodes.empty();
    for (auto& w : workers_) {
        net::co_spawn(w->ioc, accept_once_connected(w->listener, w->redis), net::detached);
        net::co_spawn(w->ioc, w->redis.run(), net::detached);
        if (!on_cluster) {
            net::co_spawn(w->ioc, w->subscriber.run(), net::detached);
            net::co_spawn(w->ioc, w->tracking.run(), net::detached);
        }
    }
    // Metrics stored by earlier builds move to the current layout once Redis answers; until
    // then they are not listed (a log line says when they are).
    // (A cluster never held them: earlier builds could not run on one.)
    if (!on_cluster) {
        net::co_spawn(
            workers_.front()->ioc,
            metrics::migrate_v1(workers_.front()->redis, settings_.metrics,
                                settings_.redis.timeout),
            [](std::exception_ptr e, boost::system::result<metrics::v1_migration_report> r) {
                if (e || !r) {
                    log::warn("metrics.v1_migration_failed",
                              {{"error", e ? "exception" : r.error().message()}});
                }
            });
    }
    for (auto& w : workers_) {
        w->thread = std::thread([&ioc = w->ioc] { ioc.run(); });
    }
    log::write_always(log::level::info, "server.listening",
                      {{"host", settings_.http.host},
                       {"address", address.to_string()},
                       {"port", static_cast<unsigned>(port_)},
                       {"threads", static_cast<unsigned>(workers_.size())},
                       {"instance", shared_->instance_id}});
}

bool application::redis_connected() const
{
    for (const auto& w : workers_) {
        if (!w->redis.connected()) {
            return false;
        }
    }
    return !workers_.empty();
}

api::redis_health application::redis_health() const
{
    api::redis_health out;
    out.connected = !workers_.empty();
    out.serving = !workers_.empty();
    for (const auto& w : workers_) {
        out.connected = out.connected && w->redis.connected();
        out.serving = out.serving && w->redis.any_connected();
    }
    if (workers_.empty()) {
        return out;
    }
    out.cluster = workers_.front()->redis.is_cluster();
    // The first worker's map names the nodes; a node counts as connected only while every
    // worker that knows it as a master holds a live connection to it.
    out.nodes = workers_.front()->redis.nodes();
    for (std::size_t i = 1; i < workers_.size(); ++i) {
        for (const auto& other : workers_[i]->redis.nodes()) {
            for (auto& n : out.nodes) {
                if (n.address == other.address && other.role == redis::node_role::master) {
                    n.connected = n.connected && other.connected;
                }
            }
        }
    }
    return out;
}

std::vector<http::router::route_info> application::routes() const
{
    return workers_.front()->routes.routes();
}

std::uint16_t application::port() const
{
    return port_;
}

void application::shutdown()
{
    net::post(shared_->control, [this] { drain_and_stop(settings_.http.shutdown_drain); });
}

int application::run()
{
    shared_->signals.async_wait([this](const boost::system::error_code& ec, int sig) {
        if (!ec) {
            log::info("server.signal", {{"signal", sig}});
            // SIGTERM is how orchestrators stop a service: drain for the load balancer. SIGINT
            // is someone at a terminal: no drain period, requests in flight still finish.
            drain_and_stop(sig == SIGTERM ? settings_.http.shutdown_drain
                                          : std::chrono::seconds(0));
        }
    });
    shared_->control.run();
    for (auto& w : workers_) {
        if (w->thread.joinable()) {
            w->thread.join();
        }
    }
    log::write_always(log::level::info, "server.stopped");
    return 0;
}

void application::drain_and_stop(std::chrono::seconds drain)
{
    if (shutting_down_.exchange(true)) {
        return;
    }
    net::co_spawn(shared_->control, shutdown_sequence(drain), net::detached);
}

template <class Action>
void application::for_each_listener(Action action)
{
    for (auto& w : workers_) {
        net::post(w->ioc, [&w, action] { action(w->listener); });
    }
    if (metrics_endpoint_) {
        net::post(workers_.front()->ioc, [this, action] { action(metrics_endpoint_->listener); });
    }
}

net::awaitable<void> application::shutdown_sequence(std::chrono::seconds drain)
{
    log::info("server.draining",
              {{"open_connections", shared_->gate.open()}, {"drain_seconds", drain.count()}});
    // As Envoy drains: /ready answers 503 from now on, so load balancers stop sending; until
    // they have noticed, connections are still accepted and served, every answer says
    // `Connection: close`, and a connection waiting for a request is closed once it has waited
    // a moment (a keep-alive client sending at that very moment is served instead).
    const auto idle_grace =
        std::min<std::chrono::milliseconds>(drain, std::chrono::milliseconds(1000));
    for_each_listener([idle_grace](http::listener& l) { l.drain(idle_grace); });
    net::steady_timer tick(shared_->control);
    tick.expires_after(drain);
    co_await tick.async_wait(common::use_nothrow);
    // Then stop accepting, and let the requests in progress finish.
    for_each_listener([](http::listener& l) { l.stop_accepting(); });
    const auto give_up = std::chrono::steady_clock::now() + settings_.http.shutdown_timeout;
    while (shared_->gate.open() > 0 && std::chrono::steady_clock::now() < give_up) {
        tick.expires_after(std::chrono::milliseconds(10));
        co_await tick.async_wait(common::use_nothrow);
    }
    if (shared_->gate.open() > 0) {
        log::warn("server.shutdown_deadline", {{"open_connections", shared_->gate.open()}});
    }
    for (auto& w : workers_) {
        net::post(w->ioc, [this, &w] {
            w->listener.close_all();
            if (metrics_endpoint_ && &w == &workers_.front()) {
                metrics_endpoint_->listener.close_all();
            }
            // Checks and metrics still waiting for their batch fail now (nothing is
            // acknowledged), then the client fails the batches in flight.
            w->limiter.stop();
            w->store.stop();
            w->breaker.stop();
            w->settings_store.stop();
            w->tracking.stop();
            w->subscriber.stop();
            w->redis.stop();
        });
    }
    // Each worker's loop ends once its connections and Redis client are gone; a stuck
    // operation must not hold the process, so the loops are stopped for certain after a while.
    const auto hard_stop = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    auto all_done = [this] {
        for (auto& w : workers_) {
            if (!w->ioc.stopped()) {
                return false;
            }
        }
        return true;
    };
    while (!all_done() && std::chrono::steady_clock::now() < hard_stop) {
        tick.expires_after(std::chrono::milliseconds(10));
        co_await tick.async_wait(common::use_nothrow);
    }
    for (auto& w : workers_) {
        w->ioc.stop();
    }
    shared_->signals.cancel();
}

}  // namespace analytics::app
