#include "http/body_budget.hpp"

#if defined(__SANITIZE_ADDRESS__)
// From AddressSanitizer's runtime (declared in sanitizer/allocator_interface.h, which GCC does not
// install).
extern "C" void __sanitizer_purge_allocator();
#else
#include <malloc.h>
#endif

namespace analytics::http {

namespace {

// Hands free heap pages back to the operating system.
void return_free_memory()
{
#if defined(__SANITIZE_ADDRESS__)
    // AddressSanitizer replaces malloc; its allocator keeps freed memory (and its quarantine)
    // until asked, as glibc does.
    __sanitizer_purge_allocator();
#else
    // Every arena, not only the top of the main heap: connections free memory on every worker
    // thread's arena, and between blocks that are still in use.
    ::malloc_trim(0);
#endif
}

std::int64_t steady_ms()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace

bool body_budget::reserve(std::size_t& held, std::size_t wanted) noexcept
{
    if (wanted <= held) {
        return true;
    }
    const std::size_t more = wanted - held;
    std::size_t used = used_.load(std::memory_order_relaxed);
    for (;;) {
        // Nothing held by anyone else: one body always fits.
        const bool alone = used == held;
        if (!alone && (used + more > max_ || used + more < used)) {
            return false;
        }
        if (used_.compare_exchange_weak(used, used + more, std::memory_order_relaxed)) {
            held = wanted;
            return true;
        }
    }
}

void body_budget::release(std::size_t& held) noexcept
{
    if (held == 0) {
        return;
    }
    used_.fetch_sub(held, std::memory_order_relaxed);
    freed(held);
    held = 0;
}

bool body_budget::reclaim()
{
    if (freed_.load(std::memory_order_relaxed) < reclaim_threshold) {
        return false;
    }
    const auto now = steady_ms();
    auto last = last_reclaim_ms_.load(std::memory_order_relaxed);
    if (now - last < reclaim_interval.count() ||
        !last_reclaim_ms_.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
        return false;
    }
    freed_.store(0, std::memory_order_relaxed);
    return_free_memory();
    return true;
}

}  // namespace analytics::http
