#pragma once
// Blocks in the layout that builds before value text wrote (metrics/block.hpp: the type-length
// byte's high bit clear, 21 bytes a point with its value as a double), which Redis may still
// hold and the service must still read. Written byte by byte here, independently of the
// service's own writer.

#include "metrics/block.hpp"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace analytics::test {

/// A whole member: order prefix, arrival, nonce, minute, point count, type, points.
inline std::string binary_block(std::int64_t arrival_us, std::uint64_t nonce, std::int64_t minute,
                                std::string_view type, std::span<const metrics::block_point> points)
{
    const auto put = [](std::string& out, std::uint64_t v, int bytes, bool big_endian) {
        for (int i = 0; i < bytes; ++i) {
            const int shift = 8 * (big_endian ? bytes - 1 - i : i);
            out.push_back(static_cast<char>((v >> shift) & 0xff));
        }
    };
    std::int64_t newest = points.front().timestamp.micros;
    for (const auto& p : points) {
        newest = std::max(newest, p.timestamp.micros);
    }
    const auto prefix = metrics::order_prefix(newest);
    std::string out(prefix.data(), prefix.size());
    put(out, std::bit_cast<std::uint64_t>(arrival_us), 8, true);
    put(out, nonce, 8, true);
    put(out, std::bit_cast<std::uint64_t>(minute), 8, true);
    put(out, points.size(), 2, true);
    out.push_back(static_cast<char>(type.size()));
    out.append(type);
    for (const auto& p : points) {
        put(out, std::bit_cast<std::uint64_t>(p.timestamp.micros), 8, false);
        out.push_back(static_cast<char>(p.timestamp.fraction_digits));
        put(out, std::bit_cast<std::uint64_t>(p.value), 8, false);
        put(out, p.place, 4, false);
    }
    return out;
}

}  // namespace analytics::test
