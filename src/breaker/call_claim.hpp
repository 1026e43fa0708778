#pragma once
// What a breaker decides about one call, held by the ticket or permit the caller gets: whether
// the call may go ahead, whether it is the HALF_OPEN trial, how long a rejected caller should
// wait and, until the outcome is reported, which breaker (and which of its generations) the
// report goes to. Moving a claim leaves a rejected one with no breaker behind, so an outcome is
// reported at most once however often its holder is moved.
//
// Thread safety: a value type; one thread uses a claim at a time.

#include <chrono>
#include <cstdint>
#include <utility>

namespace analytics::breaker {

template <class Breaker>
struct call_claim {
    Breaker* owner = nullptr;  // null once reported, moved from, or rejected
    std::uint64_t generation = 0;
    bool allowed = false;
    bool trial = false;
    std::chrono::seconds retry_after{0};

    call_claim() = default;

    /// An allowed call of `owner`'s `generation`; `trial` when it is the HALF_OPEN trial.
    call_claim(Breaker* owner_, std::uint64_t generation_, bool trial_) noexcept
        : owner(owner_), generation(generation_), allowed(true), trial(trial_)
    {
    }

    /// A rejected call: try again after `retry_after_`.
    explicit call_claim(std::chrono::seconds retry_after_) noexcept : retry_after(retry_after_) {}

    call_claim(call_claim&& other) noexcept { take(other); }
    call_claim& operator=(call_claim&& other) noexcept
    {
        if (this != &other) {
            take(other);
        }
        return *this;
    }
    call_claim(const call_claim&) = delete;
    call_claim& operator=(const call_claim&) = delete;
    ~call_claim() = default;

    /// The breaker to report the outcome to, the first time only; null afterwards.
    Breaker* report_to() noexcept { return std::exchange(owner, nullptr); }

private:
    void take(call_claim& other) noexcept
    {
        owner = std::exchange(other.owner, nullptr);
        generation = other.generation;
        allowed = std::exchange(other.allowed, false);
        trial = std::exchange(other.trial, false);
        retry_after = std::exchange(other.retry_after, std::chrono::seconds(0));
    }
};

}  // namespace analytics::breaker
