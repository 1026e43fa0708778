#pragma once
// Runs a test body next to a redis::client's run() on a fresh io_context: waits for the client
// to connect first when asked, stops the client afterwards and checks that run() returned.

#include "redis/client.hpp"
#include "support/coro_helpers.hpp"
#include "support/run_coro.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <exception>

namespace analytics::test {

template <class Body>
void with_client(const redis::client_options& options, Body body, bool wait_connected = true,
                 std::chrono::milliseconds limit = std::chrono::seconds(30))
{
    net::io_context ioc;
    redis::client c(ioc.get_executor(), options);
    bool run_returned = false;
    net::co_spawn(ioc, c.run(), [&](std::exception_ptr e) {
        run_returned = true;
        if (e) {
            std::rethrow_exception(e);
        }
    });
    run_coro(
        ioc,
        [&]() -> net::awaitable<void> {
            std::exception_ptr failure;
            try {
                if (wait_connected) {
                    const bool up =
                        co_await eventually([&] { return c.connected(); }, std::chrono::seconds(5));
                    EXPECT_TRUE(up) << "the client did not connect";
                }
                co_await body(c);
            } catch (...) {
                failure = std::current_exception();
            }
            c.stop();
            if (failure) {
                std::rethrow_exception(failure);
            }
        }(),
        limit);
    EXPECT_TRUE(run_returned) << "run() did not return after stop()";
}

}  // namespace analytics::test
