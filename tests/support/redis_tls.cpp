#include "support/redis_tls.hpp"

#include "common/tls_context.hpp"
#include "support/redis_server.hpp"

#include <chrono>
#include <stdexcept>
#include <thread>

namespace analytics::test {

namespace {

using namespace std::chrono_literals;

// The value of `field` in an INFO-style reply ("field:value" lines).
std::string info_field(const std::string& info, const std::string& field)
{
    const auto at = info.find(field + ":");
    if (at == std::string::npos) {
        return {};
    }
    const auto from = at + field.size() + 1;
    return info.substr(from, info.find_first_of("\r\n", from) - from);
}

}  // namespace

const test_pki& shared_pki()
{
    static const test_pki pki;
    return pki;
}

std::shared_ptr<common::tls_context> client_tls(const tls_identity* client_identity)
{
    auto make = [client_identity] {
        auto tls = std::make_shared<common::tls_context>(shared_pki().ca_file());
        if (client_identity != nullptr) {
            tls->use_certificate_chain_file(client_identity->cert_file);
            tls->use_private_key_file(client_identity->key_file);
        }
        return tls;
    };
    if (client_identity != nullptr) {
        return make();
    }
    static const std::shared_ptr<common::tls_context> shared = make();
    return shared;
}

std::uint16_t shared_tls_redis_port()
{
    static const redis_process server({}, {}, true);
    return server.port();
}

void use_tls_where_served(redis::client_options& o)
{
    if (is_tls_port(o.port)) {
        o.tls = client_tls();
    }
}

std::map<std::string, std::string> service_env_for(const redis_process& server)
{
    std::map<std::string, std::string> env{{"REDIS_HOST", redis_test_host()},
                                           {"REDIS_PORT", std::to_string(server.port())}};
    if (server.tls_port() != 0) {
        env.emplace("REDIS_TLS", "true");
        env.emplace("REDIS_TLS_CA_FILE", shared_pki().ca_file());
    }
    return env;
}

tls_cluster::tls_cluster(std::vector<std::string> extra_args)
{
    const test_pki& pki = shared_pki();
    std::vector<std::uint16_t> bus_ports;
    for (int i = 0; i < 3; ++i) {
        // The bus port is given, not derived (TLS port + 10000 may be taken or out of range).
        bus_ports.push_back(free_port());
        std::vector<std::string> args{"--cluster-enabled",
                                      "yes",
                                      "--cluster-port",
                                      std::to_string(bus_ports.back()),
                                      "--cluster-node-timeout",
                                      "1000",
                                      "--tls-cluster",
                                      "yes",
                                      // The nodes present a client certificate to each other.
                                      "--tls-client-cert-file",
                                      pki.client().cert_file,
                                      "--tls-client-key-file",
                                      pki.client().key_file};
        args.insert(args.end(), extra_args.begin(), extra_args.end());
        nodes_.push_back(std::make_unique<redis_process>(std::move(args), std::string(), true));
    }
    const std::pair<int, int> ranges[] = {{0, 5460}, {5461, 10922}, {10923, 16383}};
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
        admin_connection admin(nodes_[i]->port());
        const auto added =
            admin.command({"CLUSTER", "ADDSLOTSRANGE", std::to_string(ranges[i].first),
                           std::to_string(ranges[i].second)});
        if (added != "+OK") {
            throw std::runtime_error("CLUSTER ADDSLOTSRANGE: " + added);
        }
    }
    // With tls-cluster the nodes meet at their TLS port and the given bus port.
    admin_connection first(nodes_[0]->port());
    for (std::size_t i = 1; i < nodes_.size(); ++i) {
        const auto met = first.command({"CLUSTER", "MEET", redis_test_host(),
                                        std::to_string(nodes_[i]->tls_port()),
                                        std::to_string(bus_ports[i])});
        if (met != "+OK") {
            throw std::runtime_error("CLUSTER MEET: " + met);
        }
    }
    wait_healthy();
}

std::vector<redis::node_address> tls_cluster::seeds() const
{
    std::vector<redis::node_address> out;
    for (const auto& n : nodes_) {
        out.push_back({redis_test_host(), n->tls_port()});
    }
    return out;
}

std::string tls_cluster::id_of(const redis_process& node) const
{
    const auto id = admin_connection(node.port()).command({"CLUSTER", "MYID"});
    return id.substr(1);  // "$<id>"
}

void tls_cluster::reassign(std::uint16_t slot, const redis_process& to) const
{
    const std::string id = id_of(to);
    for (const auto& n : nodes_) {
        const auto r = admin_connection(n->port())
                           .command({"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", id});
        if (r != "+OK") {
            throw std::runtime_error("CLUSTER SETSLOT: " + r);
        }
    }
}

void tls_cluster::wait_healthy() const
{
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    std::string why;
    for (;;) {
        why.clear();
        for (const auto& n : nodes_) {
            const std::string info =
                admin_connection(n->port()).command({"CLUSTER", "INFO"}).substr(1);
            if (info_field(info, "cluster_state") != "ok" ||
                info_field(info, "cluster_known_nodes") != std::to_string(nodes_.size())) {
                why = "node " + std::to_string(n->port()) + ": " + info;
                break;
            }
        }
        if (why.empty()) {
            return;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            throw std::runtime_error("the TLS cluster did not become healthy: " + why);
        }
        std::this_thread::sleep_for(50ms);
    }
}

}  // namespace analytics::test
