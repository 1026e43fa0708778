// Throughput of one worker's redis::client: `depth` coroutines on one io_context each SET then
// GET keys spread over `keys` names until `ops` commands ran, so that commands pipeline as they
// do under load. Run it against a single server and against a cluster to compare the two modes
// (bench/cluster.sh does both).
//
//   redis_throughput single 127.0.0.1:6379 [ops] [depth] [keys]
//   redis_throughput cluster 127.0.0.1:7000,127.0.0.1:7001 [ops] [depth] [keys]
//
// Prints one line: mode, commands per second, client CPU per command, failures.

#include "redis/client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <sys/resource.h>
#include <vector>

namespace {

using namespace analytics;
using namespace std::chrono_literals;

redis::node_address parse_address(std::string_view text)
{
    const auto colon = text.rfind(':');
    return {std::string(text.substr(0, colon)),
            static_cast<std::uint16_t>(std::stoi(std::string(text.substr(colon + 1))))};
}

double cpu_seconds()
{
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    const auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

struct outcome {
    long done = 0;
    long failures = 0;
};

net::awaitable<void> one_caller(redis::client& c, long& next, long ops, long keys, outcome& out)
{
    std::string key;
    std::string value;
    while (next < ops) {
        const long i = next;
        next += 2;
        key = "bench:" + std::to_string(i / 2 % keys);
        value = std::to_string(i);
        auto set = co_await c.exec(redis::command("SET", key, value), 1s);
        auto get = co_await c.exec(redis::command("GET", key), 1s);
        out.failures += (set && !set->is_error() ? 0 : 1) + (get && !get->is_error() ? 0 : 1);
        out.done += 2;
    }
}

}  // namespace

int main(int argc, char** argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s single|cluster ADDRESS[,ADDRESS...] [ops] [depth] [keys]\n",
                     argv[0]);
        return 2;
    }
    const std::string mode = argv[1];
    const long ops = argc > 3 ? std::atol(argv[3]) : 400'000;
    const int depth = argc > 4 ? std::atoi(argv[4]) : 64;
    const long keys = argc > 5 ? std::atol(argv[5]) : 10'000;

    redis::client_options options;
    options.command_timeout = 1s;
    std::string addresses = argv[2];
    if (mode == "cluster") {
        for (std::size_t start = 0; start < addresses.size();) {
            const auto comma = addresses.find(',', start);
            const auto end = comma == std::string::npos ? addresses.size() : comma;
            options.cluster_nodes.push_back(parse_address(addresses.substr(start, end - start)));
            start = end + 1;
        }
    } else {
        const auto a = parse_address(addresses);
        options.host = a.host;
        options.port = a.port;
    }

    net::io_context ioc{1};
    redis::client c(ioc.get_executor(), options);
    net::co_spawn(ioc, c.run(), [](std::exception_ptr e) {
        if (e) {
            std::rethrow_exception(e);
        }
    });

    outcome out;
    double seconds = 0;
    double cpu = 0;
    net::co_spawn(
        ioc,
        [&]() -> net::awaitable<void> {
            net::steady_timer wait(ioc);
            for (int i = 0; i < 500 && !c.connected(); ++i) {
                wait.expires_after(10ms);
                co_await wait.async_wait(net::use_awaitable);
            }
            long next = 0;
            const auto start = std::chrono::steady_clock::now();
            const double cpu_start = cpu_seconds();
            int running = depth;
            net::steady_timer all_done(ioc, std::chrono::steady_clock::time_point::max());
            for (int i = 0; i < depth; ++i) {
                net::co_spawn(ioc, one_caller(c, next, ops, keys, out), [&](std::exception_ptr) {
                    if (--running == 0) {
                        all_done.cancel();
                    }
                });
            }
            co_await all_done.async_wait(common::use_nothrow);
            seconds =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            cpu = cpu_seconds() - cpu_start;
            c.stop();
        },
        net::detached);
    ioc.run();

    std::printf(
        "mode=%s depth=%d commands=%ld seconds=%.3f commands_per_s=%.0f "
        "client_cpu_us_per_command=%.2f failures=%ld\n",
        mode.c_str(), depth, out.done, seconds, out.done / seconds,
        cpu * 1e6 / static_cast<double>(out.done), out.failures);
    return out.failures == 0 ? 0 : 1;
}
