#pragma once
// Concurrent requests for the same key share one computation: the first caller computes, the
// others park on a timer used as a condition variable (set to never expire, cancelled when the
// answer is ready) and receive a copy of the same result.
//
// Thread safety: one instance per worker, used only on that worker's thread (no locking).

#include "common/asio.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace analytics::common {

template <class T>
class single_flight {
public:
    /// Runs `compute()` (returning net::awaitable<T>) unless a computation for `key` is already
    /// running, in which case it waits for that one and returns a copy of its result. If the
    /// computation throws, its waiters each start over.
    template <class Compute>
    net::awaitable<T> run(std::string_view key, Compute compute)
    {
        for (;;) {
            auto it = flights_.find(std::string(key));
            if (it == flights_.end()) {
                break;
            }
            auto f = it->second;  // keeps the flight alive while we wait
            ++joined_;
            co_await f->done.async_wait(use_nothrow);
            if (f->value) {
                co_return *f->value;
            }
        }

        auto f = std::make_shared<flight>(co_await net::this_coro::executor);
        const std::string owned_key(key);
        flights_.emplace(owned_key, f);
        ++computations_;
        std::exception_ptr failure;
        try {
            f->value.emplace(co_await compute());
        } catch (...) {
            failure = std::current_exception();
        }
        flights_.erase(owned_key);
        f->done.cancel();
        if (failure) {
            std::rethrow_exception(failure);
        }
        co_return *f->value;
    }

    /// How many computations were started, and how many callers joined a running one.
    std::uint64_t computations() const noexcept { return computations_; }
    std::uint64_t joined() const noexcept { return joined_; }

private:
    struct flight {
        explicit flight(const net::any_io_executor& ex) : done(ex)
        {
            done.expires_at(net::steady_timer::time_point::max());
        }
        net::steady_timer done;
        std::optional<T> value;
    };

    std::unordered_map<std::string, std::shared_ptr<flight>> flights_;
    std::uint64_t computations_ = 0;
    std::uint64_t joined_ = 0;
};

}  // namespace analytics::common
