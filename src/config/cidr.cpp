#include "config/cidr.hpp"

#include <boost/algorithm/string/classification.hpp>
#include <boost/algorithm/string/predicate.hpp>
#include <boost/algorithm/string/trim.hpp>
#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/address_v6.hpp>

#include <algorithm>
#include <cstddef>

namespace analytics::config {

namespace {

namespace ip = boost::asio::ip;

// A prefix length is 1 to 3 decimal digits without a redundant leading zero, so `/08` (octal to
// some tools) is refused rather than guessed at.
std::optional<unsigned> parse_prefix(std::string_view text, unsigned max)
{
    if (text.empty() || text.size() > 3 || (text.size() > 1 && text.front() == '0')) {
        return std::nullopt;
    }
    unsigned value = 0;
    for (const char ch : text) {
        if (ch < '0' || ch > '9') {
            return std::nullopt;
        }
        value = value * 10 + static_cast<unsigned>(ch - '0');
    }
    if (value > max) {
        return std::nullopt;
    }
    return value;
}

// True when the first `prefix` bits of `a` and `b` agree.
bool prefix_matches(const std::uint8_t* a, const std::uint8_t* b, unsigned prefix)
{
    const unsigned whole = prefix / 8;
    if (!std::equal(a, a + whole, b)) {
        return false;
    }
    const unsigned rest = prefix % 8;
    if (rest == 0) {
        return true;
    }
    const auto mask = static_cast<std::uint8_t>(0xFFu << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

// The longest textual IPv6 address (`ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`) is 45
// characters; anything longer cannot be an address, so parsing never needs the heap.
constexpr std::size_t max_address_text = 64;

}  // namespace

std::optional<ip::address> parse_address(std::string_view text)
{
    if (text.empty() || text.size() >= max_address_text ||
        text.find('%') != std::string_view::npos) {
        return std::nullopt;
    }
    std::array<char, max_address_text> buffer{};
    std::copy(text.begin(), text.end(), buffer.begin());
    boost::system::error_code ec;
    const auto addr = ip::make_address(buffer.data(), ec);
    if (ec) {
        return std::nullopt;
    }
    return addr;
}

std::optional<cidr> cidr::parse(std::string_view text)
{
    const auto slash = text.find('/');
    const auto addr = parse_address(text.substr(0, slash));
    if (!addr) {
        return std::nullopt;
    }

    cidr out;
    out.v4_ = addr->is_v4();
    const unsigned max_prefix = out.v4_ ? 32 : 128;
    if (slash == std::string_view::npos) {
        out.prefix_ = max_prefix;
    } else {
        const auto prefix = parse_prefix(text.substr(slash + 1), max_prefix);
        if (!prefix) {
            return std::nullopt;
        }
        out.prefix_ = *prefix;
    }

    if (out.v4_) {
        const auto bytes = addr->to_v4().to_bytes();
        std::copy(bytes.begin(), bytes.end(), out.bytes_.begin());
    } else {
        const auto bytes = addr->to_v6().to_bytes();
        std::copy(bytes.begin(), bytes.end(), out.bytes_.begin());
    }

    // Host bits are accepted (`10.1.2.3/8` is what people type) but cleared, so that two
    // spellings of one network compare equal and print the same.
    for (unsigned bit = out.prefix_; bit < max_prefix; ++bit) {
        out.bytes_[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
    }
    return out;
}

bool cidr::contains(const boost::asio::ip::address& addr) const
{
    if (v4_) {
        if (addr.is_v4()) {
            return prefix_matches(addr.to_v4().to_bytes().data(), bytes_.data(), prefix_);
        }
        // A dual-stack socket reports IPv4 peers as `::ffff:a.b.c.d`; they are still IPv4
        // clients and must match the IPv4 networks an operator wrote.
        const auto v6 = addr.to_v6();
        if (!v6.is_v4_mapped()) {
            return false;
        }
        const auto v4 = ip::make_address_v4(ip::v4_mapped, v6);
        return prefix_matches(v4.to_bytes().data(), bytes_.data(), prefix_);
    }
    // The reverse case: an IPv6 network written as `::ffff:10.0.0.0/104` contains the plain
    // IPv4 address 10.1.2.3, which is the same host.
    const auto v6 = addr.is_v4() ? ip::make_address_v6(ip::v4_mapped, addr.to_v4()) : addr.to_v6();
    return prefix_matches(v6.to_bytes().data(), bytes_.data(), prefix_);
}

std::string to_string(const cidr& c)
{
    std::string out;
    if (c.v4_) {
        ip::address_v4::bytes_type bytes{};
        std::copy_n(c.bytes_.begin(), bytes.size(), bytes.begin());
        out = ip::address_v4(bytes).to_string();
    } else {
        out = ip::address_v6(c.bytes_).to_string();
    }
    out.push_back('/');
    out.append(std::to_string(c.prefix_));
    return out;
}

std::optional<std::vector<cidr>> parse_cidr_list(std::string_view text)
{
    std::vector<cidr> out;
    if (boost::algorithm::all(text, boost::algorithm::is_any_of(" \t"))) {
        return out;
    }
    // Every item must parse: an empty item (`a,,b` or a trailing comma) is more likely a typo
    // than an intent, and a typo in a trust list must stop start-up rather than widen trust.
    for (;;) {
        const auto comma = text.find(',');
        const auto item = cidr::parse(boost::algorithm::trim_copy_if(
            text.substr(0, comma), boost::algorithm::is_any_of(" \t")));
        if (!item) {
            return std::nullopt;
        }
        out.push_back(*item);
        if (comma == std::string_view::npos) {
            return out;
        }
        text.remove_prefix(comma + 1);
    }
}

std::vector<cidr> default_trusted_proxies()
{
    return *parse_cidr_list("127.0.0.1/32,::1/128");
}

}  // namespace analytics::config
