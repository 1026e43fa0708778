// Does a summary's cost grow with the number of stored metrics? Stores 10 points of one type,
// 10,000 of a second and N (default 1,000,000) of a third through the real ingest script,
// spread over the last day, then times metric_store::summarize for each, per period. A daily or
// hourly summary reads at most 142 rollup buckets; 10 points fill only a few of them, 10,000
// fill them all, so "10k" is the fair baseline for the bucket-bound periods.
//
//     summary_scale PORT [N]     (a private redis-server on 127.0.0.1:PORT; it is flushed)

#include "common/clock.hpp"
#include "config/settings.hpp"
#include "metrics/metric_store.hpp"
#include "redis/client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

using namespace analytics;
using steady = std::chrono::steady_clock;

namespace {

net::awaitable<void> wait_connected(redis::client& c)
{
    net::steady_timer t(co_await net::this_coro::executor);
    while (!c.connected()) {
        t.expires_after(std::chrono::milliseconds(10));
        co_await t.async_wait(common::use_nothrow);
    }
}

// Stores `count` points of `type` with timestamps spread over the last 24 hours, keeping
// `depth` script calls in flight (pipelined).
net::awaitable<long> load(metrics::metric_store& store, std::string type, long count, int depth)
{
    const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    long next = 0;
    long failed = 0;
    auto worker = [&]() -> net::awaitable<void> {
        std::mt19937_64 rng(static_cast<unsigned long>(next) + 17);
        while (next < count) {
            const long i = next++;
            metrics::metric m;
            m.type = type;
            m.value = static_cast<double>(rng() % 10000) / 100.0;
            m.timestamp.micros = now_us - static_cast<std::int64_t>(rng() % 86'000'000'000ULL);
            if (!co_await store.add(m)) {
                ++failed;
            }
            if (i % 100000 == 0 && i > 0) {
                std::fprintf(stderr, "  %ld points stored\n", i);
            }
        }
    };
    auto ex = co_await net::this_coro::executor;
    int running = depth;
    net::steady_timer done(ex, steady::time_point::max());
    for (int w = 0; w < depth; ++w) {
        net::co_spawn(ex, worker(), [&](std::exception_ptr) {
            if (--running == 0) {
                done.cancel();
            }
        });
    }
    co_await done.async_wait(common::use_nothrow);
    co_return failed;
}

// Median and 99th percentile of `rounds` summarize() calls, in microseconds.
net::awaitable<std::pair<double, double>> time_summaries(metrics::metric_store& store,
                                                         std::string type, metrics::period p,
                                                         int rounds)
{
    std::vector<double> us;
    us.reserve(static_cast<std::size_t>(rounds));
    for (int i = 0; i < rounds; ++i) {
        const auto t0 = steady::now();
        auto s = co_await store.summarize(type, p);
        us.push_back(std::chrono::duration<double, std::micro>(steady::now() - t0).count());
        if (!s) {
            std::fprintf(stderr, "summarize failed: %s\n", s.error().message().c_str());
            std::exit(1);
        }
    }
    std::sort(us.begin(), us.end());
    co_return std::pair{us[us.size() / 2], us[us.size() * 99 / 100]};
}

}  // namespace

int main(int argc, char** argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: summary_scale REDIS_PORT [POINTS]\n");
        return 2;
    }
    const auto port = static_cast<std::uint16_t>(std::atoi(argv[1]));
    const long big = argc > 2 ? std::atol(argv[2]) : 1'000'000;

    net::io_context ioc{1};
    redis::client_options o;
    o.port = port;
    o.command_timeout = std::chrono::seconds(10);
    redis::client client(ioc.get_executor(), o);
    config::metrics_options mo;
    mo.max_points_per_type = static_cast<std::uint32_t>(big);
    metrics::metric_store store(client, mo, std::chrono::seconds(10), common::system_clock());

    net::co_spawn(ioc, client.run(), net::detached);
    net::co_spawn(
        ioc,
        [&]() -> net::awaitable<void> {
            co_await wait_connected(client);
            co_await client.exec(redis::command("FLUSHDB"), std::chrono::seconds(10));
            std::printf("times are microseconds per summarize() call, one at a time\n");
            const auto t0 = steady::now();
            long failed = co_await load(store, "small", 10, 1);
            failed += co_await load(store, "medium", 10000, 64);
            failed += co_await load(store, "big", big, 64);
            const double secs = std::chrono::duration<double>(steady::now() - t0).count();
            std::printf("stored %ld + 10,010 points in %.1f s (%.0f/s), %ld failed\n", big, secs,
                        static_cast<double>(big + 10010) / secs, failed);
            std::printf("%-8s %10s %10s %10s %10s %12s %12s\n", "period", "10 p50", "10k p50",
                        "big p50", "big p99", "big / 10", "big / 10k");
            for (auto p : {metrics::period::all, metrics::period::daily, metrics::period::hourly}) {
                // Warm both once, then alternate, so drift on a shared machine hits both alike.
                co_await time_summaries(store, "small", p, 50);
                co_await time_summaries(store, "medium", p, 50);
                co_await time_summaries(store, "big", p, 50);
                const auto small_t = co_await time_summaries(store, "small", p, 2000);
                const auto medium_t = co_await time_summaries(store, "medium", p, 2000);
                const auto big_t = co_await time_summaries(store, "big", p, 2000);
                std::printf("%-8s %10.1f %10.1f %10.1f %10.1f %11.2fx %11.2fx\n",
                            std::string(metrics::to_string(p)).c_str(), small_t.first,
                            medium_t.first, big_t.first, big_t.second,
                            big_t.first / small_t.first, big_t.first / medium_t.first);
            }
            client.stop();
        },
        net::detached);
    ioc.run();
    return 0;
}
