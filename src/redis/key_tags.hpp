#pragma once
// A fixed set of Redis Cluster hash tags, so that data that must be written together by one
// script shares a slot while the whole spreads evenly over a cluster.
//
// A name (a metric type, a client address) belongs to one of `tag_count` tags, by a hash of the
// name that never changes (data written by one build is found by the next). The tags themselves
// are chosen so that tag i's slot lies in the middle of the i-th sixteenth of the 16384 slots:
// a cluster whose masters hold even ranges of slots (what `redis-cli --cluster create` makes)
// gets an even share of tags, and within a tag the names of many writers average out.
//
// Thread safety: pure functions over constants.

#include <array>
#include <cstddef>
#include <string_view>

namespace analytics::redis {

inline constexpr std::size_t tag_count = 16;

/// The tags, in the order of their slots.
const std::array<std::string_view, tag_count>& key_tags() noexcept;

/// The position in key_tags() of `name`'s tag: FNV-1a (64 bits) of the name, modulo tag_count.
std::size_t tag_index(std::string_view name) noexcept;

/// key_tags()[tag_index(name)].
std::string_view tag_for(std::string_view name) noexcept;

}  // namespace analytics::redis
