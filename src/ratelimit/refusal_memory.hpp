#pragma once
// Clients that Redis refused recently, each with the moment its request would pass again, so that a
// client hammering the API is refused from memory until then (the refused path must cost less than
// the admitted one, or refusing would not protect anything). Remembering is safe because the
// weighted count can only grow through admissions, which were all refused meanwhile; another
// instance admitting the client's requests only moves the moment later.
//
// Owns a map from client to that moment, on the monotonic clock. Memory is bounded: expired
// entries are dropped once the map reaches its capacity (a sweep at most once per expiry), and
// when none has expired a refusal is simply not remembered (the next request asks Redis, which
// is still correct).
//
// Thread safety: none; one instance per worker thread, like the limiter that owns it.

#include "common/clock.hpp"
#include "ratelimit/client_map.hpp"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string_view>

namespace analytics::ratelimit {

class refusal_memory {
public:
    explicit refusal_memory(std::size_t capacity = 10'000)
        : capacity_(std::max<std::size_t>(1, capacity))
    {
    }

    /// Remembers at `now` that `client` is refused for `duration` more.
    void remember(std::string_view client, common::clock::mono_time now,
                  std::chrono::milliseconds duration);

    /// How long `client` is still refused at `now`, or nullopt when it is not (any more).
    std::optional<std::chrono::milliseconds> refused_for(std::string_view client,
                                                         common::clock::mono_time now);

    std::size_t size() const noexcept { return until_.size(); }

private:
    std::size_t capacity_;
    // When the map is full: nothing expires before this, so there is no point sweeping yet.
    common::clock::mono_time next_expiry_{};
    client_map<common::clock::mono_time> until_;
};

}  // namespace analytics::ratelimit
