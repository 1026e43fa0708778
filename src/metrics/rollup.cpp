#include "metrics/rollup.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>

namespace analytics::metrics {

namespace {

constexpr char format_binary = 1;
constexpr std::size_t doubles_at = 1;
constexpr std::size_t newest_at = doubles_at + 5 * 8;
// A count above 2^53 is no longer exact as a double.
constexpr double max_count = 9007199254740992.0;

void write_double(char* out, double v)
{
    const auto bits = std::bit_cast<std::uint64_t>(v);
    for (std::size_t i = 0; i < 8; ++i) {
        out[i] = static_cast<char>((bits >> (8 * i)) & 0xff);
    }
}

double read_double(std::string_view bytes, std::size_t at)
{
    std::uint64_t bits = 0;
    for (std::size_t i = 0; i < 8; ++i) {
        bits |= std::uint64_t{static_cast<unsigned char>(bytes[at + i])} << (8 * i);
    }
    return std::bit_cast<double>(bits);
}

bool is_order_key(std::string_view s)
{
    return s.size() == order_key_size &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool parse_double(std::string_view text, double& out)
{
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && end == text.data() + text.size();
}

std::optional<rollup> parse_binary(std::string_view bytes)
{
    rollup r;
    const double count = read_double(bytes, doubles_at);
    r.sum = read_double(bytes, doubles_at + 8);
    r.min = read_double(bytes, doubles_at + 16);
    r.max = read_double(bytes, doubles_at + 24);
    r.latest = read_double(bytes, doubles_at + 32);
    r.newest = bytes.substr(newest_at);
    // `!(count >= 1)` also refuses NaN.
    if (!(count >= 1) || count > max_count ||
        count != static_cast<double>(static_cast<std::uint64_t>(count)) ||
        !is_order_key(r.newest)) {
        return std::nullopt;
    }
    r.count = static_cast<std::uint64_t>(count);
    return r;
}

std::optional<rollup> parse_text(std::string_view text)
{
    std::array<std::string_view, 6> part;
    for (std::size_t i = 0; i < part.size(); ++i) {
        const auto space = text.find(' ');
        if ((space == std::string_view::npos) != (i + 1 == part.size())) {
            return std::nullopt;
        }
        part[i] = text.substr(0, space);
        text.remove_prefix(space == std::string_view::npos ? text.size() : space + 1);
    }
    rollup r;
    const auto [end, ec] =
        std::from_chars(part[0].data(), part[0].data() + part[0].size(), r.count);
    if (ec != std::errc{} || end != part[0].data() + part[0].size() || r.count == 0 ||
        !parse_double(part[1], r.sum) || !parse_double(part[2], r.min) ||
        !parse_double(part[3], r.max) || !is_order_key(part[4]) ||
        !parse_double(part[5], r.latest)) {
        return std::nullopt;
    }
    r.newest = part[4];
    return r;
}

}  // namespace

void append_rollup(std::string& out, const rollup& r)
{
    std::array<char, newest_at> head{};
    head[0] = format_binary;
    write_double(head.data() + doubles_at, static_cast<double>(r.count));
    write_double(head.data() + doubles_at + 8, r.sum);
    write_double(head.data() + doubles_at + 16, r.min);
    write_double(head.data() + doubles_at + 24, r.max);
    write_double(head.data() + doubles_at + 32, r.latest);
    out.append(head.data(), head.size());
    out.append(r.newest);
}

std::optional<rollup> parse_rollup(std::string_view bytes)
{
    if (bytes.size() == rollup_size && bytes[0] == format_binary) {
        return parse_binary(bytes);
    }
    return parse_text(bytes);
}

}  // namespace analytics::metrics
