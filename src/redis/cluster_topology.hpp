#pragma once
// A Redis Cluster's layout as one node describes it: its nodes (address, role, health) and which
// master serves each range of slots, read from CLUSTER SHARDS (Redis 7) or, from older
// servers, CLUSTER SLOTS.
//
// Thread safety: value types and pure functions.

#include "redis/reply.hpp"

#include <boost/system/result.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace analytics::redis {

enum class node_role { master, replica };

struct cluster_node {
    std::string id;  // the node's 40-character name (empty when the server did not say)
    std::string host;
    std::uint16_t port = 0;
    node_role role = node_role::master;
    std::string health;  // "online", "failed", "loading"; empty when not reported (SLOTS)

    /// "host:port", or "[host]:port" for an IPv6 address.
    std::string address() const;
};

struct slot_range {
    std::uint16_t first = 0;  // inclusive
    std::uint16_t last = 0;   // inclusive
    std::size_t master = 0;   // index into cluster_topology::nodes
};

struct cluster_topology {
    std::vector<cluster_node> nodes;  // each address once
    std::vector<slot_range> ranges;   // slots no range covers have no master
};

/// Reads a CLUSTER SHARDS reply. A node whose endpoint is unknown ("?" or empty) is reached at
/// its IP, and failing that at `queried_host`, the host the command was sent to, as Redis
/// documents. A node's port is its `port` field, or with `tls` its `tls-port` (a cluster with
/// `tls-cluster yes` lists both when it also serves plain TCP); either falls back to the other.
/// Nodes without a usable address are left out, and so are the slots of a shard whose master is
/// left out. errc::unexpected_reply when the reply is not shaped as documented.
boost::system::result<cluster_topology> parse_cluster_shards(const reply& r,
                                                             std::string_view queried_host,
                                                             bool tls = false);

/// Reads a CLUSTER SLOTS reply, with the same rules. Health is not reported there.
boost::system::result<cluster_topology> parse_cluster_slots(const reply& r,
                                                            std::string_view queried_host);

}  // namespace analytics::redis
