#pragma once
// Redis over TLS for tests: the certificates (one test_pki per process: a redis_process with
// TLS presents good(), which names localhost, 127.0.0.1 and ::1, and verifies client
// certificates against the test CA when a client presents one), client TLS contexts trusting the
// test CA, the service's environment for a TLS server, and a Redis Cluster over TLS. How a whole
// run goes over TLS: support/redis_admin.hpp.

#include "redis/client.hpp"
#include "support/redis_admin.hpp"
#include "support/test_pki.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace analytics::common {
class tls_context;
}

namespace analytics::test {

/// This process's test certificates, made on first use.
const test_pki& shared_pki();

/// A client TLS context that trusts the test CA; with `client_identity`, it also presents that
/// certificate (mutual TLS). The one without a client certificate is made once and shared.
std::shared_ptr<common::tls_context> client_tls(const tls_identity* client_identity = nullptr);

/// The service's environment for reaching `server`: REDIS_HOST and REDIS_PORT, and for a TLS
/// server REDIS_TLS and REDIS_TLS_CA_FILE (the test CA).
std::map<std::string, std::string> service_env_for(const redis_process& server);

/// A Redis Cluster of three masters, no replicas, whose nodes speak TLS to clients and to each
/// other (`tls-cluster yes`), on free loopback ports. Started, slots spread evenly, and healthy when constructed; the nodes
/// are killed when it goes.
class tls_cluster {
public:
    /// `extra_args` go to every node (after the defaults, so they win).
    explicit tls_cluster(std::vector<std::string> extra_args = {});

    /// The nodes, in slot order: node 0 serves slots 0-5460, node 1 5461-10922, node 2 the rest.
    const std::vector<std::unique_ptr<redis_process>>& nodes() const { return nodes_; }

    /// The nodes' ports, as seeds for a cluster client.
    std::vector<redis::node_address> seeds() const;

    /// The node's id (CLUSTER MYID).
    std::string id_of(const redis_process& node) const;

    /// Makes `to` the owner of `slot` on every node, as a finished migration does (the slot must
    /// be empty).
    void reassign(std::uint16_t slot, const redis_process& to) const;

private:
    void wait_healthy() const;

    std::vector<std::unique_ptr<redis_process>> nodes_;
};

}  // namespace analytics::test
