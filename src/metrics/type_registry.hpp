#pragma once
// The cap on distinct metric types (METRICS_MAX_TYPES) and their lifetime: one sorted set in
// Redis, `metrics:types`, holds every registered type scored by when it lapses; a script
// (scripts/registry.lua) admits new types while there is room, exactly, however many workers and
// instances ask at once. A type lapses METRICS_TYPE_IDLE_SECONDS after its last point, when its
// data expires too (store.lua moves both forward together), and then frees its place.
//
// Each worker remembers until when the types it has seen are registered, so storing a known
// type costs no registry call; only a new type (or a lapsed one) and the rare renewal do.
//
// Thread safety: one per worker, on that worker's thread.

#include "common/asio.hpp"
#include "common/clock.hpp"
#include "redis/client.hpp"

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace analytics::metrics {

class type_registry {
public:
    type_registry(redis::client& redis, std::uint32_t max_types, std::chrono::milliseconds lifetime,
                  std::chrono::milliseconds timeout, const common::clock& clock);

    /// `metrics:types`.
    static std::string_view key() noexcept;

    /// Until when `type` is known to be registered (Unix ms), or 0.
    std::int64_t known_until(std::string_view type) const;

    enum class mode { all, each };
    /// Registers `types` (distinct) that are not known yet: `all` admits every one or none
    /// (a batch request), `each` admits them in order while there is room. Writes, per type,
    /// until when it is registered, or 0 when it was refused.
    net::awaitable<boost::system::result<void>> admit(std::span<const std::string_view> types,
                                                      mode m, std::span<std::int64_t> until);

    /// The store moved `type`'s expiry to `expiry_ms`: the registration follows, in the
    /// background. Should that fail, the type is forgotten here, so that its next point
    /// registers it again.
    void renew(std::string_view type, std::int64_t expiry_ms);

private:
    std::int64_t now_ms() const;
    net::awaitable<void> renew_in_background(std::string type, std::int64_t expiry_ms);

    redis::client& redis_;
    std::uint32_t max_types_;
    std::chrono::milliseconds lifetime_;
    std::chrono::milliseconds timeout_;
    const common::clock& clock_;
    std::unordered_map<std::string, std::int64_t> known_;
};

}  // namespace analytics::metrics
