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

void local_copy::put(std::string_view key, std::string body, common::clock::mono_time now,
                     common::clock::mono_time expires)
{
    if (max_entries_ == 0) {
        return;
    }
    if (auto it = entries_.find(key); it != entries_.end()) {
        it->second = {std::move(body), expires};
        return;
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
    entries_.emplace(std::string(key), entry{std::move(body), expires});
}

}  // namespace analytics::cache
