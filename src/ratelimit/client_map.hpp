#pragma once
// A hash map keyed by client address text that can be searched with a std::string_view, so the
// per-request lookups of the refusal memory and the local backstop allocate nothing.
//
// Thread safety: that of std::unordered_map.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace analytics::ratelimit {

struct client_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept
    {
        return std::hash<std::string_view>{}(s);
    }
};

template <class Value>
using client_map = std::unordered_map<std::string, Value, client_hash, std::equal_to<>>;

}  // namespace analytics::ratelimit
