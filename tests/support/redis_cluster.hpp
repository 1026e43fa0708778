#pragma once
// The Redis Cluster the cluster tests run against (3 masters + 3 replicas on loopback, made by
// scripts/redis-cluster.sh), and blocking tools to arrange it from the outside: read who serves
// which slot, migrate a slot by hand, kill and restart a node, wait until it is whole again.
//
// ./test.sh starts one cluster for the whole run and exports REDIS_CLUSTER_TEST_NODES
// (host:port,...). Without it, the first use starts a private cluster in a temporary directory
// and stops it when the test process exits, so `ctest -L redis` works on its own too (each
// test process then pays the ~3 s start).

#include <chrono>
#include <cstdint>
#include <string>
#include <sys/types.h>
#include <vector>

namespace analytics::test {

class redis_cluster {
public:
    /// The test cluster, started on first use when REDIS_CLUSTER_TEST_NODES is not set.
    static redis_cluster& instance();

    ~redis_cluster();
    redis_cluster(const redis_cluster&) = delete;
    redis_cluster& operator=(const redis_cluster&) = delete;

    /// Every node's port, masters and replicas.
    const std::vector<std::uint16_t>& ports() const { return ports_; }

    /// The ports of the masters that serve slots now, lowest first.
    std::vector<std::uint16_t> masters() const;

    /// The port of the master that serves `slot`, as the nodes agree.
    std::uint16_t master_of_slot(std::uint16_t slot) const;

    /// The port of a replica of the master on `master_port`.
    std::uint16_t replica_of(std::uint16_t master_port) const;

    /// Waits until every node answers, sees the cluster as ok with all 16384 slots served and no
    /// slot migrating, every node agrees on who serves what, and every master has a replica
    /// in sync. Throws after `limit`.
    void wait_healthy(std::chrono::milliseconds limit = std::chrono::seconds(30)) const;

    /// FLUSHALL and SCRIPT FLUSH on every master.
    void flush() const;

    /// CLUSTER SETSLOT ... IMPORTING on `to`, then MIGRATING on `from`.
    void begin_migration(std::uint16_t slot, std::uint16_t from, std::uint16_t to) const;

    /// MIGRATE of the keys from `from` to `to` (which must be importing the slot).
    void migrate_keys(std::uint16_t from, std::uint16_t to,
                      const std::vector<std::string>& keys) const;

    /// Moves the slot's remaining keys and makes `to` its owner on every master.
    void finish_migration(std::uint16_t slot, std::uint16_t from, std::uint16_t to) const;

    /// begin_migration, every key, finish_migration.
    void move_slot(std::uint16_t slot, std::uint16_t from, std::uint16_t to) const;

    /// CLUSTER FAILOVER on the replica `replica_port`, repeated until it reports itself master
    /// (a failover right after a restart may time out). Throws after `limit`.
    void manual_failover(std::uint16_t replica_port,
                         std::chrono::milliseconds limit = std::chrono::seconds(15)) const;

    /// The process id of the node (from INFO server).
    pid_t pid_of(std::uint16_t port) const;

    /// Starts a node that was killed again from its redis.conf (it writes its new PID there
    /// for scripts/redis-cluster.sh stop) and waits until it answers.
    void restart(std::uint16_t port) const;

    /// The node's id (CLUSTER MYID).
    std::string id_of(std::uint16_t port) const;

private:
    redis_cluster();

    std::vector<std::uint16_t> ports_;
    std::string owned_dir_;  // a cluster this process started, stopped in the destructor
    std::vector<std::string> config_files_;
};

}  // namespace analytics::test
