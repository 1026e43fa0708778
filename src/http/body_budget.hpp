#pragma once
// The memory clients can make the process hold with request bodies they have not finished
// sending, bounded across every worker by HTTP_MAX_BUFFERED_BODY_BYTES; and the heap memory
// that connections free, handed back to the operating system after a burst.
//
// A session reserves what its unfinished body holds (Beast reserves a body's Content-Length as
// soon as the header is read; a chunked body grows as it arrives) and releases it when the body
// is complete or the connection ends. A reservation that would pass the maximum is refused (the
// session answers 503) unless no other body holds any: one body always fits, whatever the
// maximum, so a maximum below the body limit slows large requests down but never refuses all.
//
// Freed memory: glibc keeps what a burst of connections freed inside its arenas (2,000
// connections holding 64 KiB bodies left the process at 149 MB after they had closed, from
// 9 MB before). Sessions report what they free (their bodies, buffers and own state); once
// enough has been freed, reclaim() returns it (malloc_trim; AddressSanitizer's allocator purge
// in its builds). Each worker's deadline sweeper calls reclaim(), and one of them does the
// work. What stays is Asio's per-socket state for the most connections open at once, about
// 4 KiB each (it keeps those objects for reuse, and each holds on to the page it lies in).
//
// Thread safety: every function may be called from any thread.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace analytics::http {

class body_budget {
public:
    /// Freed bytes that make reclaim() return memory to the operating system.
    static constexpr std::size_t reclaim_threshold = 8 * 1024 * 1024;
    /// reclaim() does its work at most this often.
    static constexpr std::chrono::milliseconds reclaim_interval{1000};

    explicit body_budget(std::size_t max_bytes) : max_(max_bytes) {}

    body_budget(const body_budget&) = delete;
    body_budget& operator=(const body_budget&) = delete;

    /// Grows a reservation from `held` to `wanted` bytes (nothing when `wanted` is not more).
    /// False, leaving `held` as it was, when the maximum does not allow it.
    bool reserve(std::size_t& held, std::size_t wanted) noexcept;

    /// Gives a reservation back (its memory counts as freed) and sets `held` to 0.
    void release(std::size_t& held) noexcept;

    /// Counts memory a connection freed (its buffers) towards the next reclaim().
    void freed(std::size_t bytes) noexcept { freed_.fetch_add(bytes, std::memory_order_relaxed); }

    /// Returns freed heap memory to the operating system when at least `reclaim_threshold`
    /// bytes were freed since it last did and `reclaim_interval` has passed. True when it did.
    bool reclaim();

    /// Bytes reserved now.
    std::size_t used() const noexcept { return used_.load(std::memory_order_relaxed); }

private:
    const std::size_t max_;
    std::atomic<std::size_t> used_{0};
    std::atomic<std::size_t> freed_{0};
    std::atomic<std::int64_t> last_reclaim_ms_{0};
};

}  // namespace analytics::http
