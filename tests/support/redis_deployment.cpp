#include "support/redis_deployment.hpp"

#include "redis/slot.hpp"
#include "support/redis_cluster.hpp"
#include "support/redis_server.hpp"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

namespace analytics::test {

namespace {

deployment_kind read_kind()
{
    const char* env = std::getenv("REDIS_TEST_DEPLOYMENT");
    const std::string name = env != nullptr ? env : "";
    if (name.empty() || name == "single") {
        return deployment_kind::single;
    }
    if (name == "cluster") {
        return deployment_kind::cluster;
    }
    throw std::runtime_error("REDIS_TEST_DEPLOYMENT: expected single or cluster, got \"" + name +
                             "\"");
}

// Commands about the whole data set: on a cluster each master holds only its part.
bool is_whole_data_set(std::string_view name)
{
    for (const char* c : {"FLUSHDB", "FLUSHALL", "DBSIZE", "KEYS", "SCAN", "RANDOMKEY"}) {
        if (redis::is_command(name, c)) {
            return true;
        }
    }
    return false;
}

}  // namespace

deployment_kind deployment()
{
    static const deployment_kind kind = read_kind();
    return kind;
}

std::string_view deployment_name(deployment_kind kind)
{
    switch (kind) {
    case deployment_kind::single:
        return "single";
    case deployment_kind::cluster:
        return "cluster";
    }
    return "unknown";
}

std::map<std::string, std::string> deployment_env()
{
    switch (deployment()) {
    case deployment_kind::single:
        return {{"REDIS_HOST", redis_test_host()},
                {"REDIS_PORT", std::to_string(redis_test_port())}};
    case deployment_kind::cluster:
        return {{"REDIS_CLUSTER_NODES", redis_cluster::instance().seeds()}};
    }
    return {};
}

std::map<std::string, std::string> unreachable_deployment_env(std::uint16_t closed_port)
{
    const std::string address = "127.0.0.1:" + std::to_string(closed_port);
    switch (deployment()) {
    case deployment_kind::single:
        return {{"REDIS_HOST", "127.0.0.1"}, {"REDIS_PORT", std::to_string(closed_port)}};
    case deployment_kind::cluster:
        return {{"REDIS_CLUSTER_NODES", address}};
    }
    return {};
}

deployment_nodes current_deployment_nodes()
{
    deployment_nodes out;
    switch (deployment()) {
    case deployment_kind::single: {
        const std::string address = redis_test_host() + ":" + std::to_string(redis_test_port());
        out.all.insert(address);
        out.masters.insert(address);
        break;
    }
    case deployment_kind::cluster: {
        const auto& cluster = redis_cluster::instance();
        for (const auto port : cluster.ports()) {
            out.all.insert("127.0.0.1:" + std::to_string(port));
        }
        for (const auto port : cluster.masters()) {
            out.masters.insert("127.0.0.1:" + std::to_string(port));
        }
        break;
    }
    }
    return out;
}

deployment_admin::deployment_admin() : kind_(deployment())
{
    switch (kind_) {
    case deployment_kind::single:
        connections_.emplace(redis_test_port(),
                             std::make_unique<admin_connection>(redis_test_port()));
        break;
    case deployment_kind::cluster: {
        // A test before this one may have moved slots or failed a master over: start from a
        // cluster that is whole again, and learn who serves what.
        const auto& cluster = redis_cluster::instance();
        cluster.wait_healthy();
        slot_owner_ = cluster.slot_owners();
        break;
    }
    }
}

deployment_admin::~deployment_admin() = default;

admin_connection& deployment_admin::route(const std::vector<std::string>& args)
{
    if (kind_ == deployment_kind::single) {
        return *connections_.begin()->second;
    }
    if (!args.empty() && is_whole_data_set(args.front())) {
        throw std::logic_error(args.front() + " covers every master of a cluster: use "
                                              "deployment_admin::flush(), dbsize() or keys()");
    }
    const std::vector<std::string_view> views(args.begin(), args.end());
    const auto key = redis::first_key(views);
    if (!key) {
        throw std::logic_error("a command without a key has no node on a cluster: " +
                               (args.empty() ? std::string() : args.front()));
    }
    const std::uint16_t port = slot_owner_.at(redis::key_slot(*key));
    if (port == 0) {
        throw std::runtime_error("no master serves the slot of " + std::string(*key));
    }
    auto& c = connections_[port];
    if (!c) {
        c = std::make_unique<admin_connection>(port);
    }
    return *c;
}

std::vector<admin_connection*> deployment_admin::masters()
{
    if (kind_ == deployment_kind::single) {
        return {connections_.begin()->second.get()};
    }
    std::vector<admin_connection*> out;
    for (const auto port : std::set<std::uint16_t>(slot_owner_.begin(), slot_owner_.end())) {
        if (port == 0) {
            continue;
        }
        auto& c = connections_[port];
        if (!c) {
            c = std::make_unique<admin_connection>(port);
        }
        out.push_back(c.get());
    }
    return out;
}

std::string deployment_admin::command(std::initializer_list<std::string_view> args)
{
    return command(std::vector<std::string>(args.begin(), args.end()));
}

std::string deployment_admin::command(const std::vector<std::string>& args)
{
    return route(args).command(args);
}

long long deployment_admin::integer(std::initializer_list<std::string_view> args)
{
    const std::string r = command(args);
    if (r.empty() || r[0] != ':') {
        throw std::runtime_error("expected an integer reply, got " + r);
    }
    return std::stoll(r.substr(1));
}

std::vector<std::string> deployment_admin::strings(const std::vector<std::string>& args)
{
    return route(args).strings(args);
}

void deployment_admin::flush()
{
    flush_with(kind_ == deployment_kind::cluster ? "FLUSHALL" : "FLUSHDB");
}

void deployment_admin::flush_all()
{
    flush_with("FLUSHALL");
}

void deployment_admin::flush_with(std::string_view command)
{
    for (auto* c : masters()) {
        const std::string r = c->command({command});
        if (r != "+OK") {
            throw std::runtime_error(std::string(command) + " failed: " + r);
        }
    }
}

long long deployment_admin::dbsize()
{
    long long total = 0;
    for (auto* c : masters()) {
        total += c->integer({"DBSIZE"});
    }
    return total;
}

std::vector<std::string> deployment_admin::keys(std::string_view pattern)
{
    std::vector<std::string> out;
    for (auto* c : masters()) {
        const auto part = c->strings({"KEYS", std::string(pattern)});
        out.insert(out.end(), part.begin(), part.end());
    }
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace analytics::test
