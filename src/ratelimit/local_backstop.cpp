#include "ratelimit/local_backstop.hpp"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace analytics::ratelimit {

local_backstop::local_backstop(const config::ratelimit_options& options, const common::clock& clock,
                               std::size_t max_clients)
    : policy_(window_policy::of(options.requests, options.window)),
      clock_(clock),
      max_per_shard_(std::max<std::size_t>(8, max_clients / shard_count))
{
}

decision local_backstop::check(std::string_view client)
{
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            clock_.steady_now().time_since_epoch())
                            .count();
    const std::int64_t index = now_ms / policy_.window_ms;
    const std::int64_t elapsed = now_ms - index * policy_.window_ms;

    shard& s = shards_[client_hash{}(client) % shard_count];
    window_sample sample;
    bool admitted = false;
    {
        std::lock_guard lock(s.mutex);
        if (s.swept_index != index) {
            drop_stale(s, index);
            s.swept_index = index;
        }
        auto it = s.clients.find(client);
        if (it == s.clients.end()) {
            if (s.clients.size() >= max_per_shard_) {
                evict_least_used(s, index, elapsed);
            }
            it = s.clients.emplace(std::string(client), counters{index, 0, 0}).first;
        }
        sample = sample_of(it->second, index, elapsed);
        admitted = admits(sample, policy_);
        it->second = {index, sample.current + (admitted ? 1 : 0), sample.previous};
    }
    return decide(sample, admitted, policy_, decision_source::local_backstop);
}

std::size_t local_backstop::size() const
{
    std::size_t n = 0;
    for (const shard& s : shards_) {
        std::lock_guard lock(s.mutex);
        n += s.clients.size();
    }
    return n;
}

window_sample local_backstop::sample_of(const counters& c, std::int64_t index,
                                        std::int64_t elapsed_ms)
{
    if (c.window_index == index) {
        return {c.previous, c.current, elapsed_ms};
    }
    if (c.window_index == index - 1) {
        return {c.current, 0, elapsed_ms};
    }
    return {0, 0, elapsed_ms};
}

void local_backstop::drop_stale(shard& s, std::int64_t index)
{
    // A client last counted two or more windows ago weighs nothing any more.
    std::erase_if(s.clients,
                  [&](const auto& entry) { return entry.second.window_index < index - 1; });
}

void local_backstop::evict_least_used(shard& s, std::int64_t index, std::int64_t elapsed_ms) const
{
    // Stale clients went at the start of this window, so everyone here still weighs something.
    // Freeing an eighth at once keeps this O(n) pass to one per max/8 new clients.
    using iterator = decltype(s.clients)::iterator;
    std::vector<std::pair<std::int64_t, iterator>> weights;
    weights.reserve(s.clients.size());
    for (auto it = s.clients.begin(); it != s.clients.end(); ++it) {
        weights.emplace_back(scaled_count(sample_of(it->second, index, elapsed_ms), policy_), it);
    }
    const std::size_t evict = std::max<std::size_t>(1, max_per_shard_ / 8);
    const auto cut = weights.begin() + static_cast<std::ptrdiff_t>(evict);
    std::nth_element(weights.begin(), cut, weights.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    // Erasing one element of an unordered_map leaves iterators to the others valid.
    for (auto it = weights.begin(); it != cut; ++it) {
        s.clients.erase(it->second);
    }
}

}  // namespace analytics::ratelimit
