// The limiter against real redis-server processes: the shared test server (REDIS_TEST_PORT) and,
// for outages, private ones started and killed here. The script's answers are checked against
// window_math, the arithmetic the unit tests pin down.

#include "ratelimit/headers.hpp"
#include "ratelimit/sliding_window_limiter.hpp"
#include "support/coro_helpers.hpp"
#include "support/fake_clock.hpp"
#include "support/redis_admin.hpp"
#include "support/redis_server.hpp"
#include "support/run_coro.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace analytics::ratelimit {
namespace {

using test::client_options_for;
using test::elapsed_ms;
using test::eventually;
using test::report;
using test::sleep_for;
using test::spawn_all;

using namespace std::chrono_literals;
using steady_clock = std::chrono::steady_clock;

config::ratelimit_options per_window(std::uint32_t requests, std::chrono::seconds window,
                                     config::failure_mode mode = config::failure_mode::local)
{
    config::ratelimit_options o;
    o.requests = requests;
    o.window = window;
    o.on_redis_failure = mode;
    return o;
}

// One API instance as far as rate limiting goes: its own Redis connection and limiter, with
// the process-wide backstop and outage log it would share with its other workers.
struct instance {
    instance(net::io_context& ioc, std::uint16_t port, const config::ratelimit_options& options,
             const common::clock& clock = common::system_clock(),
             std::chrono::milliseconds timeout = 100ms)
        : redis(ioc.get_executor(), client_options_for(port)),
          backstop(options, clock),
          outages(clock),
          limiter(redis, options, timeout, backstop, outages, clock)
    {
        net::co_spawn(ioc, redis.run(), [this](std::exception_ptr) { run_returned = true; });
    }

    redis::client redis;
    local_backstop backstop;
    outage_log outages;
    sliding_window_limiter limiter;
    bool run_returned = false;
};

class sliding_window_limiter_redis : public ::testing::Test {
protected:
    // Like userver's RedisTest: every test starts from an empty database.
    sliding_window_limiter_redis() { admin_.command({"FLUSHDB"}); }

    // Runs `body` on a fresh io_context once every instance is connected, then stops their
    // clients and checks that their run() returned.
    void run(std::vector<instance*> instances, std::function<net::awaitable<void>()> body,
             bool wait_connected = true)
    {
        test::run_coro(
            ioc_,
            [&]() -> net::awaitable<void> {
                std::exception_ptr failure;
                try {
                    auto all_connected = [&] {
                        return std::all_of(instances.begin(), instances.end(),
                                           [](instance* i) { return i->redis.connected(); });
                    };
                    if (wait_connected) {
                        const bool up = co_await eventually(all_connected, 5s);
                        EXPECT_TRUE(up) << "a client did not connect";
                    }
                    co_await body();
                } catch (...) {
                    failure = std::current_exception();
                }
                for (instance* i : instances) {
                    i->redis.stop();
                }
                if (failure) {
                    std::rethrow_exception(failure);
                }
            }(),
            30s);
        for (instance* i : instances) {
            EXPECT_TRUE(i->run_returned) << "run() did not return after stop()";
        }
    }

    net::io_context ioc_;
    test::admin_connection admin_{test::redis_test_port()};
};

TEST_F(sliding_window_limiter_redis, admits_ten_and_refuses_the_eleventh_with_retry_after)
{
    // The seed's Example 2, with its defaults: 10 requests per 60 seconds.
    instance api(ioc_, test::redis_test_port(), per_window(10, 60s));
    std::vector<decision> seen;
    run({&api}, [&]() -> net::awaitable<void> {
        for (int i = 0; i < 11; ++i) {
            seen.push_back(co_await api.limiter.check("198.51.100.10"));
        }
    });

    ASSERT_EQ(seen.size(), 11U);
    for (std::uint32_t i = 0; i < 10; ++i) {
        EXPECT_TRUE(seen[i].allowed) << i;
        EXPECT_EQ(seen[i].source, decision_source::redis);
        EXPECT_EQ(seen[i].remaining, 9 - i);
    }
    const decision& eleventh = seen[10];
    EXPECT_FALSE(eleventh.allowed);
    EXPECT_EQ(eleventh.source, decision_source::redis);
    // Ten requests in this window weigh ten until it ends and one fits 6 s into the next, so
    // the wait is what is left of this window plus 6 s, whatever the server's clock says.
    EXPECT_GE(eleventh.retry_after_seconds(), 7);
    EXPECT_LE(eleventh.retry_after_seconds(), 66);
    const http::response r = too_many_requests(eleventh);
    EXPECT_EQ(r.status, 429U);
    EXPECT_EQ(r.get("Retry-After"), std::to_string(eleventh.retry_after_seconds()));
}

TEST_F(sliding_window_limiter_redis, script_answers_as_window_math_at_the_window_boundaries)
{
    const window_policy p{10, 60'000};
    const std::int64_t index = 29'525'040;  // 2026-02-19T12:00:00Z in minutes
    struct probe {
        window_sample stored;       // counts stored for window `index` (previous, current)
        std::int64_t stored_index;  // the window they were stored for
        window_sample expected;     // what the script should read at `elapsed_ms`
    };
    std::vector<probe> probes;
    for (const std::int64_t e : {0, 1, 5'999, 6'000, 30'000, 59'999}) {
        for (const std::int64_t prev : {0, 1, 5, 10}) {
            for (const std::int64_t cur : {0, 4, 9, 10}) {
                probes.push_back({{prev, cur, e}, index, {prev, cur, e}});
            }
        }
        // Counters of the window before roll over: its count becomes the previous one.
        probes.push_back({{3, 7, e}, index - 1, {7, 0, e}});
        // Counters two windows old weigh nothing.
        probes.push_back({{3, 7, e}, index - 2, {0, 0, e}});
    }

    instance api(ioc_, test::redis_test_port(), per_window(10, 60s));
    int checked = 0;
    run({&api}, [&]() -> net::awaitable<void> {
        const std::string key = sliding_window_limiter::key_for("probe");
        const std::array<std::string_view, 1> keys{key};
        for (const probe& pr : probes) {
            admin_.command({"HSET", key, "w", std::to_string(pr.stored_index), "c",
                            std::to_string(pr.stored.current), "p",
                            std::to_string(pr.stored.previous)});
            const std::string now = std::to_string(index * p.window_ms + pr.stored.elapsed_ms);
            const std::array<std::string_view, 4> args{"10", "60000", now, "1"};
            const auto r =
                co_await api.redis.eval(sliding_window_limiter::script(), keys, args, 1s);
            EXPECT_TRUE(r) << r.error().message();
            const auto answer = r ? sliding_window_limiter::read_answer(*r) : std::nullopt;
            EXPECT_TRUE(answer);
            if (!answer) {
                co_return;
            }
            const window_sample& x = pr.expected;
            EXPECT_EQ(answer->sample.previous, x.previous);
            EXPECT_EQ(answer->sample.current, x.current);
            EXPECT_EQ(answer->sample.elapsed_ms, x.elapsed_ms);
            EXPECT_EQ(answer->admitted, admits(x, p))
                << "sample {" << x.previous << ", " << x.current << ", " << x.elapsed_ms << "}";
            // An admitted request is counted in this window; a refused one changes nothing.
            if (answer->admitted) {
                EXPECT_EQ(admin_.command({"HGET", key, "c"}), "$" + std::to_string(x.current + 1));
                EXPECT_EQ(admin_.command({"HGET", key, "w"}), "$" + std::to_string(index));
            } else {
                EXPECT_EQ(admin_.command({"HGET", key, "c"}),
                          "$" + std::to_string(pr.stored.current));
                EXPECT_EQ(admin_.command({"HGET", key, "w"}),
                          "$" + std::to_string(pr.stored_index));
            }
            ++checked;
        }
    });
    EXPECT_EQ(checked, static_cast<int>(probes.size()));
}

TEST_F(sliding_window_limiter_redis, script_reads_the_time_from_the_redis_server)
{
    instance api(ioc_, test::redis_test_port(), per_window(10, 60s));
    run({&api}, [&]() -> net::awaitable<void> {
        const std::string key = sliding_window_limiter::key_for("clock");
        const std::array<std::string_view, 1> keys{key};
        const std::array<std::string_view, 4> args{"10", "60000", "", "1"};
        const auto time = co_await api.redis.exec(redis::command("TIME"), 1s);
        const auto r = co_await api.redis.eval(sliding_window_limiter::script(), keys, args, 1s);
        EXPECT_TRUE(time && r);
        if (!time || !r || time->elements.size() != 2) {
            co_return;
        }
        const std::int64_t server_ms = std::stoll(std::string(time->elements[0].str)) * 1000 +
                                       std::stoll(std::string(time->elements[1].str)) / 1000;
        const auto answer = sliding_window_limiter::read_answer(*r);
        EXPECT_TRUE(answer);
        if (answer) {
            // Modulo the window, so that a boundary between the two calls does not matter.
            const std::int64_t drift =
                (answer->sample.elapsed_ms - server_ms % 60'000 + 60'000) % 60'000;
            EXPECT_LT(drift, 1'000);
        }
    });
}

TEST_F(sliding_window_limiter_redis, admits_exactly_the_limit_from_two_hundred_concurrent_checks)
{
    instance api(ioc_, test::redis_test_port(), per_window(10, 60s));
    int admitted = 0;
    int refused = 0;
    run({&api}, [&]() -> net::awaitable<void> {
        co_await spawn_all(200, [&](int) -> net::awaitable<void> {
            const decision d = co_await api.limiter.check("198.51.100.20");
            EXPECT_EQ(d.source, decision_source::redis);
            (d.allowed ? admitted : refused) += 1;
        });
    });
    EXPECT_EQ(admitted, 10);
    EXPECT_EQ(refused, 190);
    EXPECT_EQ(admin_.command({"HGET", sliding_window_limiter::key_for("198.51.100.20"), "c"}), "$10");
}

TEST_F(sliding_window_limiter_redis, decides_a_batch_in_one_script_call_admitting_exactly_the_limit)
{
    instance api(ioc_, test::redis_test_port(), per_window(5, 60s));
    int admitted = 0;
    std::uint64_t batches = 0;
    run({&api}, [&]() -> net::awaitable<void> {
        const auto before = api.limiter.batches();
        co_await spawn_all(12, [&](int) -> net::awaitable<void> {
            const decision d = co_await api.limiter.check("198.51.100.21");
            EXPECT_EQ(d.source, decision_source::redis);
            admitted += d.allowed ? 1 : 0;
        });
        batches = api.limiter.batches() - before;
    });
    EXPECT_EQ(admitted, 5);
    EXPECT_EQ(batches, 1U);
    EXPECT_EQ(admin_.command({"HGET", sliding_window_limiter::key_for("198.51.100.21"), "c"}), "$5");
}

TEST_F(sliding_window_limiter_redis, keeps_clients_of_one_batch_independent)
{
    instance api(ioc_, test::redis_test_port(), per_window(3, 60s));
    std::map<std::string, int> admitted;
    std::uint64_t batches = 0;
    // Interleaved: a a b c a c b a c a c
    const std::vector<std::string> clients{"a", "a", "b", "c", "a", "c", "b", "a", "c", "a", "c"};
    run({&api}, [&]() -> net::awaitable<void> {
        const auto before = api.limiter.batches();
        co_await spawn_all(static_cast<int>(clients.size()), [&](int i) -> net::awaitable<void> {
            const std::string& client = clients[static_cast<std::size_t>(i)];
            const decision d = co_await api.limiter.check(client);
            admitted[client] += d.allowed ? 1 : 0;
        });
        batches = api.limiter.batches() - before;
    });
    EXPECT_EQ(batches, 1U);
    EXPECT_EQ(admitted["a"], 3);
    EXPECT_EQ(admitted["b"], 2);
    EXPECT_EQ(admitted["c"], 3);
    EXPECT_EQ(admin_.command({"HGET", sliding_window_limiter::key_for("a"), "c"}), "$3");
    EXPECT_EQ(admin_.command({"HGET", sliding_window_limiter::key_for("b"), "c"}), "$2");
    EXPECT_EQ(admin_.command({"HGET", sliding_window_limiter::key_for("c"), "c"}), "$3");
}

TEST_F(sliding_window_limiter_redis, script_decides_a_batch_as_one_call_per_request_would)
{
    const std::int64_t index = 29'525'040;
    struct start {
        std::int64_t stored_index;
        std::int64_t previous;
        std::int64_t current;
        std::int64_t elapsed_ms;
    };
    std::vector<start> starts;
    for (const std::int64_t e : {0, 6'000, 30'000, 59'999}) {
        for (const std::int64_t prev : {0, 5, 10}) {
            for (const std::int64_t cur : {0, 4, 10}) {
                starts.push_back({index, prev, cur, e});
            }
        }
        starts.push_back({index - 1, 3, 7, e});
        starts.push_back({index - 2, 3, 7, e});
    }

    instance api(ioc_, test::redis_test_port(), per_window(10, 60s));
    int compared = 0;
    run({&api}, [&]() -> net::awaitable<void> {
        const std::string single = sliding_window_limiter::key_for("single");
        const std::string batched = sliding_window_limiter::key_for("batched");
        const std::string other = sliding_window_limiter::key_for("other");
        for (const start& st : starts) {
            for (const std::string& key : {single, batched}) {
                admin_.command({"HSET", key, "w", std::to_string(st.stored_index), "c",
                                std::to_string(st.current), "p", std::to_string(st.previous)});
                admin_.command({"PEXPIRE", key, "5000"});
            }
            admin_.command({"DEL", other});
            const std::string now = std::to_string(index * 60'000 + st.elapsed_ms);

            // Twelve requests one call each...
            std::vector<std::optional<script_answer>> one_by_one;
            const std::array<std::string_view, 1> single_keys{single};
            const std::array<std::string_view, 4> single_args{"10", "60000", now, "1"};
            for (int i = 0; i < 12; ++i) {
                const auto r = co_await api.redis.eval(sliding_window_limiter::script(),
                                                       single_keys, single_args, 1s);
                one_by_one.push_back(r ? sliding_window_limiter::read_answer(*r) : std::nullopt);
            }
            // ...and the same twelve in one call with another client's three, which come
            // between them (client_of_check below).
            const std::array<std::string_view, 2> batch_keys{batched, other};
            const std::array<std::string_view, 5> batch_args{"10", "60000", now, "12", "3"};
            const auto r = co_await api.redis.eval(sliding_window_limiter::script(), batch_keys,
                                                   batch_args, 1s);
            EXPECT_TRUE(r) << r.error().message();
            if (!r) {
                co_return;
            }
            std::vector<std::uint32_t> client_of_check;
            for (std::size_t i = 0; i < 15; ++i) {
                client_of_check.push_back(i % 5 == 4 ? 1 : 0);
            }
            std::vector<script_answer> answers(15);
            EXPECT_TRUE(
                r->type == redis::reply::kind::array &&
                sliding_window_limiter::read_answers(r->elements, client_of_check, answers));
            std::size_t of_batched = 0;
            for (std::size_t i = 0; i < 15; ++i) {
                if (i % 5 == 4) {
                    continue;
                }
                const script_answer& answer = answers[i];
                const auto& expected = one_by_one[of_batched++];
                EXPECT_TRUE(expected);
                if (expected) {
                    EXPECT_EQ(answer.admitted, expected->admitted);
                    EXPECT_EQ(answer.sample.previous, expected->sample.previous);
                    EXPECT_EQ(answer.sample.current, expected->sample.current);
                    EXPECT_EQ(answer.sample.elapsed_ms, expected->sample.elapsed_ms);
                }
            }
            // Answers for a batch of another length, or of one client only, do not read.
            std::vector<script_answer> fewer(14);
            EXPECT_FALSE(sliding_window_limiter::read_answers(
                r->elements, std::span(client_of_check).first(14), fewer));
            const std::vector<std::uint32_t> one_client(15, 0);
            EXPECT_FALSE(sliding_window_limiter::read_answers(r->elements, one_client, answers));
            // The same counters afterwards. A client refused throughout was not written, so
            // its expiry was not pushed out either; nor was it for a key already in the current
            // window, whose first admitted request set it.
            EXPECT_EQ(admin_.command({"HMGET", batched, "w", "c", "p"}),
                      admin_.command({"HMGET", single, "w", "c", "p"}));
            const bool any_admitted = std::any_of(one_by_one.begin(), one_by_one.end(),
                                                  [](const auto& a) { return a && a->admitted; });
            EXPECT_EQ(admin_.integer({"PTTL", batched}) > 5'000,
                      any_admitted && st.stored_index != index);
            EXPECT_EQ(admin_.command({"HGET", other, "c"}), "$3");
            ++compared;
        }
    });
    EXPECT_EQ(compared, static_cast<int>(starts.size()));
}

TEST_F(sliding_window_limiter_redis, two_instances_on_separate_connections_share_one_count)
{
    const auto options = per_window(10, 60s);
    instance first(ioc_, test::redis_test_port(), options);
    instance second(ioc_, test::redis_test_port(), options);
    int admitted_by_first = 0;
    int admitted_by_second = 0;
    decision last_of_second;
    run({&first, &second}, [&]() -> net::awaitable<void> {
        for (int i = 0; i < 12; ++i) {
            instance& api = i % 2 == 0 ? first : second;
            const decision d = co_await api.limiter.check("198.51.100.30");
            (i % 2 == 0 ? admitted_by_first : admitted_by_second) += d.allowed ? 1 : 0;
            if (i % 2 == 1) {
                last_of_second = d;
            }
        }
    });
    EXPECT_EQ(admitted_by_first + admitted_by_second, 10);
    EXPECT_EQ(admitted_by_first, 5);
    EXPECT_FALSE(last_of_second.allowed);
    EXPECT_EQ(last_of_second.source, decision_source::redis);
}

TEST_F(sliding_window_limiter_redis, refuses_from_memory_until_retry_after_has_passed)
{
    test::fake_clock clock;
    instance api(ioc_, test::redis_test_port(), per_window(2, 60s), clock);
    run({&api}, [&]() -> net::awaitable<void> {
        EXPECT_TRUE((co_await api.limiter.check("c")).allowed);
        EXPECT_TRUE((co_await api.limiter.check("c")).allowed);
        const decision refused = co_await api.limiter.check("c");
        EXPECT_FALSE(refused.allowed);
        EXPECT_EQ(refused.source, decision_source::redis);

        // With the count gone from Redis, only memory can still refuse.
        admin_.command({"FLUSHDB"});
        clock.advance(refused.retry_after - 1ms);
        const decision remembered = co_await api.limiter.check("c");
        EXPECT_FALSE(remembered.allowed);
        EXPECT_EQ(remembered.source, decision_source::remembered_refusal);
        EXPECT_EQ(remembered.retry_after, 1ms);
        EXPECT_EQ(remembered.retry_after_seconds(), 1);
        EXPECT_EQ(remembered.remaining, 0U);
        EXPECT_EQ(admin_.command({"EXISTS", sliding_window_limiter::key_for("c")}), ":0");

        clock.advance(1ms);
        const decision asked = co_await api.limiter.check("c");
        EXPECT_TRUE(asked.allowed);
        EXPECT_EQ(asked.source, decision_source::redis);
    });
}

TEST_F(sliding_window_limiter_redis, keeps_a_client_key_for_two_windows)
{
    instance api(ioc_, test::redis_test_port(), per_window(10, 30s));
    run({&api}, [&]() -> net::awaitable<void> { co_await api.limiter.check("198.51.100.40"); });
    const long long ttl = admin_.integer({"PTTL", sliding_window_limiter::key_for("198.51.100.40")});
    EXPECT_GT(ttl, 59'000);
    EXPECT_LE(ttl, 60'000);
    EXPECT_EQ(admin_.command({"DBSIZE"}), ":1");
}

TEST_F(sliding_window_limiter_redis, sets_the_expiry_at_the_first_request_of_a_window_only)
{
    // Times on a 60 s window: 10 s into window w, then 50 s into it, then 5 s into w + 1.
    const std::int64_t w = 29'525'040;
    const std::string key = sliding_window_limiter::key_for("expiry");
    const std::array<std::string_view, 1> keys{key};
    instance api(ioc_, test::redis_test_port(), per_window(10, 60s));
    auto check_at = [&](std::int64_t now_ms) -> net::awaitable<bool> {
        const std::string now = std::to_string(now_ms);
        const std::array<std::string_view, 4> args{"10", "60000", now, "1"};
        const auto r = co_await api.redis.eval(sliding_window_limiter::script(), keys, args, 1s);
        const auto answer = r ? sliding_window_limiter::read_answer(*r) : std::nullopt;
        co_return answer && answer->admitted;
    };
    std::vector<long long> ttls;
    run({&api}, [&]() -> net::awaitable<void> {
        EXPECT_TRUE(co_await check_at(w * 60'000 + 10'000));
        ttls.push_back(admin_.integer({"PTTL", key}));
        // Shorten the expiry by hand: a later request of the same window leaves it alone.
        admin_.command({"PEXPIRE", key, "70000"});
        EXPECT_TRUE(co_await check_at(w * 60'000 + 50'000));
        ttls.push_back(admin_.integer({"PTTL", key}));
        EXPECT_TRUE(co_await check_at((w + 1) * 60'000 + 5'000));
        ttls.push_back(admin_.integer({"PTTL", key}));
    });
    ASSERT_EQ(ttls.size(), 3U);
    EXPECT_GT(ttls[0], 119'000);
    EXPECT_LE(ttls[1], 70'000);
    EXPECT_GT(ttls[1], 60'000);
    EXPECT_GT(ttls[2], 119'000);
    EXPECT_EQ(admin_.command({"HMGET", key, "w", "c", "p"}),
              "*3 $" + std::to_string(w + 1) + " $1 $2");
}

TEST_F(sliding_window_limiter_redis, decides_at_once_by_the_local_backstop_when_nothing_listens)
{
    // A Redis deadline of 2 s: a check that waited for it would show; one that does not wait
    // answers in far less even on a loaded machine.
    instance api(ioc_, test::free_port(), per_window(10, 60s), common::system_clock(), 2000ms);
    int admitted = 0;
    double slowest_ms = 0;
    run(
        {&api},
        [&]() -> net::awaitable<void> {
            for (int i = 0; i < 100; ++i) {
                const auto start = steady_clock::now();
                const decision d = co_await api.limiter.check("198.51.100.50");
                slowest_ms = std::max(slowest_ms, elapsed_ms(start));
                EXPECT_EQ(d.source, decision_source::local_backstop);
                admitted += d.allowed ? 1 : 0;
            }
        },
        false);
    report("check_while_redis_down_slowest_of_100_ms", slowest_ms, "ms");
    EXPECT_LT(slowest_ms, 1000.0);
    EXPECT_EQ(admitted, 10);
    EXPECT_EQ(api.outages.outages(), 1U);
    EXPECT_EQ(api.outages.requests_without_redis(), 100U);
}

TEST_F(sliding_window_limiter_redis, allows_everything_in_open_mode_when_nothing_listens)
{
    instance api(ioc_, test::free_port(), per_window(10, 60s, config::failure_mode::open));
    int admitted = 0;
    run(
        {&api},
        [&]() -> net::awaitable<void> {
            for (int i = 0; i < 100; ++i) {
                const decision d = co_await api.limiter.check("198.51.100.60");
                EXPECT_EQ(d.source, decision_source::fail_open);
                admitted += d.allowed ? 1 : 0;
            }
        },
        false);
    EXPECT_EQ(admitted, 100);
    EXPECT_EQ(api.backstop.size(), 0U);
}

TEST_F(sliding_window_limiter_redis, fails_open_within_the_redis_timeout_when_redis_stalls)
{
    instance api(ioc_, test::redis_test_port(), per_window(10, 60s), common::system_clock(), 30ms);
    run({&api}, [&]() -> net::awaitable<void> {
        EXPECT_EQ(admin_.command({"CLIENT", "PAUSE", "300", "ALL"}), "+OK");
        const auto start = steady_clock::now();
        const decision d = co_await api.limiter.check("198.51.100.70");
        const double took = elapsed_ms(start);
        report("check_against_stalled_redis_with_30ms_timeout_ms", took, "ms");
        EXPECT_TRUE(d.allowed);
        EXPECT_EQ(d.source, decision_source::local_backstop);
        // Decided by the backstop, so it did not wait for the pause to end (Redis would have
        // decided then), and not before its 30 ms deadline.
        EXPECT_GE(took, 29.0);
        EXPECT_TRUE(api.outages.active());

        // The admin connection is paused too, so its PING returns once the server serves again
        // (Redis ends a pause on its own timer, which may be later than the 300 ms asked for).
        EXPECT_EQ(admin_.command({"PING"}), "+PONG");
        EXPECT_TRUE(api.redis.connected());
        const decision after = co_await api.limiter.check("198.51.100.70");
        EXPECT_EQ(after.source, decision_source::redis);
        EXPECT_FALSE(api.outages.active());
    });
}

TEST_F(sliding_window_limiter_redis, limits_through_redis_again_once_it_comes_back)
{
    test::redis_process server;
    instance api(ioc_, server.port(), per_window(5, 60s));
    run({&api}, [&]() -> net::awaitable<void> {
        EXPECT_EQ((co_await api.limiter.check("c")).source, decision_source::redis);

        server.kill();
        EXPECT_TRUE(co_await eventually([&] { return !api.redis.connected(); }, 2s));
        // The backstop limits a flood on its own: 5 per window in this process.
        int admitted_while_down = 0;
        for (int i = 0; i < 50; ++i) {
            const decision d = co_await api.limiter.check("c");
            EXPECT_EQ(d.source, decision_source::local_backstop);
            admitted_while_down += d.allowed ? 1 : 0;
        }
        EXPECT_EQ(admitted_while_down, 5);
        EXPECT_TRUE(api.outages.active());

        server.start();
        EXPECT_TRUE(co_await eventually([&] { return api.redis.connected(); }, 5s));
        // The restarted server lost its counts, so Redis admits five again, then refuses.
        int admitted_after = 0;
        decision last;
        for (int i = 0; i < 6; ++i) {
            last = co_await api.limiter.check("c");
            EXPECT_EQ(last.source, decision_source::redis);
            admitted_after += last.allowed ? 1 : 0;
        }
        EXPECT_EQ(admitted_after, 5);
        EXPECT_FALSE(last.allowed);
        EXPECT_FALSE(api.outages.active());
        EXPECT_EQ(api.outages.outages(), 1U);
        EXPECT_EQ(api.outages.requests_without_redis(), 50U);
    });
}

TEST_F(sliding_window_limiter_redis, counts_many_clients_exactly_at_thousands_of_checks_per_second)
{
    constexpr int clients = 1'000;
    constexpr int per_client = 20;
    instance api(ioc_, test::redis_test_port(), per_window(10, 60s), common::system_clock(), 10s);
    std::vector<int> admitted(clients, 0);
    int from_memory = 0;
    double took_ms = 0;
    run({&api}, [&]() -> net::awaitable<void> {
        const auto start = steady_clock::now();
        // Rounds of one check per client, pipelined together; from the second round on,
        // refused clients are answered from memory.
        for (int round = 0; round < per_client; ++round) {
            co_await spawn_all(clients, [&](int i) -> net::awaitable<void> {
                const decision d = co_await api.limiter.check("client-" + std::to_string(i));
                admitted[static_cast<std::size_t>(i)] += d.allowed ? 1 : 0;
                from_memory += d.source == decision_source::remembered_refusal ? 1 : 0;
            });
        }
        took_ms = elapsed_ms(start);
    });
    report("checks_per_second_1000_clients_x_20", clients * per_client / (took_ms / 1000), "1/s");
    EXPECT_TRUE(std::all_of(admitted.begin(), admitted.end(), [](int n) { return n == 10; }));
    EXPECT_GT(from_memory, 0);
}

TEST_F(sliding_window_limiter_redis, answers_a_refused_client_from_memory_without_asking_redis)
{
    constexpr int admitted_checks = 1'000;
    constexpr int refused_checks = 100'000;
    instance api(ioc_, test::redis_test_port(), per_window(admitted_checks, 60s));
    double redis_us = 0;
    double memory_us = 0;
    run({&api}, [&]() -> net::awaitable<void> {
        auto start = steady_clock::now();
        for (int i = 0; i < admitted_checks; ++i) {
            EXPECT_TRUE((co_await api.limiter.check("198.51.100.80")).allowed);
        }
        redis_us = elapsed_ms(start) * 1000 / admitted_checks;
        EXPECT_EQ((co_await api.limiter.check("198.51.100.80")).source, decision_source::redis);

        start = steady_clock::now();
        int remembered = 0;
        for (int i = 0; i < refused_checks; ++i) {
            const decision d = co_await api.limiter.check("198.51.100.80");
            remembered += d.source == decision_source::remembered_refusal ? 1 : 0;
        }
        memory_us = elapsed_ms(start) * 1000 / refused_checks;
        EXPECT_EQ(remembered, refused_checks);
    });
    report("admitted_check_one_at_a_time_us", redis_us, "us");
    report("refused_check_from_memory_us", memory_us, "us");
}

}  // namespace
}  // namespace analytics::ratelimit
