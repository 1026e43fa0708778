#pragma once
// Runs a coroutine to completion on a fresh io_context and returns its value.
// Fails the test (and returns a default value) when it did not finish within `timeout`.

#include "common/asio.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <exception>
#include <optional>

namespace analytics::test {

template <class T>
T run_coro(net::io_context& ioc, net::awaitable<T> aw,
           std::chrono::milliseconds timeout = std::chrono::seconds(10))
{
    std::optional<T> out;
    std::exception_ptr error;
    net::co_spawn(ioc, std::move(aw), [&](std::exception_ptr e, T value) {
        error = e;
        if (!e) {
            out.emplace(std::move(value));
        }
    });
    ioc.run_for(timeout);
    if (error) {
        std::rethrow_exception(error);
    }
    if (!out) {
        ADD_FAILURE() << "coroutine did not finish within " << timeout.count() << " ms";
        return T{};
    }
    return std::move(*out);
}

inline void run_coro(net::io_context& ioc, net::awaitable<void> aw,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10))
{
    bool done = false;
    std::exception_ptr error;
    net::co_spawn(ioc, std::move(aw), [&](std::exception_ptr e) {
        error = e;
        done = true;
    });
    ioc.run_for(timeout);
    if (error) {
        std::rethrow_exception(error);
    }
    if (!done) {
        ADD_FAILURE() << "coroutine did not finish within " << timeout.count() << " ms";
    }
}

}  // namespace analytics::test
