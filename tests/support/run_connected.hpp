#pragma once
// Runs a test body against Redis clients that must be connected first, and stops everything
// afterwards even when the body throws, so that every client's run() returns and the io_context
// finishes.

#include "redis/client.hpp"
#include "support/coro_helpers.hpp"
#include "support/run_coro.hpp"

#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <chrono>
#include <exception>
#include <functional>
#include <vector>

namespace analytics::test {

/// Runs `body` on `ioc` once every client in `clients` is connected (when `wait_connected`),
/// then calls `stop` (which must stop the clients and whatever uses them) and rethrows what the
/// body threw. Fails the test when the clients do not connect within 5 s.
inline void run_connected(net::io_context& ioc, std::vector<redis::client*> clients,
                          std::function<net::awaitable<void>()> body, std::function<void()> stop,
                          bool wait_connected = true)
{
    ioc.restart();
    run_coro(
        ioc,
        [&]() -> net::awaitable<void> {
            std::exception_ptr failure;
            try {
                if (wait_connected) {
                    const bool up = co_await eventually(
                        [&] {
                            return std::all_of(clients.begin(), clients.end(),
                                               [](redis::client* c) { return c->connected(); });
                        },
                        std::chrono::seconds(5));
                    EXPECT_TRUE(up) << "a Redis client did not connect";
                }
                co_await body();
            } catch (...) {
                failure = std::current_exception();
            }
            stop();
            if (failure) {
                std::rethrow_exception(failure);
            }
        }(),
        std::chrono::seconds(30));
}

}  // namespace analytics::test
