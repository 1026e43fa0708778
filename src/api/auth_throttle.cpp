#include "api/auth_throttle.hpp"

#include <algorithm>
#include <iterator>
#include <string>

namespace analytics::api {

auth_throttle::auth_throttle(const common::clock& clock, options opts) : clock_(clock), opts_(opts)
{
}

bool auth_throttle::expired(const window_count& w, common::clock::mono_time now) const noexcept
{
    return w.failures == 0 || now - w.started >= opts_.window;
}

std::optional<std::chrono::seconds> auth_throttle::wait_for(const window_count& w,
                                                            common::clock::mono_time now) const
{
    if (expired(w, now) || w.failures < opts_.max_failures) {
        return std::nullopt;
    }
    const auto left = w.started + opts_.window - now;
    // Rounded up: a client that comes back after Retry-After seconds must pass.
    auto seconds = std::chrono::ceil<std::chrono::seconds>(left);
    return std::max(seconds, std::chrono::seconds(1));
}

auth_throttle::window_count* auth_throttle::entry_for(std::string_view client,
                                                      common::clock::mono_time now, bool create)
{
    if (const auto it = clients_.find(client); it != clients_.end()) {
        return &it->second;
    }
    if (clients_.size() >= opts_.max_clients) {
        for (auto it = clients_.begin(); it != clients_.end();) {
            it = expired(it->second, now) ? clients_.erase(it) : std::next(it);
        }
    }
    if (clients_.size() < opts_.max_clients) {
        return create ? &clients_[std::string(client)] : nullptr;
    }
    return &overflow_;
}

std::optional<std::chrono::seconds> auth_throttle::retry_after(std::string_view client)
{
    const auto now = clock_.steady_now();
    std::lock_guard lock(mutex_);
    const window_count* w = entry_for(client, now, false);
    return w == nullptr ? std::nullopt : wait_for(*w, now);
}

void auth_throttle::failed(std::string_view client)
{
    const auto now = clock_.steady_now();
    std::lock_guard lock(mutex_);
    window_count& w = *entry_for(client, now, true);
    if (expired(w, now)) {
        w = window_count{now, 0};
    }
    ++w.failures;
}

std::size_t auth_throttle::tracked() const
{
    std::lock_guard lock(mutex_);
    return clients_.size();
}

}  // namespace analytics::api
