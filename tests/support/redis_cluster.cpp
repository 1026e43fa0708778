#include "support/redis_cluster.hpp"

#include "support/redis_admin.hpp"

#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <utility>

extern char** environ;

namespace analytics::test {

namespace {

using namespace std::chrono_literals;

// One line of CLUSTER NODES.
struct node_line {
    std::string id;
    std::uint16_t port = 0;
    bool master = false;
    bool failed = false;  // fail or fail? (suspected)
    std::string master_id;
    std::vector<std::pair<int, int>> slots;
    bool migrating = false;  // a [slot->-id] or [slot-<-id] entry
};

std::vector<std::string> split(const std::string& text, char sep)
{
    std::vector<std::string> out;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, sep)) {
        if (!item.empty() && item.back() == '\r') {
            item.pop_back();
        }
        if (!item.empty()) {
            out.push_back(item);
        }
    }
    return out;
}

// The text of a bulk reply ("$...") or throws with the reply.
std::string bulk_text(const std::string& reply)
{
    if (reply.empty() || reply[0] != '$' || reply == "$nil") {
        throw std::runtime_error("expected a bulk reply, got " + reply);
    }
    return reply.substr(1);
}

std::string info_field(const std::string& info, const std::string& name)
{
    for (const auto& line : split(info, '\n')) {
        if (line.rfind(name + ":", 0) == 0) {
            return line.substr(name.size() + 1);
        }
    }
    return {};
}

std::string command_text(std::uint16_t port, std::initializer_list<std::string_view> args)
{
    return admin_connection(port).command(args);
}

std::vector<node_line> nodes_view(std::uint16_t port)
{
    std::vector<node_line> out;
    for (const auto& line : split(bulk_text(command_text(port, {"CLUSTER", "NODES"})), '\n')) {
        const auto fields = split(line, ' ');
        if (fields.size() < 8) {
            continue;
        }
        node_line n;
        n.id = fields[0];
        const auto colon = fields[1].find(':');
        const auto at = fields[1].find('@');
        n.port = static_cast<std::uint16_t>(std::stoi(fields[1].substr(colon + 1, at - colon - 1)));
        for (const auto& flag : split(fields[2], ',')) {
            n.master = n.master || flag == "master";
            n.failed = n.failed || flag == "fail" || flag == "fail?";
        }
        n.master_id = fields[3] == "-" ? "" : fields[3];
        for (std::size_t i = 8; i < fields.size(); ++i) {
            if (fields[i].front() == '[') {
                n.migrating = true;
                continue;
            }
            const auto dash = fields[i].find('-');
            const int first = std::stoi(fields[i].substr(0, dash));
            const int last =
                dash == std::string::npos ? first : std::stoi(fields[i].substr(dash + 1));
            n.slots.emplace_back(first, last);
        }
        out.push_back(std::move(n));
    }
    return out;
}

// Runs a program to completion; its exit status.
int run_program(std::vector<std::string> args)
{
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    pid_t pid = -1;
    if (::posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) {
        throw std::runtime_error("cannot start " + args[0]);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::vector<std::uint16_t> ports_of(const std::string& seeds)
{
    std::vector<std::uint16_t> out;
    for (const auto& item : split(seeds, ',')) {
        out.push_back(static_cast<std::uint16_t>(std::stoi(item.substr(item.rfind(':') + 1))));
    }
    return out;
}

}  // namespace

redis_cluster& redis_cluster::instance()
{
    static redis_cluster cluster;
    return cluster;
}

redis_cluster::redis_cluster()
{
    std::string seeds;
    if (const char* env = std::getenv("REDIS_CLUSTER_TEST_NODES"); env != nullptr && *env != 0) {
        seeds = env;
    } else {
        std::string dir =
            (std::filesystem::temp_directory_path() / "analytics-cluster-test-XXXXXX").string();
        if (::mkdtemp(dir.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        owned_dir_ = dir;
        const std::string script = std::string(ANALYTICS_SOURCE_DIR) + "/scripts/redis-cluster.sh";
        if (run_program({"bash", script, "start", dir}) != 0) {
            throw std::runtime_error("scripts/redis-cluster.sh start failed");
        }
        std::ifstream file(dir + "/nodes");
        std::getline(file, seeds);
    }
    ports_ = ports_of(seeds);
    if (ports_.size() != 6) {
        throw std::runtime_error("expected six cluster nodes, got \"" + seeds + "\"");
    }
    for (const auto port : ports_) {
        config_files_.push_back(
            info_field(bulk_text(command_text(port, {"INFO", "server"})), "config_file"));
    }
}

redis_cluster::~redis_cluster()
{
    if (owned_dir_.empty()) {
        return;
    }
    const std::string script = std::string(ANALYTICS_SOURCE_DIR) + "/scripts/redis-cluster.sh";
    try {
        run_program({"bash", script, "stop", owned_dir_});
    } catch (const std::exception&) {
        // The nodes die with nothing to serve; nothing more to do at exit.
    }
    std::error_code ignored;
    std::filesystem::remove_all(owned_dir_, ignored);
}

std::vector<std::uint16_t> redis_cluster::masters() const
{
    std::vector<std::uint16_t> out;
    for (const auto port : ports_) {
        try {
            for (const auto& n : nodes_view(port)) {
                if (n.master && !n.failed && !n.slots.empty()) {
                    out.push_back(n.port);
                }
            }
            std::sort(out.begin(), out.end());
            return out;
        } catch (const std::exception&) {
            // That node is down; ask the next.
        }
    }
    throw std::runtime_error("no cluster node answers");
}

std::uint16_t redis_cluster::master_of_slot(std::uint16_t slot) const
{
    for (const auto port : ports_) {
        try {
            for (const auto& n : nodes_view(port)) {
                if (!n.master || n.failed) {
                    continue;
                }
                for (const auto& [first, last] : n.slots) {
                    if (slot >= first && slot <= last) {
                        return n.port;
                    }
                }
            }
            break;
        } catch (const std::exception&) {
            // That node is down; ask the next.
        }
    }
    throw std::runtime_error("no master serves slot " + std::to_string(slot));
}

std::uint16_t redis_cluster::replica_of(std::uint16_t master_port) const
{
    const std::string master = id_of(master_port);
    for (const auto& n : nodes_view(master_port)) {
        if (n.master_id == master && !n.failed) {
            return n.port;
        }
    }
    throw std::runtime_error("no replica of " + std::to_string(master_port));
}

std::string redis_cluster::id_of(std::uint16_t port) const
{
    return bulk_text(command_text(port, {"CLUSTER", "MYID"}));
}

void redis_cluster::wait_healthy(std::chrono::milliseconds limit) const
{
    const auto deadline = std::chrono::steady_clock::now() + limit;
    std::string why;
    for (;;) {
        try {
            std::set<std::string> layouts;
            why.clear();
            for (const auto port : ports_) {
                const std::string info = bulk_text(command_text(port, {"CLUSTER", "INFO"}));
                if (info_field(info, "cluster_state") != "ok" ||
                    info_field(info, "cluster_slots_ok") != "16384" ||
                    info_field(info, "cluster_known_nodes") != std::to_string(ports_.size())) {
                    why = "node " + std::to_string(port) + " reports " + info;
                    break;
                }
                std::set<std::string> layout;  // each node lists the nodes in its own order
                std::map<std::string, int> replicas;
                const auto view = nodes_view(port);
                for (const auto& n : view) {
                    if (n.failed || n.migrating) {
                        why = "node " + std::to_string(n.port) + " failed or migrating";
                    }
                    if (!n.master_id.empty()) {
                        ++replicas[n.master_id];
                    }
                }
                for (const auto& n : view) {
                    if (n.master && !n.slots.empty()) {
                        std::string entry = n.id + ":";
                        for (const auto& [first, last] : n.slots) {
                            entry += std::to_string(first) + "-" + std::to_string(last) + ",";
                        }
                        if (replicas[n.id] != 1) {
                            why = "master " + std::to_string(n.port) + " has " +
                                  std::to_string(replicas[n.id]) + " replicas";
                        }
                        layout.insert(entry);
                    }
                }
                std::string joined;
                for (const auto& entry : layout) {
                    joined += entry + ";";
                }
                layouts.insert(joined);
                const std::string repl = bulk_text(command_text(port, {"INFO", "replication"}));
                if (info_field(repl, "role") == "slave" &&
                    (info_field(repl, "master_link_status") != "up" ||
                     info_field(repl, "master_sync_in_progress") != "0")) {
                    why = "replica " + std::to_string(port) + " not in sync";
                }
                if (!why.empty()) {
                    break;
                }
            }
            if (why.empty() && layouts.size() == 1) {
                return;
            }
            if (why.empty()) {
                why = "the nodes disagree on the layout";
            }
        } catch (const std::exception& e) {
            why = e.what();
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            throw std::runtime_error("the test cluster did not become healthy: " + why);
        }
        std::this_thread::sleep_for(50ms);
    }
}

void redis_cluster::flush() const
{
    for (const auto port : ports_) {
        admin_connection admin(port);
        const std::string repl = bulk_text(admin.command({"INFO", "replication"}));
        if (info_field(repl, "role") == "master") {
            admin.command({"FLUSHALL"});
        }
        // Replicas too: a replica promoted later must not know a script from an earlier test.
        admin.command({"SCRIPT", "FLUSH"});
    }
}

void redis_cluster::begin_migration(std::uint16_t slot, std::uint16_t from, std::uint16_t to) const
{
    const std::string s = std::to_string(slot);
    const std::string r1 = command_text(to, {"CLUSTER", "SETSLOT", s, "IMPORTING", id_of(from)});
    const std::string r2 = command_text(from, {"CLUSTER", "SETSLOT", s, "MIGRATING", id_of(to)});
    if (r1 != "+OK" || r2 != "+OK") {
        throw std::runtime_error("SETSLOT IMPORTING/MIGRATING failed: " + r1 + " " + r2);
    }
}

void redis_cluster::migrate_keys(std::uint16_t from, std::uint16_t to,
                                 const std::vector<std::string>& keys) const
{
    std::vector<std::string> args{"MIGRATE", "127.0.0.1", std::to_string(to), "", "0",
                                  "5000",    "KEYS"};
    args.insert(args.end(), keys.begin(), keys.end());
    const std::string r = admin_connection(from).command(args);
    if (r != "+OK" && r != "+NOKEY") {
        throw std::runtime_error("MIGRATE failed: " + r);
    }
}

void redis_cluster::finish_migration(std::uint16_t slot, std::uint16_t from, std::uint16_t to) const
{
    const std::string s = std::to_string(slot);
    for (;;) {
        // "*n $key $key ...": our test keys hold no spaces.
        const auto listed = split(command_text(from, {"CLUSTER", "GETKEYSINSLOT", s, "100"}), ' ');
        if (listed.size() <= 1) {
            break;
        }
        std::vector<std::string> keys;
        for (std::size_t i = 1; i < listed.size(); ++i) {
            keys.push_back(listed[i].substr(1));
        }
        migrate_keys(from, to, keys);
    }
    const std::string owner = id_of(to);
    // The new owner first, then the old one, then everyone else (the order redis-cli uses).
    std::vector<std::uint16_t> order{to, from};
    for (const auto port : masters()) {
        if (port != to && port != from) {
            order.push_back(port);
        }
    }
    for (const auto port : order) {
        const std::string r = command_text(port, {"CLUSTER", "SETSLOT", s, "NODE", owner});
        if (r != "+OK") {
            throw std::runtime_error("SETSLOT NODE failed on " + std::to_string(port) + ": " + r);
        }
    }
}

void redis_cluster::move_slot(std::uint16_t slot, std::uint16_t from, std::uint16_t to) const
{
    begin_migration(slot, from, to);
    finish_migration(slot, from, to);
}

void redis_cluster::manual_failover(std::uint16_t replica_port,
                                    std::chrono::milliseconds limit) const
{
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        command_text(replica_port, {"CLUSTER", "FAILOVER"});
        const auto attempt_end = std::chrono::steady_clock::now() + 3s;
        while (std::chrono::steady_clock::now() < attempt_end) {
            const std::string repl = bulk_text(command_text(replica_port, {"INFO", "replication"}));
            if (info_field(repl, "role") == "master") {
                return;
            }
            std::this_thread::sleep_for(10ms);
        }
    }
    throw std::runtime_error("CLUSTER FAILOVER on " + std::to_string(replica_port) +
                             " did not complete");
}

pid_t redis_cluster::pid_of(std::uint16_t port) const
{
    return static_cast<pid_t>(
        std::stol(info_field(bulk_text(command_text(port, {"INFO", "server"})), "process_id")));
}

void redis_cluster::restart(std::uint16_t port) const
{
    const auto it = std::find(ports_.begin(), ports_.end(), port);
    if (it == ports_.end()) {
        throw std::runtime_error("not a node of the test cluster: " + std::to_string(port));
    }
    // The node daemonizes (its redis.conf says so); this returns once it has forked.
    if (run_program(
            {"redis-server", config_files_[static_cast<std::size_t>(it - ports_.begin())]}) != 0) {
        throw std::runtime_error("cannot restart the node on " + std::to_string(port));
    }
    wait_until_answering(port, "", 10s);
}

}  // namespace analytics::test
