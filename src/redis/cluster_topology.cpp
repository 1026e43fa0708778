#include "redis/cluster_topology.hpp"

#include "redis/errc.hpp"
#include "redis/slot.hpp"

#include <optional>
#include <utility>

namespace analytics::redis {

namespace {

using boost::system::result;

// Adds a node, or finds the one already listed at its address, and returns its index.
std::size_t add_node(cluster_topology& t, cluster_node n)
{
    const std::string address = n.address();
    for (std::size_t i = 0; i < t.nodes.size(); ++i) {
        if (t.nodes[i].address() == address) {
            // A node listed again (CLUSTER SLOTS repeats a master per range) keeps its first
            // entry, except that a master outranks a replica entry of the same address.
            if (n.role == node_role::master) {
                t.nodes[i].role = node_role::master;
            }
            return i;
        }
    }
    t.nodes.push_back(std::move(n));
    return t.nodes.size() - 1;
}

bool usable_host(std::string_view h)
{
    return !h.empty() && h != "?";
}

std::optional<std::uint16_t> as_port(const reply& r)
{
    if (r.type != reply::kind::integer || r.integer <= 0 || r.integer > 65535) {
        return std::nullopt;
    }
    return static_cast<std::uint16_t>(r.integer);
}

std::optional<std::uint16_t> as_slot(const reply& r)
{
    if (r.type != reply::kind::integer || r.integer < 0 || r.integer >= slot_count) {
        return std::nullopt;
    }
    return static_cast<std::uint16_t>(r.integer);
}

// A RESP2 map: a flat array of name, value, name, value...
const reply* field(const reply& map, std::string_view name)
{
    for (std::size_t i = 0; i + 1 < map.elements.size(); i += 2) {
        if (map.elements[i].str == name) {
            return &map.elements[i + 1];
        }
    }
    return nullptr;
}

std::string_view text_field(const reply& map, std::string_view name)
{
    const reply* f = field(map, name);
    return f != nullptr && (f->type == reply::kind::string || f->type == reply::kind::status)
               ? std::string_view(f->str)
               : std::string_view{};
}

}  // namespace

std::string cluster_node::address() const
{
    const bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

result<cluster_topology> parse_cluster_shards(const reply& r, std::string_view queried_host,
                                              bool tls)
{
    if (r.type != reply::kind::array) {
        return errc::unexpected_reply;
    }
    cluster_topology out;
    for (const reply& shard : r.elements) {
        if (shard.type != reply::kind::array) {
            return errc::unexpected_reply;
        }
        const reply* slots = field(shard, "slots");
        const reply* nodes = field(shard, "nodes");
        if (slots == nullptr || nodes == nullptr || slots->type != reply::kind::array ||
            nodes->type != reply::kind::array || slots->elements.size() % 2 != 0) {
            return errc::unexpected_reply;
        }
        std::optional<std::size_t> master;
        for (const reply& node : nodes->elements) {
            if (node.type != reply::kind::array) {
                return errc::unexpected_reply;
            }
            const std::string_view wanted = tls ? "tls-port" : "port";
            const reply* port_field = field(node, wanted);
            if (port_field == nullptr) {
                port_field = field(node, tls ? "port" : "tls-port");
            }
            const auto port = port_field != nullptr ? as_port(*port_field) : std::nullopt;
            std::string_view host = text_field(node, "endpoint");
            if (!usable_host(host)) {
                host = text_field(node, "ip");
            }
            if (!usable_host(host)) {
                host = queried_host;
            }
            if (!port || !usable_host(host)) {
                continue;
            }
            cluster_node n;
            n.id = std::string(text_field(node, "id"));
            n.host = std::string(host);
            n.port = *port;
            n.role = text_field(node, "role") == "master" ? node_role::master : node_role::replica;
            n.health = std::string(text_field(node, "health"));
            const bool is_master = n.role == node_role::master;
            const std::size_t index = add_node(out, std::move(n));
            if (is_master) {
                master = index;
            }
        }
        for (std::size_t i = 0; i < slots->elements.size(); i += 2) {
            const auto first = as_slot(slots->elements[i]);
            const auto last = as_slot(slots->elements[i + 1]);
            if (!first || !last || *first > *last) {
                return errc::unexpected_reply;
            }
            if (master) {
                out.ranges.push_back({*first, *last, *master});
            }
        }
    }
    return out;
}

result<cluster_topology> parse_cluster_slots(const reply& r, std::string_view queried_host)
{
    if (r.type != reply::kind::array) {
        return errc::unexpected_reply;
    }
    cluster_topology out;
    for (const reply& range : r.elements) {
        if (range.type != reply::kind::array || range.elements.size() < 3) {
            return errc::unexpected_reply;
        }
        const auto first = as_slot(range.elements[0]);
        const auto last = as_slot(range.elements[1]);
        if (!first || !last || *first > *last) {
            return errc::unexpected_reply;
        }
        // [host, port, id, (metadata)]: the master first, then its replicas.
        for (std::size_t i = 2; i < range.elements.size(); ++i) {
            const reply& node = range.elements[i];
            if (node.type != reply::kind::array || node.elements.size() < 2 ||
                node.elements[0].type != reply::kind::string) {
                return errc::unexpected_reply;
            }
            const auto port = as_port(node.elements[1]);
            std::string_view host = node.elements[0].str;
            if (!usable_host(host)) {
                host = queried_host;
            }
            if (!port || !usable_host(host)) {
                continue;
            }
            cluster_node n;
            n.host = std::string(host);
            n.port = *port;
            if (node.elements.size() > 2 && node.elements[2].type == reply::kind::string) {
                n.id = node.elements[2].str;
            }
            n.role = i == 2 ? node_role::master : node_role::replica;
            const std::size_t index = add_node(out, std::move(n));
            if (i == 2) {
                out.ranges.push_back({*first, *last, index});
            }
        }
    }
    return out;
}

}  // namespace analytics::redis
