#pragma once
// Open connections per client across every worker, capped by HTTP_MAX_CONNECTIONS_PER_CLIENT so
// that one client cannot hold every one of HTTP_MAX_CONNECTIONS. The client is the socket's peer
// as the rate limiter keys it (http::client_network: an IPv6 peer counts as its
// RATE_LIMIT_IPV6_PREFIX network). Peers in TRUSTED_PROXIES are not capped: a proxy carries many
// clients, whose own addresses arrive only with their requests.
//
// Memory: one entry per client with a connection open, removed with its last connection, so
// never more entries than open connections.
//
// Thread safety: every function may be called from any thread; one mutex, taken twice per
// connection (not per request).

#include "config/cidr.hpp"

#include <boost/asio/ip/address.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace analytics::http {

class client_connections {
public:
    enum class admission {
        counted,   // the connection counts against its client's cap: call leave() when it ends
        uncapped,  // a trusted proxy: not counted
        refused,   // its client has the most connections allowed open already
    };

    client_connections(std::size_t max_per_client, unsigned ipv6_prefix,
                       std::vector<config::cidr> uncapped);

    client_connections(const client_connections&) = delete;
    client_connections& operator=(const client_connections&) = delete;

    /// Admits a new connection from `peer`.
    admission enter(const boost::asio::ip::address& peer);

    /// Ends a connection that enter() counted.
    void leave(const boost::asio::ip::address& peer);

    /// Clients with at least one counted connection open.
    std::size_t clients() const;

private:
    using key = std::array<unsigned char, 16>;
    struct key_hash {
        std::size_t operator()(const key& k) const noexcept;
    };

    key key_of(const boost::asio::ip::address& peer) const;

    const std::size_t max_per_client_;
    const unsigned ipv6_prefix_;
    const std::vector<config::cidr> uncapped_;
    mutable std::mutex mutex_;
    std::unordered_map<key, std::size_t, key_hash> open_;
};

}  // namespace analytics::http
