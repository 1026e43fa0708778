// hold_connections: opens N keep-alive HTTP/1.1 connections to one server, keeps every one of them
// open, and sends `rounds` requests on each (all N in flight at once per round), with an idle hold
// between rounds. It reports whether every connection was established and every request answered
// 200 on the same connection, and samples the server's memory (/proc/PID/status) while all
// connections are open. bench/run.sh uses it for the 10,000-connection figure.
//
//     hold_connections --port 8000 --connections 10000 --path /health --pid 1234
//
// One JSON object goes to stdout; progress goes to stderr. Exit status 0 when every connection
// and every request succeeded, 1 when any failed, 2 on bad arguments.
//
// Thread model: one thread, one io_context; all state is touched from that thread only.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using net::ip::tcp;
using clock_type = std::chrono::steady_clock;
constexpr auto nothrow = net::as_tuple(net::use_awaitable);

struct options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    std::size_t connections = 10'000;
    std::string path = "/health";
    int rounds = 3;
    double hold_seconds = 2.0;
    std::size_t connect_concurrency = 256;
    double round_timeout_seconds = 30.0;
    long pid = 0;  // server process whose memory is sampled; 0: none
};

struct memory {
    long rss_kb = -1;
    long hwm_kb = -1;
};

memory read_memory(long pid)
{
    memory m;
    if (pid <= 0) {
        return m;
    }
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        auto value = [&line] { return std::strtol(line.c_str() + line.find(':') + 1, nullptr, 10); };
        if (line.starts_with("VmRSS:")) {
            m.rss_kb = value();
        } else if (line.starts_with("VmHWM:")) {
            m.hwm_kb = value();
        }
    }
    return m;
}

/// Counts down to zero, then wakes its waiter (Beast's task_group idiom: a timer set to max()).
class latch {
public:
    latch(net::any_io_executor ex, std::size_t count) : timer_(ex, clock_type::time_point::max()), count_(count) {}

    void arrive()
    {
        if (--count_ == 0) {
            timer_.cancel();
        }
    }

    net::awaitable<void> wait()
    {
        if (count_ != 0) {
            co_await timer_.async_wait(nothrow);
        }
    }

private:
    net::steady_timer timer_;
    std::size_t count_;
};

struct connection {
    explicit connection(net::any_io_executor ex) : socket(ex) {}
    tcp::socket socket;
    beast::flat_buffer buffer;
    bool open = false;
};

struct round_result {
    std::size_t ok = 0;
    std::map<std::string, std::size_t> failures;  // reason -> count
    double seconds = 0;
    double max_latency_ms = 0;
};

class runner {
public:
    runner(net::io_context& ioc, options opts) : ioc_(ioc), opts_(std::move(opts))
    {
        request_ = "GET " + opts_.path + " HTTP/1.1\r\nHost: " + opts_.host + ":" +
                   std::to_string(opts_.port) + "\r\nUser-Agent: hold_connections\r\n\r\n";
        conns_.reserve(opts_.connections);
        for (std::size_t i = 0; i < opts_.connections; ++i) {
            conns_.emplace_back(ioc_.get_executor());
        }
    }

    net::awaitable<int> run()
    {
        const auto endpoint = tcp::endpoint(net::ip::make_address(opts_.host), opts_.port);

        // Phase 1: connect everything, a bounded number of handshakes at a time (the listen
        // backlog is finite), retrying a refused or reset handshake a few times.
        const auto t0 = clock_type::now();
        {
            const std::size_t workers = std::min(opts_.connect_concurrency, conns_.size());
            latch done(ioc_.get_executor(), workers);
            for (std::size_t w = 0; w < workers; ++w) {
                net::co_spawn(ioc_, connect_worker(endpoint),
                              [&done](std::exception_ptr) { done.arrive(); });
            }
            co_await done.wait();
        }
        const double connect_seconds = seconds_since(t0);
        std::fprintf(stderr, "hold_connections: %zu/%zu connected in %.2f s\n", connected_,
                     conns_.size(), connect_seconds);

        // Phase 2: rounds of one request per connection, all in flight at once, with an idle
        // hold before each round after the first (connections must survive being idle).
        std::vector<round_result> results;
        memory after_first;
        memory holding;
        for (int r = 0; r < opts_.rounds; ++r) {
            if (r > 0) {
                net::steady_timer hold(ioc_, std::chrono::duration_cast<clock_type::duration>(
                                                 std::chrono::duration<double>(opts_.hold_seconds)));
                co_await hold.async_wait(nothrow);
                holding = read_memory(opts_.pid);
            }
            results.push_back(co_await one_round());
            if (r == 0) {
                after_first = read_memory(opts_.pid);
            }
            const auto& res = results.back();
            std::fprintf(stderr, "hold_connections: round %d: %zu ok, %zu failed, %.2f s\n", r + 1,
                         res.ok, total_failures(res), res.seconds);
        }
        const memory after_all = read_memory(opts_.pid);
        const std::size_t open_at_end = static_cast<std::size_t>(
            std::count_if(conns_.begin(), conns_.end(), [](const connection& c) { return c.open; }));

        std::size_t requests = 0;
        std::size_t ok = 0;
        std::map<std::string, std::size_t> failures;
        double max_latency_ms = 0;
        for (const auto& res : results) {
            ok += res.ok;
            requests += res.ok + total_failures(res);
            for (const auto& [reason, n] : res.failures) {
                failures[reason] += n;
            }
            max_latency_ms = std::max(max_latency_ms, res.max_latency_ms);
        }
        // Connections that never opened could not send their requests: count those as failed.
        const std::size_t never_sent =
            (conns_.size() - connected_) * static_cast<std::size_t>(opts_.rounds);
        if (never_sent > 0) {
            failures["not_connected"] += never_sent;
            requests += never_sent;
        }

        const memory peak = after_all.hwm_kb >= 0 ? after_all : holding;
        const long rss_holding =
            std::max({after_first.rss_kb, holding.rss_kb, after_all.rss_kb});
        const bool all_ok = connected_ == conns_.size() && ok == requests &&
                            open_at_end == conns_.size();

        std::string fail_json = "{";
        for (const auto& [reason, n] : failures) {
            if (fail_json.size() > 1) {
                fail_json += ",";
            }
            fail_json += "\"" + reason + "\":" + std::to_string(n);
        }
        fail_json += "}";
        std::printf(
            "{\"connections\":%zu,\"connected\":%zu,\"connect_failures\":%zu,"
            "\"connect_seconds\":%.3f,\"rounds\":%d,\"requests\":%zu,\"ok\":%zu,"
            "\"failures\":%s,\"open_at_end\":%zu,\"max_round_latency_ms\":%.1f,"
            "\"round_seconds\":[",
            conns_.size(), connected_, connect_failures_, connect_seconds, opts_.rounds, requests,
            ok, fail_json.c_str(), open_at_end, max_latency_ms);
        for (std::size_t i = 0; i < results.size(); ++i) {
            std::printf("%s%.3f", i == 0 ? "" : ",", results[i].seconds);
        }
        std::printf("],\"server_rss_kb_after_first_round\":%ld,\"server_rss_kb_holding\":%ld,"
                    "\"server_rss_kb_max_sampled\":%ld,\"server_hwm_kb\":%ld,\"all_ok\":%s}\n",
                    after_first.rss_kb, holding.rss_kb, rss_holding, peak.hwm_kb,
                    all_ok ? "true" : "false");
        std::fflush(stdout);

        for (auto& c : conns_) {
            boost::system::error_code ignored;
            c.socket.shutdown(tcp::socket::shutdown_both, ignored);
            c.socket.close(ignored);
        }
        co_return all_ok ? 0 : 1;
    }

private:
    static double seconds_since(clock_type::time_point t)
    {
        return std::chrono::duration<double>(clock_type::now() - t).count();
    }

    static std::size_t total_failures(const round_result& r)
    {
        std::size_t n = 0;
        for (const auto& [reason, count] : r.failures) {
            n += count;
        }
        return n;
    }

    net::awaitable<void> connect_worker(tcp::endpoint endpoint)
    {
        while (next_connect_ < conns_.size()) {
            auto& c = conns_[next_connect_++];
            for (int attempt = 0; attempt < 5; ++attempt) {
                boost::system::error_code ec;
                c.socket = tcp::socket(ioc_);
                std::tie(ec) = co_await c.socket.async_connect(endpoint, nothrow);
                if (!ec) {
                    c.open = true;
                    ++connected_;
                    break;
                }
                net::steady_timer backoff(ioc_, std::chrono::milliseconds(20 * (attempt + 1)));
                co_await backoff.async_wait(nothrow);
            }
            if (!c.open) {
                ++connect_failures_;
            }
        }
    }

    net::awaitable<round_result> one_round()
    {
        round_result result;
        const auto t0 = clock_type::now();
        std::size_t in_flight = 0;
        for (const auto& c : conns_) {
            in_flight += c.open ? 1 : 0;
        }
        if (in_flight == 0) {
            co_return result;
        }
        latch done(ioc_.get_executor(), in_flight);
        // A round that has not finished by its deadline: cancel what is still waiting.
        bool timed_out = false;
        net::steady_timer deadline(ioc_, std::chrono::duration_cast<clock_type::duration>(
                                             std::chrono::duration<double>(opts_.round_timeout_seconds)));
        deadline.async_wait([this, &timed_out](boost::system::error_code ec) {
            if (!ec) {
                timed_out = true;
                for (auto& c : conns_) {
                    boost::system::error_code ignored;
                    c.socket.cancel(ignored);
                }
            }
        });
        for (auto& c : conns_) {
            if (!c.open) {
                continue;
            }
            net::co_spawn(ioc_, one_request(c, result, timed_out, t0),
                          [&done](std::exception_ptr) { done.arrive(); });
        }
        co_await done.wait();
        deadline.cancel();
        result.seconds = seconds_since(t0);
        co_return result;
    }

    net::awaitable<void> one_request(connection& c, round_result& result, const bool& timed_out,
                                     clock_type::time_point t0)
    {
        auto fail = [&](std::string reason) {
            ++result.failures[timed_out ? std::string("timeout") : std::move(reason)];
            boost::system::error_code ignored;
            c.socket.close(ignored);
            c.open = false;
        };
        auto [wec, written] = co_await net::async_write(c.socket, net::buffer(request_), nothrow);
        if (wec) {
            fail("write:" + wec.message());
            co_return;
        }
        http::response<http::string_body> res;
        auto [rec, read] = co_await http::async_read(c.socket, c.buffer, res, nothrow);
        if (rec) {
            fail("read:" + rec.message());
            co_return;
        }
        result.max_latency_ms =
            std::max(result.max_latency_ms, seconds_since(t0) * 1000.0);
        if (res.result_int() != 200) {
            ++result.failures["status_" + std::to_string(res.result_int())];
        } else if (!res.keep_alive()) {
            fail("server_closed_keep_alive");
        } else {
            ++result.ok;
        }
    }

    net::io_context& ioc_;
    options opts_;
    std::string request_;
    std::vector<connection> conns_;
    std::size_t next_connect_ = 0;
    std::size_t connected_ = 0;
    std::size_t connect_failures_ = 0;
};

template <class T>
bool parse_number(std::string_view text, T& out)
{
    if constexpr (std::is_floating_point_v<T>) {
        char* end = nullptr;
        const std::string s(text);
        out = std::strtod(s.c_str(), &end);
        return end != s.c_str() && *end == '\0';
    } else {
        const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
        return ec == std::errc{} && ptr == text.data() + text.size();
    }
}

std::optional<options> parse_args(int argc, char** argv)
{
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (i + 1 >= argc) {
            std::fprintf(stderr, "hold_connections: %s needs a value\n", argv[i]);
            return std::nullopt;
        }
        const std::string_view value = argv[++i];
        bool ok = true;
        if (arg == "--host") {
            o.host = value;
        } else if (arg == "--port") {
            ok = parse_number(value, o.port) && o.port != 0;
        } else if (arg == "--connections") {
            ok = parse_number(value, o.connections) && o.connections > 0;
        } else if (arg == "--path") {
            o.path = value;
        } else if (arg == "--rounds") {
            ok = parse_number(value, o.rounds) && o.rounds > 0;
        } else if (arg == "--hold-seconds") {
            ok = parse_number(value, o.hold_seconds) && o.hold_seconds >= 0;
        } else if (arg == "--connect-concurrency") {
            ok = parse_number(value, o.connect_concurrency) && o.connect_concurrency > 0;
        } else if (arg == "--round-timeout-seconds") {
            ok = parse_number(value, o.round_timeout_seconds) && o.round_timeout_seconds > 0;
        } else if (arg == "--pid") {
            ok = parse_number(value, o.pid);
        } else {
            std::fprintf(stderr, "hold_connections: unknown argument %s\n", argv[i - 1]);
            return std::nullopt;
        }
        if (!ok) {
            std::fprintf(stderr, "hold_connections: bad value for %s: %s\n", argv[i - 1], argv[i]);
            return std::nullopt;
        }
    }
    if (o.port == 0) {
        std::fprintf(stderr, "usage: hold_connections --port P [--host 127.0.0.1] "
                             "[--connections 10000] [--path /health] [--rounds 3] "
                             "[--hold-seconds 2] [--connect-concurrency 256] "
                             "[--round-timeout-seconds 30] [--pid SERVER_PID]\n");
        return std::nullopt;
    }
    return o;
}

}  // namespace

int main(int argc, char** argv)
{
    auto opts = parse_args(argc, argv);
    if (!opts) {
        return 2;
    }
    // One descriptor per connection: take the whole hard limit.
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < opts->connections + 16) {
        std::fprintf(stderr, "hold_connections: open-file limit %llu is below %zu connections\n",
                     static_cast<unsigned long long>(lim.rlim_cur), opts->connections);
        return 2;
    }

    net::io_context ioc(1);
    runner r(ioc, std::move(*opts));
    int status = 1;
    net::co_spawn(ioc, r.run(), [&status](std::exception_ptr e, int s) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                std::fprintf(stderr, "hold_connections: %s\n", ex.what());
            }
            status = 1;
        } else {
            status = s;
        }
    });
    ioc.run();
    return status;
}
