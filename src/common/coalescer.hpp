#pragma once
// Turns the requests that one worker's coroutines make into batches: submit() queues an item,
// and the batch runs once every handler already queued on the loop has had its turn, so every
// item they submit joins it. While a batch runs, the next one keeps collecting, over as many
// loop turns as the running one takes, and runs when it returns: under load a batch holds what
// arrived during one Redis round trip, so the per-call cost is spread over more items, and an
// idle worker's lone item still goes out in the next loop turn. A batch closes at `max_items`
// and then runs at once, beside the running one (the next item opens another), so a slow
// batch holds back at most `max_items` items behind it. The flush calls `run` once for the
// whole batch; `run` writes one result per item, and each waiting coroutine is resumed
// (posted, never inline) with its own.
//
// A waiting item costs no timer: it keeps its completion handler (any_completion_handler, whose
// storage comes from Asio's per-thread recycling allocator), and batch storage is reused.
//
// Deadlines: `run` receives when the batch's first item was queued; a deadline counted from
// there bounds every item of the batch, none of which was queued earlier.
//
// Errors: `run` reports failures through the results (a shared error in every slot when the
// batch failed as a whole). Should `run` throw, which is a bug, the batch's items complete with
// the `unavailable` result instead of waiting forever.
//
// Lifetime: stop() (also run by the destructor) completes every pending item with `unavailable`
// at once, posted; later submits complete with it too. A flush in flight keeps the queue state
// alive and drops its items' results when it returns. `run` and whatever it refers to must
// outlive the flushes in flight, as redis::client must outlive its commands: stop the client (or
// the io_context) before destroying them.
//
// Thread safety: one instance per worker, used only from the thread that runs its executor.

#include "common/asio.hpp"
#include "common/logging.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <span>
#include <utility>
#include <vector>

namespace analytics::common {

template <class Item, class Result>
class coalescer {
public:
    using clock = std::chrono::steady_clock;

    /// The work of one batch: reads `items`, writes the result of items[i] to results[i]. Both
    /// spans stay valid until the returned awaitable completes; `opened` is when the batch's
    /// first item was queued.
    using runner = std::function<net::awaitable<void>(
        std::span<const Item> items, std::span<Result> results, clock::time_point opened)>;

    /// `max_items` >= 1 caps a batch; `unavailable` is what items get when the coalescer stops
    /// before their batch ran.
    coalescer(net::any_io_executor executor, std::size_t max_items, runner run, Result unavailable)
        : state_(std::make_shared<state>(std::move(executor), std::max<std::size_t>(max_items, 1),
                                         std::move(run), std::move(unavailable)))
    {
    }

    ~coalescer() { stop(); }

    coalescer(const coalescer&) = delete;
    coalescer& operator=(const coalescer&) = delete;

    /// Queues `item` and completes with its result once its batch has run.
    net::awaitable<Result> submit(Item item)
    {
        return net::async_initiate<decltype(net::use_awaitable), void(Result)>(
            [st = state_](auto handler, Item queued) {
                enqueue(st, std::move(queued), std::move(handler));
            },
            net::use_awaitable, std::move(item));
    }

    /// Completes every pending item with `unavailable` (posted) and every later submit too.
    /// Safe to call more than once.
    void stop()
    {
        state& st = *state_;
        st.stopped = true;
        for (batch* b : st.pending) {
            for (auto& waiter : b->waiters) {
                if (waiter) {
                    complete(st.executor, std::move(waiter), st.unavailable);
                }
            }
        }
        st.open = nullptr;
    }

    /// Batches flushed so far (each one `run` call, or none once stopped).
    std::uint64_t batches() const noexcept { return state_->batches; }

private:
    using handler_type = net::any_completion_handler<void(Result)>;

    struct batch {
        std::vector<Item> items;
        std::vector<handler_type> waiters;  // empty once completed
        std::vector<Result> results;
        clock::time_point opened;
    };

    // Shared with the flushes in flight, so that they may finish after the coalescer is gone.
    struct state {
        state(net::any_io_executor ex, std::size_t max, runner r, Result u)
            : executor(std::move(ex)), max_items(max), run(std::move(r)), unavailable(std::move(u))
        {
        }

        net::any_io_executor executor;
        std::size_t max_items;
        runner run;
        Result unavailable;
        bool stopped = false;
        batch* open = nullptr;                      // collecting
        std::unique_ptr<batch> open_owner;          // the open batch while its flush waits
        std::vector<batch*> pending;                // collecting or running
        std::vector<std::unique_ptr<batch>> spare;  // cleared, capacity kept
        std::uint64_t batches = 0;
        std::size_t running = 0;  // flushes posted or in flight
    };

    // Few batches are in flight at a time on one connection; keeping this many spares covers a
    // busy worker's pipeline.
    static constexpr std::size_t max_spare_batches = 8;

    // Resumes the waiter from a handler posted to the worker's own executor. Posting the
    // any_completion_handler itself would make Asio wrap it for its type-erased executor and
    // allocate a work-tracking copy of that executor per item.
    static void complete(const net::any_io_executor& executor, handler_type handler, Result r)
    {
        net::post(executor, [h = std::move(handler), r = std::move(r)]() mutable {
            std::move(h)(std::move(r));
        });
    }

    static void enqueue(const std::shared_ptr<state>& st, Item item, handler_type handler)
    {
        if (st->stopped) {
            complete(st->executor, std::move(handler), st->unavailable);
            return;
        }
        if (st->open == nullptr) {
            std::unique_ptr<batch> b;
            if (st->spare.empty()) {
                b = std::make_unique<batch>();
            } else {
                b = std::move(st->spare.back());
                st->spare.pop_back();
            }
            b->opened = clock::now();
            st->open = b.get();
            st->open_owner = std::move(b);
            st->pending.push_back(st->open);
            if (st->running == 0) {
                post_open(st);
            }
        }
        batch& b = *st->open;
        b.items.push_back(std::move(item));
        b.waiters.push_back(std::move(handler));
        if (b.items.size() >= st->max_items) {
            if (st->open_owner) {
                post_open(st);  // full: goes now, beside the running one
            }
            st->open = nullptr;  // the next item opens another batch
        }
    }

    // Posts the flush of the batch in open_owner (the open one, or one stop() left behind).
    static void post_open(const std::shared_ptr<state>& st)
    {
        ++st->running;
        // Posted: the batch runs only after every handler already queued on the loop has
        // had its turn (co_spawn alone would start it inline, on this thread).
        net::post(st->executor, [st, b = std::move(st->open_owner)]() mutable {
            net::co_spawn(st->executor, flush(st, std::move(b)), net::detached);
        });
    }

    static net::awaitable<void> flush(std::shared_ptr<state> st, std::unique_ptr<batch> b)
    {
        if (st->open == b.get()) {
            st->open = nullptr;
        }
        if (!st->stopped) {
            ++st->batches;
            b->results.assign(b->items.size(), st->unavailable);
            bool failed = false;
            try {
                co_await st->run(std::span<const Item>(b->items), std::span<Result>(b->results),
                                 b->opened);
            } catch (const std::exception& e) {
                log::error("coalescer.run_failed", {{"error", e.what()}});
                failed = true;
            } catch (...) {
                log::error("coalescer.run_failed", {{"error", "unknown exception"}});
                failed = true;
            }
            for (std::size_t i = 0; i < b->waiters.size(); ++i) {
                if (b->waiters[i]) {
                    complete(st->executor, std::move(b->waiters[i]),
                             failed ? st->unavailable : std::move(b->results[i]));
                }
            }
        }
        // stop() completed whatever is left.
        --st->running;
        if (st->open_owner && st->running == 0) {
            post_open(st);
        }
        std::erase(st->pending, b.get());
        b->items.clear();
        b->waiters.clear();
        b->results.clear();
        if (st->spare.size() < max_spare_batches) {
            st->spare.push_back(std::move(b));
        }
    }

    std::shared_ptr<state> state_;
};

}  // namespace analytics::common
