#include "metrics/block.hpp"

#include "metrics/metric.hpp"

#include <bit>
#include <limits>

namespace analytics::metrics {

namespace {

void put_big(std::string& out, std::uint64_t v, std::size_t bytes)
{
    for (std::size_t i = bytes; i-- > 0;) {
        out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
}

void put_little(std::string& out, std::uint64_t v, std::size_t bytes)
{
    for (std::size_t i = 0; i < bytes; ++i) {
        out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
}

std::uint64_t get_big(std::string_view s, std::size_t at, std::size_t bytes) noexcept
{
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < bytes; ++i) {
        v = (v << 8) | static_cast<unsigned char>(s[at + i]);
    }
    return v;
}

std::uint64_t get_little(std::string_view s, std::size_t at, std::size_t bytes) noexcept
{
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < bytes; ++i) {
        v |= std::uint64_t{static_cast<unsigned char>(s[at + i])} << (8 * i);
    }
    return v;
}

constexpr std::uint64_t sign_bit = std::uint64_t{1} << 63;

}  // namespace

std::array<char, block_order_prefix_size> order_prefix(std::int64_t micros) noexcept
{
    const std::uint64_t v = std::bit_cast<std::uint64_t>(micros) ^ sign_bit;
    std::array<char, block_order_prefix_size> out{};
    for (std::size_t i = 0; i < out.size(); ++i) {
        out[i] = static_cast<char>((v >> (8 * (out.size() - 1 - i))) & 0xff);
    }
    return out;
}

void append_block_rest(std::string& out, std::int64_t minute, std::size_t points,
                       std::string_view type)
{
    put_big(out, std::bit_cast<std::uint64_t>(minute), 8);
    put_big(out, points, 2);
    out.push_back(static_cast<char>(type.size()));
    out.append(type);
}

void append_point(std::string& out, const block_point& p)
{
    put_little(out, std::bit_cast<std::uint64_t>(p.timestamp.micros), 8);
    out.push_back(static_cast<char>(p.timestamp.fraction_digits));
    put_little(out, std::bit_cast<std::uint64_t>(p.value), 8);
    put_little(out, p.place, 4);
}

std::optional<block_view> block_view::parse(std::string_view member) noexcept
{
    if (member.size() < block_header_size) {
        return std::nullopt;
    }
    block_view b;
    b.member_ = member;
    b.arrival_ = std::bit_cast<std::int64_t>(get_big(member, 8, 8));
    b.nonce_ = get_big(member, 16, 8);
    b.minute_ = std::bit_cast<std::int64_t>(get_big(member, 24, 8));
    b.points_ = static_cast<std::size_t>(get_big(member, 32, 2));
    const std::size_t type_length = static_cast<unsigned char>(member[34]);
    b.first_point_ = block_header_size + type_length;
    if (type_length == 0 || type_length > max_type_length || b.points_ == 0 ||
        member.size() != b.first_point_ + b.points_ * block_point_size) {
        return std::nullopt;
    }
    b.type_ = member.substr(block_header_size, type_length);
    return b;
}

block_point block_view::point(std::size_t i) const noexcept
{
    const std::size_t at = first_point_ + i * block_point_size;
    block_point p;
    p.timestamp.micros = std::bit_cast<std::int64_t>(get_little(member_, at, 8));
    p.timestamp.fraction_digits = static_cast<unsigned char>(member_[at + 8]);
    p.value = std::bit_cast<double>(get_little(member_, at + 9, 8));
    p.place = static_cast<std::uint32_t>(get_little(member_, at + 17, 4));
    return p;
}

}  // namespace analytics::metrics
