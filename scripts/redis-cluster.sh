#!/usr/bin/env bash
# A Redis Cluster of 3 masters and 3 replicas on loopback, for the tests, the benchmarks and
# trying the service against a sharded Redis by hand.
#
#   scripts/redis-cluster.sh start DIR    start six nodes on free ports, create the cluster, wait
#                                         until every node reports cluster_state:ok and every
#                                         replica is in sync; prints the seed list
#   scripts/redis-cluster.sh nodes DIR    the seed list, host:port,... (for REDIS_CLUSTER_NODES)
#   scripts/redis-cluster.sh status DIR   one line per node: port, pid, role, link, cluster state
#   scripts/redis-cluster.sh stop DIR     stops the nodes started in DIR (by the PIDs they wrote)
#
# DIR holds one directory per node (DIR/<port>/: redis.conf, redis.pid, nodes.conf, the AOF and
# redis.log), DIR/ports (one port per line) and DIR/nodes (the seed list). A node is restarted,
# for instance after a test killed it, with `redis-server DIR/<port>/redis.conf`: it rejoins the
# cluster from its nodes.conf and writes its new PID to the same file, so `stop` still finds it.
#
# Per node: cluster-node-timeout 1000 (a dead master is replaced in about 2-3 s),
# cluster-require-full-coverage no (the other shards keep serving while one fails over), AOF on,
# repl-diskless-sync-delay 0 (a replica syncs at once instead of after 5 s).
set -euo pipefail

usage() {
    echo "usage: $0 start|stop|status|nodes DIR" >&2
    exit 2
}

[[ $# -eq 2 ]] || usage
command="$1"
dir="$2"
host=127.0.0.1

ping_ok() { [[ "$(redis-cli -h "$host" -p "$1" ping 2>/dev/null)" == "PONG" ]]; }

# A port nobody listens on, whose cluster bus port (port + 10000) is free as well.
port_is_free() {
    ! (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null && ! (exec 3<>"/dev/tcp/$host/$(($1 + 10000))") 2>/dev/null
}

# The PID recorded for a node, when that process is still a redis-server serving that port.
node_pid() {
    local port="$1" pid
    pid=$(cat "$dir/$port/redis.pid" 2>/dev/null) || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "redis-server.*:$port" || return 1
    echo "$pid"
}

start_node() {
    local port="$1"
    mkdir -p "$dir/$port"
    cat >"$dir/$port/redis.conf" <<EOF
port $port
bind $host
dir $dir/$port
daemonize yes
pidfile $dir/$port/redis.pid
logfile $dir/$port/redis.log
save ""
appendonly yes
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout 1000
cluster-require-full-coverage no
repl-diskless-sync-delay 0
EOF
    redis-server "$dir/$port/redis.conf" >/dev/null 2>&1 || return 1
    local i
    for i in $(seq 1 100); do
        ping_ok "$port" && return 0
        sleep 0.05
    done
    return 1
}

# Every node sees the whole cluster as ok, knows all six nodes, and every replica has finished
# its first sync.
cluster_ready() {
    local port info repl
    for port in $(cat "$dir/ports"); do
        info=$(redis-cli -h "$host" -p "$port" cluster info 2>/dev/null) || return 1
        grep -q '^cluster_state:ok' <<<"$info" || return 1
        grep -q '^cluster_known_nodes:6' <<<"$info" || return 1
        grep -q '^cluster_slots_assigned:16384' <<<"$info" || return 1
        repl=$(redis-cli -h "$host" -p "$port" info replication 2>/dev/null) || return 1
        if grep -q '^role:slave' <<<"$repl"; then
            grep -q '^master_link_status:up' <<<"$repl" || return 1
            grep -q '^master_sync_in_progress:0' <<<"$repl" || return 1
        fi
    done
}

do_stop() {
    [[ -f "$dir/ports" ]] || return 0
    local port pid pids=()
    for port in $(cat "$dir/ports"); do
        if pid=$(node_pid "$port"); then
            kill "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    local i
    for pid in "${pids[@]}"; do
        for i in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -9 "$pid" 2>/dev/null || true
    done
}

case "$command" in
start)
    if [[ -f "$dir/ports" ]] && [[ -n "$(cat "$dir/ports")" ]]; then
        echo "$0: $dir already holds a cluster (stop it first)" >&2
        exit 1
    fi
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    : >"$dir/ports"
    started=0
    attempts=0
    while [[ $started -lt 6 ]]; do
        attempts=$((attempts + 1))
        if [[ $attempts -gt 60 ]]; then
            echo "$0: could not find free ports for six nodes" >&2
            do_stop
            exit 1
        fi
        port=$(((RANDOM % 25000) + 20000))
        port_is_free "$port" || continue
        grep -qx "$port" "$dir/ports" && continue
        if start_node "$port"; then
            echo "$port" >>"$dir/ports"
            started=$((started + 1))
        else
            pid=$(node_pid "$port") && kill "$pid" 2>/dev/null || true
            rm -rf "${dir:?}/$port"
        fi
    done
    addresses=()
    for port in $(cat "$dir/ports"); do
        addresses+=("$host:$port")
    done
    if ! redis-cli --cluster create "${addresses[@]}" --cluster-replicas 1 --cluster-yes \
        >"$dir/create.log" 2>&1; then
        cat "$dir/create.log" >&2
        do_stop
        exit 1
    fi
    ready=0
    for _ in $(seq 1 300); do
        if cluster_ready; then
            ready=1
            break
        fi
        sleep 0.1
    done
    if [[ $ready -ne 1 ]]; then
        echo "$0: the cluster in $dir did not become ready within 30 s" >&2
        do_stop
        exit 1
    fi
    (IFS=,; echo "${addresses[*]}") >"$dir/nodes"
    cat "$dir/nodes"
    ;;
stop)
    do_stop
    ;;
nodes)
    cat "$dir/nodes"
    ;;
status)
    [[ -f "$dir/ports" ]] || { echo "$0: no cluster in $dir" >&2; exit 1; }
    for port in $(cat "$dir/ports"); do
        pid=$(node_pid "$port") || pid="-"
        if ping_ok "$port"; then
            role=$(redis-cli -h "$host" -p "$port" info replication | sed -n 's/^role:\(.*\)\r$/\1/p')
            state=$(redis-cli -h "$host" -p "$port" cluster info | sed -n 's/^cluster_state:\(.*\)\r$/\1/p')
            # Slots owned: fields 9.. of our own CLUSTER NODES line, "a-b" ranges or single
            # slots ("[...]" entries are migrations in progress, not ownership).
            slots=$(redis-cli -h "$host" -p "$port" cluster nodes | awk '/myself/ {
                n = 0
                for (i = 9; i <= NF; i++) {
                    if ($i ~ /^\[/) continue
                    k = split($i, r, "-"); n += (k == 2 ? r[2] - r[1] + 1 : 1)
                }
                print n }')
            echo "$host:$port pid=$pid role=$role slots=$slots cluster_state=$state"
        else
            echo "$host:$port pid=$pid down"
        fi
    done
    ;;
*)
    usage
    ;;
esac
