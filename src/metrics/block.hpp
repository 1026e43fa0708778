#pragma once
// A block: the points of one metric type that one store call writes within one minute of their
// timestamps, stored as ONE sorted-set member in the type's set and in its tag's index, so that
// Redis does per block, not per point, the work of keeping them (scripts/store.lua).
//
// Member layout (all integers big-endian unless said otherwise):
//   order prefix  8  the newest point's timestamp (µs since the Unix epoch) with the sign bit
//                    flipped, so that members sort by it (every member has score 0 and the
//                    sets are read in lexicographic order)
//   arrival       8  when the store call was made (µs, the service's clock): retention counts
//                    from it, and of equal timestamps the later arrival lists first
//   nonce         8  a random number of the call (makes members unique)
//   minute        8  the minute since the epoch that every point's timestamp lies in
//   points        2  how many points follow
//   type length   1, then the type (1-64 characters)
//   each point   21  timestamp µs (8, little-endian, signed), fraction digits given (1),
//                    value (8, IEEE 754 double, little-endian), place (4, little-endian): the
//                    point's position in the request, or in the batch of requests, that brought
//                    it; of equal timestamps and arrivals the later place lists first
// The service writes the whole member; the store script reads only the arrival, the minute and
// the point count (when it trims) and the type (for its retention pass).
//
// Thread safety: pure functions over values.

#include "common/rfc3339.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace analytics::metrics {

inline constexpr std::size_t block_header_size = 35;  // up to and including the type length
inline constexpr std::size_t block_point_size = 21;
inline constexpr std::size_t block_order_prefix_size = 8;
inline constexpr std::size_t block_max_points = 65535;

/// A point as a block holds it.
struct block_point {
    common::timestamp timestamp;
    double value = 0;
    std::uint32_t place = 0;
};

/// The 8-byte order prefix of a block whose newest point is stamped `micros`.
std::array<char, block_order_prefix_size> order_prefix(std::int64_t micros) noexcept;

/// Appends what the service writes after the order prefix: minute, point count, type, then the
/// header of the points; append_point() adds each point.
void append_block_rest(std::string& out, std::int64_t minute, std::size_t points,
                       std::string_view type);
void append_point(std::string& out, const block_point& p);

/// A block read back from Redis; views the member.
class block_view {
public:
    /// Reads a member; nullopt when it is not a well-formed block.
    static std::optional<block_view> parse(std::string_view member) noexcept;

    std::string_view order_prefix() const noexcept { return member_.substr(0, 8); }
    std::int64_t arrival_micros() const noexcept { return arrival_; }
    std::uint64_t nonce() const noexcept { return nonce_; }
    std::int64_t minute() const noexcept { return minute_; }
    std::string_view type() const noexcept { return type_; }
    std::size_t size() const noexcept { return points_; }
    block_point point(std::size_t i) const noexcept;

private:
    std::string_view member_;
    std::string_view type_;
    std::int64_t arrival_ = 0;
    std::uint64_t nonce_ = 0;
    std::int64_t minute_ = 0;
    std::size_t points_ = 0;
    std::size_t first_point_ = 0;
};

}  // namespace analytics::metrics
