#pragma once
// Who is the client? API.md: the socket's peer address; `X-Forwarded-For` is believed only when
// the peer is inside TRUSTED_PROXIES, and then its right-most untrusted address is the client.
//
// Thread safety: pure functions.

#include "config/cidr.hpp"

#include <boost/asio/ip/address.hpp>

#include <span>
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

}  // namespace analytics::http
