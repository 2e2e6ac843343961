#!/usr/bin/env bash
# The kv server beside redis-server itself, driven by redis-benchmark, in one run.
#
#   crates/tether-demo/scripts/kv_vs_redis.sh [--runs N] [--requests N] [--workers N]
#                                             [--drivers "epoll io_uring"] [--quick]
#
# Starts redis-server (Debian's package; persistence off: --save '' --appendonly no; loopback,
# a port of its own) and the kv binary twice per I/O driver (multi-thread runtime, and
# --current-thread; on epoll, then on io_uring, chosen with TETHER_IO_DRIVER), then runs
# `redis-benchmark -c 50 -t set,get -n REQUESTS -q`, without pipelining and with -P 16,
# against each. The servers take turns within each run (redis-server, then each kv), so slow
# drifts of the machine hit all of them alike; the table gives the median over the runs of
# each figure, and the ratio kv / redis-server (above 1: kv is faster), and each server's CPU
# time per request (below 1: kv is cheaper), which a busy machine blurs less than requests/s.
#
# Defaults: 3 runs of 200,000 requests per test, the multi-thread kv with a worker per core
# (--workers N: N workers), both drivers (--drivers epoll: epoll only). --quick: 1 run of
# 20,000 (a smoke test, as .ci/run does; its figures mean little). Needs redis-server,
# redis-cli and redis-benchmark: apt-get install -y redis-tools redis-server. Every process it
# starts is stopped at exit, by its pid.
set -euo pipefail
cd "$(dirname "$0")/../../.."

RUNS=3
REQUESTS=200000
WORKERS=()
DRIVERS=(epoll io_uring)
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) RUNS=$2; shift 2 ;;
        --requests) REQUESTS=$2; shift 2 ;;
        --workers) WORKERS=(--workers "$2"); shift 2 ;;
        --drivers) read -r -a DRIVERS <<< "$2"; shift 2 ;;
        --quick) RUNS=1; REQUESTS=20000; shift ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "kv_vs_redis.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

for tool in redis-server redis-cli redis-benchmark; do
    if ! command -v "$tool" > /dev/null; then
        echo "kv_vs_redis.sh: $tool is missing: apt-get install -y redis-tools redis-server" >&2
        exit 1
    fi
done

cargo build --release --quiet -p tether-demo --bin kv
KV=target/release/kv

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2> /dev/null || true
        wait "$pid" 2> /dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# A loopback port nothing answers on, tried at random below the kernel's ephemeral range
# (32768 and up on Linux), so no outgoing connection of the earlier stages can hold it.
free_port() {
    local port
    while true; do
        port=$((20000 + RANDOM % 12000))
        if ! (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then
            echo "$port"
            return
        fi
    done
}

# Waits until `redis-cli -p PORT PING` answers PONG (at most 30 s); returns 1 at once if the
# process PID has exited, 2 if it is still silent after 30 s.
ping_until_ready() {
    local port=$1 pid=$2
    for _ in $(seq 300); do
        if [ "$(redis-cli -p "$port" PING 2> /dev/null)" = PONG ]; then
            return 0
        fi
        if ! kill -0 "$pid" 2> /dev/null; then
            return 1
        fi
        sleep 0.1
    done
    return 2
}

# Like ping_until_ready, but a failure ends the script, naming the server and showing LOG.
wait_ready() {
    local port=$1 name=$2 pid=$3 log=$4
    if ! ping_until_ready "$port" "$pid"; then
        echo "kv_vs_redis.sh: $name did not answer PING on port $port; its output:" >&2
        cat "$log" >&2
        exit 1
    fi
}

# Starts redis-server on a free port; sets REDIS_PORT and REDIS_PID. A server that exits at
# start (its port taken in the meantime by another process) is retried on another port.
start_redis() {
    local attempt status
    for attempt in 1 2 3 4 5; do
        REDIS_PORT=$(free_port)
        redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
            --daemonize no --loglevel warning > "$WORK/redis.log" 2>&1 &
        REDIS_PID=$!
        PIDS+=("$REDIS_PID")
        status=0
        ping_until_ready "$REDIS_PORT" "$REDIS_PID" || status=$?
        case $status in
            0) return ;;
            1) echo "kv_vs_redis.sh: redis-server exited at start (attempt $attempt):" >&2
               cat "$WORK/redis.log" >&2 ;;
            *) break ;;
        esac
    done
    echo "kv_vs_redis.sh: redis-server did not answer PING on port $REDIS_PORT; its output:" >&2
    cat "$WORK/redis.log" >&2
    exit 1
}

# Starts the kv binary on I/O driver DRIVER with ARGS on a free port; sets STARTED_PORT and
# STARTED_PID. (Not in a command substitution: its pid must be recorded in this shell, to be
# stopped at exit.) Sets STARTED_LOG to the file its output goes to.
start_kv() {
    local log driver=$1
    shift
    log="$WORK/kv.$(( ${#PIDS[@]} )).log"
    STARTED_LOG=$log
    TETHER_IO_DRIVER=$driver "$KV" 127.0.0.1:0 "$@" > "$log" 2>&1 &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
    for _ in $(seq 300); do
        STARTED_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -1)
        if [ -n "$STARTED_PORT" ]; then
            return
        fi
        sleep 0.1
    done
    echo "kv_vs_redis.sh: kv $* did not start:" >&2
    cat "$log" >&2
    exit 1
}

start_redis
SERVERS=(redis)
KV_SERVERS=()
declare -A PORT=([redis]=$REDIS_PORT) PID=([redis]=$REDIS_PID) LABEL=()
for driver in "${DRIVERS[@]}"; do
    for flavor in mt ct; do
        if [ "$flavor" = mt ]; then
            start_kv "$driver" "${WORKERS[@]}"
            label="kv multi-thread, $driver"
        else
            start_kv "$driver" --current-thread
            label="kv current-thread, $driver"
        fi
        wait_ready "$STARTED_PORT" "$label" "$STARTED_PID" "$STARTED_LOG"
        if ! grep -q "$driver driver" "$STARTED_LOG"; then
            echo "kv_vs_redis.sh: $label runs another driver:" >&2
            cat "$STARTED_LOG" >&2
            exit 1
        fi
        name="kv_${flavor}_$driver"
        SERVERS+=("$name")
        KV_SERVERS+=("$name")
        PORT[$name]=$STARTED_PORT
        PID[$name]=$STARTED_PID
        LABEL[$name]=$label
    done
done
TICK=$(getconf CLK_TCK)

# CPU time (user + system) of process PID so far, in clock ticks.
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}
MODES=(plain p16)
declare -A MODE_ARGS=([plain]="" [p16]="-P 16")

# The final "SET: 123456.78 requests per second" figure of redis-benchmark -q, per test.
figure() {
    tr '\r' '\n' < "$1" | sed -n "s/^$2: \([0-9.]*\) requests per second.*/\1/p" | tail -1
}

echo "kv vs redis-server: $RUNS run(s) of redis-benchmark -c 50 -t set,get -n $REQUESTS -q" \
    "[-P 16]; kv multi-thread ${WORKERS[*]:-(a worker per core)}; drivers ${DRIVERS[*]};" \
    "$(nproc) cores, kernel $(uname -r)," \
    "load $(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq "$RUNS"); do
    for server in "${SERVERS[@]}"; do
        for mode in "${MODES[@]}"; do
            out="$WORK/$server.$mode.$run.out"
            before=$(cpu_ticks "${PID[$server]}")
            # shellcheck disable=SC2086 # MODE_ARGS is two words or none
            redis-benchmark -h 127.0.0.1 -p "${PORT[$server]}" -c 50 -n "$REQUESTS" \
                -t set,get -q ${MODE_ARGS[$mode]} > "$out" 2>&1
            after=$(cpu_ticks "${PID[$server]}")
            # The server's CPU time per request (SET and GET together), in microseconds.
            awk -v t=$((after - before)) -v hz="$TICK" -v n="$REQUESTS" \
                'BEGIN { printf "%.3f\n", t / hz * 1e6 / (2 * n) }' >> "$WORK/$server.$mode.cpu"
            if grep -q -i -e error -e warning "$out"; then
                echo "kv_vs_redis.sh: redis-benchmark against $server ($mode) reported:" >&2
                tr '\r' '\n' < "$out" | grep -i -e error -e warning >&2
                exit 1
            fi
            for t in SET GET; do
                f=$(figure "$out" "$t")
                [ -n "$f" ] || { echo "no $t figure in $out" >&2; cat "$out" >&2; exit 1; }
                echo "$f" >> "$WORK/$server.$mode.$t"
            done
        done
        echo "  run $run/$RUNS: $server done"
    done
done

median() {
    sort -g "$1" | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo
echo "date $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2> /dev/null || echo '?')," \
    "$(redis-server --version | cut -d' ' -f1-3); requests/s, median of $RUNS"
echo
header="| test | redis-server |"
rule="|---|---:|"
for name in "${KV_SERVERS[@]}"; do
    header+=" ${LABEL[$name]} | / redis |"
    rule+="---:|---:|"
done
echo "$header"
echo "$rule"
for mode in "${MODES[@]}"; do
    label=""
    [ "$mode" = p16 ] && label=" -P 16"
    for t in SET GET cpu; do
        r=$(median "$WORK/redis.$mode.$t")
        if [ "$t" = cpu ]; then
            # Below 1: kv spends less CPU per request than redis-server.
            line=$(awk -v l="server CPU$label (µs/req)" -v r="$r" 'BEGIN { printf "| %s | %.2f |", l, r }')
            for name in "${KV_SERVERS[@]}"; do
                kv=$(median "$WORK/$name.$mode.$t")
                line+=$(awk -v r="$r" -v kv="$kv" 'BEGIN { printf " %.2f | %.2f |", kv, kv / r }')
            done
        else
            line=$(awk -v l="$t$label (req/s)" -v r="$r" 'BEGIN { printf "| %s | %.0f |", l, r }')
            for name in "${KV_SERVERS[@]}"; do
                kv=$(median "$WORK/$name.$mode.$t")
                line+=$(awk -v r="$r" -v kv="$kv" 'BEGIN { printf " %.0f | %.2f |", kv, kv / r }')
            done
        fi
        echo "$line"
    done
done
echo
echo "Requests/s: above 1 kv is faster. Server CPU per request (SET and GET runs together, from"
echo "/proc/PID/stat, clock ticks of 1/$TICK s): below 1 kv is cheaper."
