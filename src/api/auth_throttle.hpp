#pragma once
// Throttles the guessing of a bearer token: once a client has sent `max_failures` wrong tokens
// within `window` of its first one, every admin request from it is refused (429, Retry-After)
// until that window has passed. Other clients are not affected: the right token from another
// client still works.
//
// Memory: at most `max_clients` clients are tracked. A client whose window has passed is
// forgotten when room is needed; when every tracked client is still inside its window, clients
// not tracked share one overflow entry, so more addresses than that are still throttled, as a
// group (a legitimate client joining them then waits out the window too).
//
// Thread safety: process-wide; every function may be called from any thread. One mutex, taken
// only by admin requests.

#include "common/clock.hpp"
#include "ratelimit/client_map.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string_view>

namespace analytics::api {

class auth_throttle {
public:
    struct options {
        std::uint32_t max_failures = 10;
        std::chrono::seconds window{60};
        std::size_t max_clients = 10000;
    };

    explicit auth_throttle(const common::clock& clock) : auth_throttle(clock, options{}) {}
    auth_throttle(const common::clock& clock, options opts);

    auth_throttle(const auth_throttle&) = delete;
    auth_throttle& operator=(const auth_throttle&) = delete;

    /// How long `client` must wait (whole seconds, at least 1), or nothing when it may try now.
    std::optional<std::chrono::seconds> retry_after(std::string_view client);

    /// Counts a wrong token from `client`.
    void failed(std::string_view client);

    /// Clients tracked now (the overflow entry not included).
    std::size_t tracked() const;

private:
    struct window_count {
        common::clock::mono_time started{};
        std::uint32_t failures = 0;
    };

    bool expired(const window_count& w, common::clock::mono_time now) const noexcept;
    std::optional<std::chrono::seconds> wait_for(const window_count& w,
                                                 common::clock::mono_time now) const;
    /// The entry that counts `client`'s failures; nullptr when it has none and none can be made.
    window_count* entry_for(std::string_view client, common::clock::mono_time now, bool create);

    const common::clock& clock_;
    const options opts_;
    mutable std::mutex mutex_;
    ratelimit::client_map<window_count> clients_;
    window_count overflow_;
};

}  // namespace analytics::api
