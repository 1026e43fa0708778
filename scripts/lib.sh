# Shell helpers shared by test.sh, start.sh and the benchmarks. Source it; do not run it.

# start_private_redis DIR [extra redis-server args...]
# Starts redis-server on a free loopback port with its files under DIR.
# Sets REDIS_PID and REDIS_PORT. Tries random ports until one binds.
start_private_redis() {
    local dir="$1"
    shift
    mkdir -p "$dir"
    local attempt port
    for attempt in $(seq 1 20); do
        port=$(( (RANDOM % 30000) + 20000 ))
        redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
            --dir "$dir" --daemonize no "$@" >"$dir/redis-$port.log" 2>&1 &
        REDIS_PID=$!
        local i
        for i in $(seq 1 100); do
            if redis-cli -p "$port" ping >/dev/null 2>&1; then
                REDIS_PORT=$port
                return 0
            fi
            if ! kill -0 "$REDIS_PID" 2>/dev/null; then
                break
            fi
            sleep 0.05
        done
        kill "$REDIS_PID" 2>/dev/null || true
        wait "$REDIS_PID" 2>/dev/null || true
    done
    echo "could not start redis-server (see $dir)" >&2
    return 1
}

# stop_pid PID: SIGTERM, wait up to 10 s, then SIGKILL.
stop_pid() {
    local pid="$1" i
    kill "$pid" 2>/dev/null || return 0
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
}

# pid_alive PIDFILE: true when PIDFILE names a running process.
pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pidfile NAME PIDFILE: stops the process PIDFILE names (see stop_pid), if it runs, saying
# so, and removes PIDFILE.
stop_pidfile() {
    local name="$1" pidfile="$2"
    [[ -f "$pidfile" ]] || return 0
    if pid_alive "$pidfile"; then
        echo "stopping $name (pid $(cat "$pidfile"))"
        stop_pid "$(cat "$pidfile")"
    fi
    rm -f "$pidfile"
}

# dotenv_get NAME DEFAULT: the variable from the environment, else from ./.env, else DEFAULT.
dotenv_get() {
    local name="$1" default="$2" value
    if [[ -n "${!name:-}" ]]; then
        echo "${!name}"
        return
    fi
    if [[ -f .env ]]; then
        value=$(grep -E "^[[:space:]]*(export[[:space:]]+)?${name}=" .env | tail -n1 | cut -d= -f2- \
            | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'$/\1/")
        if [[ -n "$value" ]]; then
            echo "$value"
            return
        fi
    fi
    echo "$default"
}

# listening_port PID: the TCP port the process listens on (from /proc, so it works whatever the
# log level: the service reports its port 0 choice in an INFO line, which WARNING hides).
listening_port() {
    local pid=$1 inodes hex
    inodes=$(find "/proc/$pid/fd" -maxdepth 1 -type l -printf '%l\n' 2>/dev/null \
        | sed -n 's/^socket:\[\([0-9]*\)\]$/\1/p' | tr '\n' ' ')
    [[ -n "$inodes" ]] || return 1
    hex=$(awk -v inodes=" $inodes " '$4 == "0A" && index(inodes, " " $10 " ") {
              n = split($2, a, ":"); print a[n]; exit }' "/proc/$pid/net/tcp" "/proc/$pid/net/tcp6")
    [[ -n "$hex" ]] || return 1
    echo $((16#$hex))
}

# http_status URL: the status code of GET URL ("000" when nothing answers within 2 s).
http_status() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" || true; }
