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
//   type length   1  the type's length (1-64) in the low 7 bits; the high bit says how the
//                    points hold their values (below)
//   type          the type's characters
//   each point    timestamp µs (8, little-endian, signed), fraction digits given (1), place (4,
//                 little-endian): the point's position in the request, or in the batch of
//                 requests, that brought it; of equal timestamps and arrivals the later place
//                 lists first. Then the value:
//                 - high bit set (every block the service writes): its length (1) and its
//                   shortest text, as GET /api/metrics/list prints it ("75.5", "1e+21"), so a
//                   list copies it instead of formatting the number each time it shows it;
//                 - high bit clear (blocks of earlier builds, still read): the value as an
//                   IEEE 754 double (8, little-endian), 21 bytes a point in all.
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
#include <vector>

namespace analytics::metrics {

inline constexpr std::size_t block_header_size = 35;  // up to and including the type length
inline constexpr std::size_t block_order_prefix_size = 8;
inline constexpr std::size_t block_max_points = 65535;
// A point of the binary layout; a point with its value as text takes 14 bytes and the text.
inline constexpr std::size_t block_binary_point_size = 21;
inline constexpr std::size_t block_text_point_size = 14;
// The type-length byte's flag for points that hold their value as text.
inline constexpr unsigned char block_text_values = 0x80;

/// A point as the service stores it.
struct block_point {
    common::timestamp timestamp;
    double value = 0;
    std::uint32_t place = 0;
};

/// A point as a block holds it, read without converting its value.
struct stored_point {
    common::timestamp timestamp;
    std::uint32_t place = 0;
    std::string_view value_text;  // the value's text, when the block holds text
    double value = 0;             // the value, when the block holds a double
    std::size_t next = 0;         // where the block's next point starts
};

/// What orders a block among the others of its set: its newest point's timestamp and its
/// arrival (µs), read from the start of a member without looking at the rest.
struct block_head {
    std::int64_t newest_micros = 0;
    std::int64_t arrival_micros = 0;
};
std::optional<block_head> read_block_head(std::string_view member) noexcept;

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
    /// Reads a member, every point of it; nullopt when it is not a well-formed block (sizes
    /// that do not add up, a value text that is not a JSON number).
    static std::optional<block_view> parse(std::string_view member) noexcept;

    std::string_view order_prefix() const noexcept { return member_.substr(0, 8); }
    std::int64_t arrival_micros() const noexcept { return arrival_; }
    std::uint64_t nonce() const noexcept { return nonce_; }
    std::int64_t minute() const noexcept { return minute_; }
    std::string_view type() const noexcept { return type_; }
    std::size_t size() const noexcept { return points_; }
    /// Whether the points hold their values as text.
    bool text_values() const noexcept { return text_values_; }

    /// Where the first point starts in the member.
    std::size_t first_point() const noexcept { return first_point_; }
    /// The point that starts at `at`: first_point(), or a point's `next` while points remain.
    stored_point point_at(std::size_t at) const noexcept;
    /// Every point, with its value as a number.
    std::vector<block_point> points() const;

private:
    std::string_view member_;
    std::string_view type_;
    std::int64_t arrival_ = 0;
    std::uint64_t nonce_ = 0;
    std::int64_t minute_ = 0;
    std::size_t points_ = 0;
    std::size_t first_point_ = 0;
    bool text_values_ = false;
};

}  // namespace analytics::metrics
