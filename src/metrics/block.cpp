#include "metrics/block.hpp"

#include "metrics/metric.hpp"

#include <boost/endian/conversion.hpp>

#include <bit>
#include <charconv>

namespace analytics::metrics {

namespace {

namespace endian = boost::endian;

void put_big(std::string& out, std::uint64_t v, std::size_t bytes)
{
    for (std::size_t i = bytes; i-- > 0;) {
        out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
}

const unsigned char* bytes_at(std::string_view s, std::size_t at) noexcept
{
    return reinterpret_cast<const unsigned char*>(s.data() + at);
}

bool is_digit(char c) noexcept
{
    return c >= '0' && c <= '9';
}

// A JSON number, as std::to_chars writes one: -?(0|[1-9][0-9]*)(.[0-9]+)?(e[+-][0-9]+)?, which a
// list copies into its answer as it is.
bool is_value_text(std::string_view s) noexcept
{
    std::size_t i = 0;
    const auto digits = [&] {
        const std::size_t from = i;
        while (i < s.size() && is_digit(s[i])) {
            ++i;
        }
        return i - from;
    };
    if (i < s.size() && s[i] == '-') {
        ++i;
    }
    const std::size_t first = i;
    const std::size_t whole = digits();
    if (whole == 0 || (whole > 1 && s[first] == '0')) {
        return false;
    }
    if (i < s.size() && s[i] == '.') {
        ++i;
        if (digits() == 0) {
            return false;
        }
    }
    if (i < s.size() && s[i] == 'e') {
        ++i;
        if (i == s.size() || (s[i] != '+' && s[i] != '-')) {
            return false;
        }
        ++i;
        if (digits() == 0) {
            return false;
        }
    }
    return i == s.size();
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
    out.push_back(static_cast<char>(type.size() | block_text_values));
    out.append(type);
}

void append_point(std::string& out, const block_point& p)
{
    // Built whole on the stack and appended once.
    std::array<char, block_text_point_size + value_text_max_size> bytes;
    auto* at = reinterpret_cast<unsigned char*>(bytes.data());
    endian::store_little_s64(at, p.timestamp.micros);
    at[8] = static_cast<unsigned char>(p.timestamp.fraction_digits);
    endian::store_little_u32(at + 9, p.place);
    char* text = bytes.data() + block_text_point_size;
    const auto size = static_cast<std::size_t>(write_value(text, p.value) - text);
    at[13] = static_cast<unsigned char>(size);
    out.append(bytes.data(), block_text_point_size + size);
}

std::optional<block_head> read_block_head(std::string_view member) noexcept
{
    if (member.size() < block_header_size) {
        return std::nullopt;
    }
    return block_head{
        std::bit_cast<std::int64_t>(endian::load_big_u64(bytes_at(member, 0)) ^ sign_bit),
        std::bit_cast<std::int64_t>(endian::load_big_u64(bytes_at(member, 8)))};
}

std::optional<block_view> block_view::parse(std::string_view member) noexcept
{
    if (member.size() < block_header_size) {
        return std::nullopt;
    }
    block_view b;
    b.member_ = member;
    b.arrival_ = std::bit_cast<std::int64_t>(endian::load_big_u64(bytes_at(member, 8)));
    b.nonce_ = endian::load_big_u64(bytes_at(member, 16));
    b.minute_ = std::bit_cast<std::int64_t>(endian::load_big_u64(bytes_at(member, 24)));
    b.points_ = endian::load_big_u16(bytes_at(member, 32));
    const auto type_byte = static_cast<unsigned char>(member[34]);
    b.text_values_ = (type_byte & block_text_values) != 0;
    const std::size_t type_length = type_byte & 0x7fU;
    b.first_point_ = block_header_size + type_length;
    if (type_length == 0 || type_length > max_type_length || b.points_ == 0 ||
        member.size() < b.first_point_) {
        return std::nullopt;
    }
    b.type_ = member.substr(block_header_size, type_length);
    if (!b.text_values_) {
        if (member.size() != b.first_point_ + b.points_ * block_binary_point_size) {
            return std::nullopt;
        }
        return b;
    }
    // Every value's length and text are checked here, once, so that reading the points later
    // need not: a list copies the texts as they are.
    std::size_t at = b.first_point_;
    for (std::size_t i = 0; i < b.points_; ++i) {
        if (member.size() - at < block_text_point_size) {
            return std::nullopt;
        }
        const std::size_t length = static_cast<unsigned char>(member[at + 13]);
        at += block_text_point_size;
        if (length > value_text_max_size || member.size() - at < length ||
            !is_value_text(member.substr(at, length))) {
            return std::nullopt;
        }
        at += length;
    }
    if (at != member.size()) {
        return std::nullopt;
    }
    return b;
}

stored_point block_view::point_at(std::size_t at) const noexcept
{
    stored_point p;
    p.timestamp.micros = endian::load_little_s64(bytes_at(member_, at));
    p.timestamp.fraction_digits = static_cast<unsigned char>(member_[at + 8]);
    if (text_values_) {
        p.place = endian::load_little_u32(bytes_at(member_, at + 9));
        const std::size_t length = static_cast<unsigned char>(member_[at + 13]);
        p.value_text = member_.substr(at + block_text_point_size, length);
        p.next = at + block_text_point_size + length;
    } else {
        p.value = std::bit_cast<double>(endian::load_little_u64(bytes_at(member_, at + 9)));
        p.place = endian::load_little_u32(bytes_at(member_, at + 17));
        p.next = at + block_binary_point_size;
    }
    return p;
}

std::vector<block_point> block_view::points() const
{
    std::vector<block_point> out;
    out.reserve(points_);
    std::size_t at = first_point_;
    for (std::size_t i = 0; i < points_; ++i) {
        const stored_point p = point_at(at);
        block_point& q = out.emplace_back(block_point{p.timestamp, p.value, p.place});
        if (text_values_) {
            // Checked by parse(): a JSON number, which reads back as exactly the value written.
            std::from_chars(p.value_text.data(), p.value_text.data() + p.value_text.size(),
                            q.value);
        }
        at = p.next;
    }
    return out;
}

}  // namespace analytics::metrics
