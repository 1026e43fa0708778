#pragma once
// The Redis deployment the end-to-end tests run the service against, chosen by the environment
// variable REDIS_TEST_DEPLOYMENT, so that one suite runs unchanged against each kind:
//
//   single   (default) the test redis-server on 127.0.0.1:REDIS_TEST_PORT
//   cluster  the test Redis Cluster (support/redis_cluster.hpp: REDIS_CLUSTER_TEST_NODES, or a
//            private one started on first use); the service gets REDIS_CLUSTER_NODES
//
// What differs between kinds lives here and nowhere else: the variables that point the service
// at the deployment, and an admin connection that arranges and inspects its data from the
// outside (routing each command to the node that holds its key). Another kind (Redis over TLS,
// say) is one more enumerator and one more case in each function of redis_deployment.cpp.
//
// ./test.sh runs the e2e suite once per kind (tests/CMakeLists.txt); a test that is about one
// kind's behaviour only is left out of the others' runs there, with its reason.
//
// Thread safety: deployment() and deployment_env() may be called from any thread;
// a deployment_admin belongs to one thread.

#include "support/redis_admin.hpp"

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace analytics::test {

enum class deployment_kind { single, cluster };

/// The kind REDIS_TEST_DEPLOYMENT names (read once; an unknown name throws).
deployment_kind deployment();

/// "single", "cluster".
std::string_view deployment_name(deployment_kind kind);

/// The variables that point the service at the deployment (REDIS_HOST and REDIS_PORT, or
/// REDIS_CLUSTER_NODES), to be merged into its environment.
std::map<std::string, std::string> deployment_env();

/// Variables that point the service at a deployment of the same kind where nothing listens
/// on `closed_port` (the one server, or every seed of the cluster), for tests of a service
/// without Redis.
std::map<std::string, std::string> unreachable_deployment_env(std::uint16_t closed_port);

/// Every node's address (host:port) as /health lists it, and which of them are masters that
/// serve slots (the one server is its own master).
struct deployment_nodes {
    std::set<std::string> all;
    std::set<std::string> masters;
};
deployment_nodes current_deployment_nodes();

/// A blocking admin connection to the whole deployment, independent of the client under test.
/// Keyed commands go to the node that serves their key; commands about the whole data set have
/// functions of their own, since a cluster spreads it over its masters.
class deployment_admin {
public:
    deployment_admin();
    ~deployment_admin();

    deployment_admin(const deployment_admin&) = delete;
    deployment_admin& operator=(const deployment_admin&) = delete;

    /// A command with a key (its first key decides where it goes), as admin_connection::command.
    std::string command(std::initializer_list<std::string_view> args);
    std::string command(const std::vector<std::string>& args);

    /// An integer reply as a number, as admin_connection::integer.
    long long integer(std::initializer_list<std::string_view> args);

    /// An array or bulk reply's strings, as admin_connection::strings.
    std::vector<std::string> strings(const std::vector<std::string>& args);

    /// Removes every key of the database the service uses (FLUSHDB; on a cluster, which has
    /// one database, FLUSHALL on every master).
    void flush();

    /// FLUSHALL (on every master of a cluster).
    void flush_all();

    /// The number of keys (DBSIZE, summed over the masters).
    long long dbsize();

    /// Every key matching `pattern` (KEYS on each master), sorted.
    std::vector<std::string> keys(std::string_view pattern);

private:
    // The connection to the node that serves `args`' key.
    admin_connection& route(const std::vector<std::string>& args);
    std::vector<admin_connection*> masters();
    void flush_with(std::string_view command);

    deployment_kind kind_;
    std::vector<std::uint16_t> slot_owner_;  // cluster: slot -> master port
    std::map<std::uint16_t, std::unique_ptr<admin_connection>> connections_;  // by port
};

}  // namespace analytics::test
