#include "redis/key_tags.hpp"

#include <cstdint>

namespace analytics::redis {

namespace {

// CRC16 slots 534, 1559, 2571, 3594, 4626, 5644, 6671, 7694, 8705, 9728, 10744, 11775, 12794,
// 13824, 14844, 15874: each within 25 of the middle of its sixteenth (key_tags_test checks).
constexpr std::array<std::string_view, tag_count> tags{
    "m0py", "m1qy", "m29p", "m38p", "m4ty", "m5zx", "m6yx", "m7xx",
    "m8wx", "m9vx", "maph", "mbjg", "mccj", "mdd2", "meth", "mff2",
};

}  // namespace

const std::array<std::string_view, tag_count>& key_tags() noexcept
{
    return tags;
}

std::size_t tag_index(std::string_view name) noexcept
{
    std::uint64_t h = 14695981039346656037ULL;
    for (const char c : name) {
        h ^= static_cast<unsigned char>(c);
        h *= 1099511628211ULL;
    }
    return static_cast<std::size_t>(h % tag_count);
}

std::string_view tag_for(std::string_view name) noexcept
{
    return tags[tag_index(name)];
}

}  // namespace analytics::redis
