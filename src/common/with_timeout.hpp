#pragma once
// `with_timeout(op, d)`: runs an awaitable with a deadline. Asio 1.81 has no `cancel_after`, so
// the operation is raced against a steady_timer with `awaitable_operators::operator||`.
//
//     auto r = co_await common::with_timeout(service.call(key), opts.timeout);
//     if (!r) { ... the deadline passed first ... }
//
// Whichever side finishes first wins; the other receives a terminal cancellation and
// `with_timeout` only returns once it has finished too. So when the timer wins, `op` has already
// unwound (its timers, sockets and locals are gone) before the caller continues, and nothing it
// referenced can be touched later. The cost of that guarantee: `op` must honour per-operation
// cancellation in each of its waits, as Asio's timers and sockets and Beast's operations do.
//
// Thread safety: runs on the calling coroutine's executor; holds no shared state.

#include "common/asio.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <chrono>
#include <exception>
#include <optional>
#include <utility>
#include <variant>

namespace analytics::common {

namespace detail {

/// Sleeps for `d` on the calling coroutine's executor; ends early (without throwing) when
/// cancelled, which only happens once the raced operation has already won.
inline net::awaitable<void> sleep_for(std::chrono::steady_clock::duration d)
{
    net::steady_timer timer(co_await net::this_coro::executor);
    timer.expires_after(d);
    auto [ec] = co_await timer.async_wait(use_nothrow);
    (void)ec;
}

// Asio 1.81's `||` waits for the first *successful* side: an operation that throws would not
// win the race, and the caller would wait for the deadline and see a timeout instead of the
// error. So the operation's exception travels as a value, and is rethrown once the race is over.
// (A struct, not a std::variant: `||` flattens variant results into its own.)
template <class T>
struct captured {
    std::optional<T> value;
    std::exception_ptr error;
};

template <class T>
net::awaitable<captured<T>> capture(net::awaitable<T> op)
{
    captured<T> out;
    try {
        out.value.emplace(co_await std::move(op));
    } catch (...) {
        out.error = std::current_exception();
    }
    co_return out;
}

inline net::awaitable<std::exception_ptr> capture(net::awaitable<void> op)
{
    std::exception_ptr error;
    try {
        co_await std::move(op);
    } catch (...) {
        error = std::current_exception();
    }
    co_return error;
}

}  // namespace detail

/// The result of `op`, or nullopt when `d` passed first. An exception thrown by `op` before
/// the deadline propagates to the caller as soon as it is thrown.
template <class T>
net::awaitable<std::optional<T>> with_timeout(net::awaitable<T> op,
                                              std::chrono::steady_clock::duration d)
{
    using net::experimental::awaitable_operators::operator||;
    auto outcome = co_await (detail::capture(std::move(op)) || detail::sleep_for(d));
    if (outcome.index() == 1) {
        co_return std::nullopt;
    }
    auto& finished = std::get<0>(outcome);
    if (finished.error) {
        std::rethrow_exception(finished.error);
    }
    co_return std::move(finished.value);
}

/// For an operation without a value: true when it finished before `d`, false on timeout.
/// An exception thrown by `op` before the deadline propagates to the caller.
inline net::awaitable<bool> with_timeout(net::awaitable<void> op,
                                         std::chrono::steady_clock::duration d)
{
    using net::experimental::awaitable_operators::operator||;
    auto outcome = co_await (detail::capture(std::move(op)) || detail::sleep_for(d));
    if (outcome.index() == 1) {
        co_return false;
    }
    if (auto error = std::get<0>(outcome)) {
        std::rethrow_exception(error);
    }
    co_return true;
}

}  // namespace analytics::common
