#pragma once
// An IPv4 or IPv6 network in CIDR notation (`10.0.0.0/8`, `::1/128`), for TRUSTED_PROXIES.
//
// Thread safety: a value type; const member functions are safe from any thread.

#include <boost/asio/ip/address.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace analytics::config {

class cidr {
public:
    /// Parses `a.b.c.d/n` (n 0..32), an IPv6 address with `/n` (n 0..128), or a bare address
    /// (a host route). Returns nullopt on anything else.
    static std::optional<cidr> parse(std::string_view text);

    /// True when `addr` lies inside this network. An IPv4-mapped IPv6 address
    /// (`::ffff:10.0.0.1`) matches the IPv4 network it maps to.
    bool contains(const boost::asio::ip::address& addr) const;

    bool operator==(const cidr&) const = default;

    /// The network in canonical form with host bits cleared (`10.0.0.0/8`, `::1/128`), for
    /// the start-up log and `--help`.
    friend std::string to_string(const cidr& c);

private:
    bool v4_ = true;
    std::array<std::uint8_t, 16> bytes_{};
    unsigned prefix_ = 0;
};

/// Parses a comma-separated list (spaces around items allowed). Returns nullopt when any item
/// is malformed; an empty string gives an empty list (trust nobody).
std::optional<std::vector<cidr>> parse_cidr_list(std::string_view text);

/// Parses an IPv4 or IPv6 address literal without a zone id (`fe80::1%eth0` is refused: a
/// scope names an interface, not a network or a client). Never throws, never allocates.
std::optional<boost::asio::ip::address> parse_address(std::string_view text);

/// `127.0.0.1/32,::1/128`, the default of TRUSTED_PROXIES (docs/contract.md, Rate limiting).
std::vector<cidr> default_trusted_proxies();

}  // namespace analytics::config
