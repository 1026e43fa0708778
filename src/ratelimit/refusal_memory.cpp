#include "ratelimit/refusal_memory.hpp"

#include <algorithm>
#include <string>

namespace analytics::ratelimit {

void refusal_memory::remember(std::string_view client, common::clock::mono_time now,
                              std::chrono::milliseconds duration)
{
    const auto until = now + duration;
    if (auto it = until_.find(client); it != until_.end()) {
        it->second = until;
        return;
    }
    if (until_.size() >= capacity_) {
        if (now < next_expiry_) {
            return;
        }
        std::erase_if(until_, [&](const auto& entry) { return entry.second <= now; });
        if (until_.size() >= capacity_) {
            next_expiry_ =
                std::min_element(until_.begin(), until_.end(), [](const auto& a, const auto& b) {
                    return a.second < b.second;
                })->second;
            return;
        }
    }
    until_.emplace(std::string(client), until);
}

std::optional<std::chrono::milliseconds> refusal_memory::refused_for(std::string_view client,
                                                                     common::clock::mono_time now)
{
    const auto it = until_.find(client);
    if (it == until_.end()) {
        return std::nullopt;
    }
    if (now >= it->second) {
        until_.erase(it);
        return std::nullopt;
    }
    return std::chrono::ceil<std::chrono::milliseconds>(it->second - now);
}

}  // namespace analytics::ratelimit
