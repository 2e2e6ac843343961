#!/usr/bin/env bash
# The same axum Router served by tether_hyper::serve (tether current-thread and multi-thread,
# each on the epoll and on the io_uring driver, chosen with TETHER_IO_DRIVER) and by axum::serve (tokio current-thread and multi-thread), in one run, driven by real load
# generators: wrk (HTTP/1.1, -t1, 100 and 1,000 connections) and h2load (HTTP/2 prior
# knowledge, 100 connections x 10 streams). Each server is started fresh for each load; in a
# round every load runs on every server in turn, in an order that flips every round. The
# table gives each figure's median over the rounds (requests/s, p50/p99 latency, server CPU
# time per request from /proc/PID/stat, server RSS at the end of the load) and, for each ratio
# to tokio, the median of the rounds' own ratios and their range.
#
#   crates/tether-hyper/scripts/http_vs_tokio.sh [--quick] [--rounds N] [--seconds S] [--epoll-only] [--nagle]
#
# Every server's connections set TCP_NODELAY (tether_hyper::serve's default; axum::serve's
# listener tapped to set it), so the runtimes are compared on the same sockets. --nagle: no
# server sets it (axum::serve's default), which coalesces HTTP/2's small writes.
#
# --quick: one round of 2 s per load (a smoke run). --epoll-only: tether on epoll only. Installs nothing: it needs wrk and h2load
# (Debian: apt-get install -y wrk nghttp2-client).
set -euo pipefail
cd "$(dirname "$0")/../../.."

ROUNDS=3
URING=true
NAGLE=
SECONDS_PER_LOAD=10
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) ROUNDS=1; SECONDS_PER_LOAD=2 ;;
        --rounds) ROUNDS=$2; shift ;;
        --seconds) SECONDS_PER_LOAD=$2; shift ;;
        --epoll-only) URING=false ;;
        --nagle) NAGLE=--nagle ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

for tool in wrk h2load python3; do
    if ! command -v "$tool" > /dev/null; then
        echo "http_vs_tokio.sh needs $tool: apt-get install -y wrk nghttp2-client" >&2
        exit 1
    fi
done
# 1,000 client connections plus the server's: raise the soft descriptor limit.
ulimit -n "$(ulimit -Hn)"

cargo build --release --quiet -p tether-hyper --example http_bench_server
BIN=target/release/examples/http_bench_server
SERVERS="tether-ct tokio-ct tether-mt tokio-mt"
if $URING; then
    SERVERS="tether-ct tether-ct-uring tokio-ct tether-mt tether-mt-uring tokio-mt"
fi
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
TICKS=$(getconf CLK_TCK)

cpu_ticks() { # utime + stime of pid $1
    awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}
rss_kib() {
    awk '/^VmRSS/ { print $2 }' "/proc/$1/status"
}

# One load against one server: appends "round server load rps p50 p99 cpu_ns_per_req rss_kib".
run_load() {
    local server=$1 load=$2 pid=$3 addr=$4 round=$5 before after out rps p50 p99 reqs
    before=$(cpu_ticks "$pid")
    case "$load" in
        wrk-c100|wrk-c1000)
            local conns=${load#wrk-c}
            out=$(wrk -t1 -c"$conns" -d"${SECONDS_PER_LOAD}s" --latency "http://$addr/")
            rps=$(echo "$out" | awk '/^Requests\/sec/ { print $2 }')
            reqs=$(echo "$out" | awk '/requests in/ { print $1 }')
            p50=$(echo "$out" | awk '$1 == "50%" { print $2 }')
            p99=$(echo "$out" | awk '$1 == "99%" { print $2 }')
            ;;
        h2load)
            out=$(h2load -c100 -m10 -D "$SECONDS_PER_LOAD" --warm-up-time=1 "http://$addr/" 2>&1)
            rps=$(echo "$out" | awk '/^finished in/ { print $4 }')
            reqs=$(echo "$out" | awk '/^requests:/ { print $8 }')
            # h2load gives min/max/mean/sd of request times, no percentiles: mean in the p50
            # column (marked), nothing in p99.
            p50="mean:$(echo "$out" | awk '/^time for request:/ { print $6 }')"
            p99="-"
            ;;
    esac
    after=$(cpu_ticks "$pid")
    local cpu_us=$(( (after - before) * 1000000 / TICKS ))
    echo "$round $server $load $rps $p50 $p99 $(( cpu_us * 1000 / (reqs > 0 ? reqs : 1) )) $(rss_kib "$pid")" >> "$OUT/results"
}

# One server for one load: start it, check its driver, run the load, stop it.
serve_load() {
    local server=$1 load=$2 round=$3 driver=epoll pid addr
    # "tether-ct-uring": the tether-ct server on the io_uring driver.
    [ "${server%-uring}" != "$server" ] && driver=io_uring
    TETHER_IO_DRIVER=$driver "$BIN" "${server%-uring}" 127.0.0.1:0 $NAGLE > "$OUT/$server.out" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do
        grep -q "listening on" "$OUT/$server.out" 2>/dev/null && break
        sleep 0.05
    done
    addr=$(sed -n 's|^listening on http://||p' "$OUT/$server.out")
    if [ "${server#tether}" != "$server" ]; then
        for _ in $(seq 1 100); do
            grep -q " driver$" "$OUT/$server.out" 2>/dev/null && break
            sleep 0.05
        done
        if ! grep -q "^$driver driver$" "$OUT/$server.out"; then
            echo "http_vs_tokio.sh: $server does not run the $driver driver:" >&2
            cat "$OUT/$server.out" >&2
            exit 1
        fi
    fi
    run_load "$server" "$load" "$pid" "$addr" "$round"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

# Each load runs on every server in turn before the next load, and the order of the servers
# flips every round, so the servers a ratio compares run seconds apart, as often first as
# second: the host's drift over a run falls on both sides of each ratio.
for round in $(seq 1 "$ROUNDS"); do
    order=$SERVERS
    if [ $((round % 2)) -eq 0 ]; then
        order=$(echo "$SERVERS" | tr ' ' '\n' | tac | tr '\n' ' ')
    fi
    for load in wrk-c100 wrk-c1000 h2load; do
        for server in $order; do
            serve_load "$server" "$load" "$round"
        done
    done
    echo "round $round of $ROUNDS done" >&2
done

# The raw figures, one line per round, server and load, kept for the dated runs.
RAW=target/http_vs_tokio-$(date -u +%Y%m%dT%H%M%SZ).txt
{
    echo "# round server load requests/s p50 p99 cpu_ns_per_request rss_kib"
    cat "$OUT/results"
} > "$RAW"
echo "raw figures: $RAW" >&2

python3 - "$OUT/results" <<'EOF'
import statistics, sys
from collections import defaultdict

def us(v):
    """wrk's latency ("812.00us", "1.23ms", "2.00s") or h2load's ("mean:1.23ms") in µs."""
    if v == "-":
        return None
    v = v.split(":")[-1]
    for unit, f in (("us", 1), ("ms", 1e3), ("s", 1e6)):
        if v.endswith(unit):
            return float(v[: -len(unit)]) * f
    return float(v)

# (load, server) -> {round: (rps, p50, p99, cpu_ns, rss_kib)}
rows = defaultdict(dict)
for line in open(sys.argv[1]):
    rnd, server, load, rps, p50, p99, cpu_ns, rss = line.split()
    rows[(load, server)][int(rnd)] = (float(rps), us(p50), us(p99), int(cpu_ns), int(rss))

def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None

def ratio(server, base, i):
    """The median over the rounds of each round's ratio server/base of figure i, and its range."""
    rs = [server[r][i] / base[r][i] for r in server
          if r in base and server[r][i] is not None and base[r][i]]
    if not rs:
        return "-"
    if len(rs) == 1:
        return f"{rs[0]:.2f}"
    return f"{statistics.median(rs):.2f} ({min(rs):.2f}-{max(rs):.2f})"

print("Medians over the rounds; a ratio is the median of the rounds' own ratios to tokio's server")
print("of the same flavor (in parentheses, their range).")
print()
print("| load | server | requests/s | ratio | p50 (µs) | p99 (µs) | ratio | CPU/request (ns) | ratio | RSS (MiB) |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for load in ("wrk-c100", "wrk-c1000", "h2load"):
    for flavor in ("ct", "mt"):
        base = rows[(load, f"tokio-{flavor}")]
        for server in (f"tether-{flavor}", f"tether-{flavor}-uring", f"tokio-{flavor}"):
            rs = rows[(load, server)]
            if not rs:
                continue
            rps, p50, p99, cpu, rss = (med([r[i] for r in rs.values()]) for i in range(5))
            fmt = lambda v: "-" if v is None else f"{v:.0f}"
            p50s = fmt(p50) + (" (mean)" if load == "h2load" else "")
            p99r = ratio(rs, base, 2) if p99 is not None else "-"
            print(f"| {load} | {server} | {rps:.0f} | {ratio(rs, base, 0)} | {p50s} | {fmt(p99)} | {p99r} | {fmt(cpu)} | {ratio(rs, base, 3)} | {rss / 1024:.1f} |")
EOF
