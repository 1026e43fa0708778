#include "cache/local_copy.hpp"

#include <iterator>

namespace analytics::cache {

const std::string* local_copy::find(std::string_view key, common::clock::mono_time now) const
{
    const auto it = entries_.find(key);
    if (it == entries_.end() || it->second.expires <= now) {
        return nullptr;
    }
    return &it->second.body;
}

local_copy::claim_id local_copy::claim(std::string_view key, common::clock::mono_time now)
{
    if (max_entries_ == 0) {
        return 0;
    }
    const claim_id id = ++last_claim_;
    const entry pending{{}, common::clock::mono_time::min(), id};
    if (auto it = entries_.find(key); it != entries_.end()) {
        it->second = pending;
        return id;
    }
    if (entries_.size() >= max_entries_) {
        // Expired copies go first; if every copy is still live, start over rather than track
        // recency on the hit path.
        for (auto it = entries_.begin(); it != entries_.end();) {
            it = it->second.expires <= now ? entries_.erase(it) : std::next(it);
        }
        if (entries_.size() >= max_entries_) {
            entries_.clear();
        }
    }
    entries_.emplace(std::string(key), pending);
    return id;
}

bool local_copy::put(std::string_view key, claim_id claim, std::string body,
                     common::clock::mono_time expires)
{
    const auto it = entries_.find(key);
    if (claim == 0 || it == entries_.end() || it->second.claim != claim) {
        return false;
    }
    it->second.body = std::move(body);
    it->second.expires = expires;
    return true;
}

void local_copy::invalidate(std::string_view key)
{
    if (const auto it = entries_.find(key); it != entries_.end()) {
        entries_.erase(it);
    }
}

}  // namespace analytics::cache
