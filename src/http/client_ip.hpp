#pragma once
// Who is the client? docs/contract.md, Rate limiting: the socket's peer address; `X-Forwarded-For`
// is believed only when the peer is inside TRUSTED_PROXIES, and then its right-most untrusted
// address is the client.
//
// Thread safety: pure functions.

#include "config/cidr.hpp"

#include <boost/asio/ip/address.hpp>

#include <span>
#include <string>
#include <string_view>

namespace analytics::http {

/// Returns the client address for rate limiting and logs.
/// Walks `x_forwarded_for` (comma-separated, possibly several header lines already joined with
/// commas) from the right, skipping trusted hops. Malformed entries stop the walk: the last
/// address known to be good (the nearest trusted hop) is used, so garbage is never trusted.
/// Entries may be IPv4, IPv6, `[v6]`, or carry a port (`1.2.3.4:5678`, `[::1]:80`).
boost::asio::ip::address client_address(const boost::asio::ip::address& peer,
                                        std::string_view x_forwarded_for,
                                        std::span<const config::cidr> trusted);

/// True when `peer` lies in one of `trusted` (TRUSTED_PROXIES).
bool is_trusted(const boost::asio::ip::address& peer, std::span<const config::cidr> trusted);

/// The client as limits count it: an IPv4 address as it is; an IPv6 address reduced to its
/// network of `ipv6_prefix` bits (RATE_LIMIT_IPV6_PREFIX), because one host is commonly given a
/// whole /64 and could otherwise multiply any per-address limit by its addresses.
boost::asio::ip::address client_network(const boost::asio::ip::address& client,
                                        unsigned ipv6_prefix);

/// Every `X-Forwarded-For` line of a request's header fields (Beast's `http::fields`, or
/// anything with the same `equal_range`) joined with commas, in the order received: the
/// `x_forwarded_for` argument of client_address().
template <class Fields>
std::string joined_forwarded_for(const Fields& fields)
{
    std::string out;
    auto range = fields.equal_range("X-Forwarded-For");
    for (auto it = range.first; it != range.second; ++it) {
        if (!out.empty()) {
            out.push_back(',');
        }
        out.append(it->value());
    }
    return out;
}

}  // namespace analytics::http
