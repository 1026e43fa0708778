#pragma once
// The points of the blocks one list has read (GET /api/metrics/list), in list order, and the
// JSON of those it shows. metric_store::list_json reads blocks from Redis in rounds and decides
// which points may show; this class holds what the rounds read, sorts it and writes the body.
//
// A point is kept as what orders it and where it lies (its block, its offset in the member), so
// sorting moves 40 bytes a point and only the points shown are ever formatted. Values of blocks
// that hold their text are copied as they are; timestamps are formatted in place.
//
// The page views the members it is given: they must stay where they are while it lives (the
// strings of Redis replies, which moving the replies does not move).
//
// Thread safety: a value, used by one coroutine.

#include "metrics/block.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace analytics::metrics {

class list_page {
public:
    /// A point read.
    struct entry {
        std::int64_t micros = 0;   // its timestamp
        std::int64_t arrival = 0;  // its block's arrival (µs)
        std::uint64_t nonce = 0;   // its block's nonce
        std::uint32_t place = 0;   // its place in its request or batch
        std::uint32_t block = 0;   // which block it is in (the order add() took them)
        std::size_t at = 0;        // where it starts in its block
    };

    /// Makes room for `blocks` more blocks, and a point for each (a block holds at least one).
    void reserve(std::size_t blocks);

    /// Adds the points of a member, unless its block arrived before `cutoff_us` (it is past
    /// the retention and not yet removed). False when the member is not a block.
    bool add(std::string_view member, std::int64_t cutoff_us);

    /// Puts the points in list order: newest timestamp first; of equal timestamps the later
    /// arrival, then the later place, then the greater nonce (so that the order is total).
    void sort();

    /// The points, in list order once sorted.
    std::span<const entry> points() const noexcept { return points_; }
    std::size_t blocks() const noexcept { return blocks_.size(); }
    std::string_view type_of(const entry& e) const noexcept { return blocks_[e.block].type(); }

    /// Appends a JSON array of `shown` (points of this page), in that order:
    /// `[{"timestamp":"...","value":...,"type":"..."},...]`.
    void append_json(std::string& out, std::span<const entry* const> shown) const;

private:
    std::vector<block_view> blocks_;
    std::vector<entry> points_;
};

}  // namespace analytics::metrics
