#include "http/client_ip.hpp"

#include <boost/algorithm/string/classification.hpp>
#include <boost/algorithm/string/predicate.hpp>
#include <boost/algorithm/string/trim.hpp>
#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/address_v6.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <optional>

namespace analytics::http {

namespace {

namespace ip = boost::asio::ip;

bool is_port(std::string_view s)
{
    if (s.empty() || s.size() > 5) {
        return false;
    }
    unsigned value = 0;
    for (const char ch : s) {
        if (ch < '0' || ch > '9') {
            return false;
        }
        value = value * 10 + static_cast<unsigned>(ch - '0');
    }
    return value <= 65535;
}

// One X-Forwarded-For entry: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]`,
// `[2001:db8::1]:443`.
std::optional<ip::address> parse_entry(std::string_view entry)
{
    if (!entry.empty() && entry.front() == '[') {
        const auto close = entry.find(']');
        if (close == std::string_view::npos) {
            return std::nullopt;
        }
        const auto rest = entry.substr(close + 1);
        if (!rest.empty() && (rest.front() != ':' || !is_port(rest.substr(1)))) {
            return std::nullopt;
        }
        const auto addr = config::parse_address(entry.substr(1, close - 1));
        if (!addr || !addr->is_v6()) {
            return std::nullopt;
        }
        return addr;
    }
    // More than one colon can only be a bare IPv6 address; exactly one is IPv4 with a port.
    const auto colon = entry.find(':');
    if (colon != std::string_view::npos && entry.find(':', colon + 1) == std::string_view::npos) {
        if (!is_port(entry.substr(colon + 1))) {
            return std::nullopt;
        }
        const auto addr = config::parse_address(entry.substr(0, colon));
        if (!addr || !addr->is_v4()) {
            return std::nullopt;
        }
        return addr;
    }
    return config::parse_address(entry);
}

// A dual-stack socket reports IPv4 peers as `::ffff:a.b.c.d`; one client must have one key for
// rate limiting and one spelling in logs, whichever way it arrived.
ip::address unmapped(const ip::address& addr)
{
    if (addr.is_v6() && addr.to_v6().is_v4_mapped()) {
        return ip::make_address_v4(ip::v4_mapped, addr.to_v6());
    }
    return addr;
}

}  // namespace

bool is_trusted(const ip::address& peer, std::span<const config::cidr> trusted)
{
    return std::any_of(trusted.begin(), trusted.end(),
                       [&](const config::cidr& net) { return net.contains(peer); });
}

ip::address client_network(const ip::address& client, unsigned ipv6_prefix)
{
    if (!client.is_v6() || client.to_v6().is_v4_mapped()) {
        return unmapped(client);
    }
    if (ipv6_prefix >= 128) {
        return client;
    }
    auto bytes = client.to_v6().to_bytes();
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        const unsigned first_bit = static_cast<unsigned>(i) * 8;
        if (first_bit >= ipv6_prefix) {
            bytes[i] = 0;
        } else if (first_bit + 8 > ipv6_prefix) {
            bytes[i] &= static_cast<unsigned char>(0xff << (first_bit + 8 - ipv6_prefix));
        }
    }
    return ip::address_v6(bytes);
}

boost::asio::ip::address client_address(const boost::asio::ip::address& peer,
                                        std::string_view x_forwarded_for,
                                        std::span<const config::cidr> trusted)
{
    // docs/contract.md, Rate limiting: the header is believed only when the hop that sent it is a
    // trusted proxy.
    if (!is_trusted(peer, trusted) ||
        boost::algorithm::all(x_forwarded_for, boost::algorithm::is_any_of(" \t"))) {
        return unmapped(peer);
    }

    // Each proxy appends the address it received the request from, so reading from the right
    // and stopping at the first hop we do not trust finds the last address that a trusted
    // proxy vouched for. Everything left of it is client-controlled and could be forged.
    ip::address nearest_trusted = peer;
    std::string_view rest = x_forwarded_for;
    for (;;) {
        const auto comma = rest.rfind(',');
        const auto entry = boost::algorithm::trim_copy_if(
            comma == std::string_view::npos ? rest : rest.substr(comma + 1),
            boost::algorithm::is_any_of(" \t"));
        const auto addr = parse_entry(entry);
        if (!addr) {
            return unmapped(nearest_trusted);
        }
        if (!is_trusted(*addr, trusted)) {
            return unmapped(*addr);
        }
        nearest_trusted = *addr;
        if (comma == std::string_view::npos) {
            // Every hop is trusted: the left-most one is the client (nginx's real_ip_recursive).
            return unmapped(nearest_trusted);
        }
        rest = rest.substr(0, comma);
    }
}

}  // namespace analytics::http
