#!/usr/bin/env bash
# Measure ssegate as an SSE gateway beside nginx, Caddy and HAProxy as reverse proxies, on
# the same workloads, against the load tool's own origin (`--origin`), and against the
# origin directly. Prints one markdown table per workload.
#
#   benches/compare-gateway.sh                         # both workloads, every proxy
#   WORKLOADS=latency PROXIES="direct ssegate" benches/compare-gateway.sh
#   DURATION=10 FANOUT_STREAMS=2000 FANOUT_CONNS=20 benches/compare-gateway.sh
#
# The two workloads (subscribers: TLS 1.3 + h2; proxy -> origin: HTTP/1.1):
#   latency  LATENCY_STREAMS [1000] over LATENCY_CONNS [10] connections, LATENCY_TOPICS [10]
#            topics, LATENCY_RATE [1000] events/s in all: the latency each proxy adds to the
#            direct connection (p50/p99).
#   fanout   FANOUT_STREAMS [10000] over FANOUT_CONNS [100] connections, FANOUT_TOPICS [1]
#            topic, FANOUT_RATE [10] events/s: one upstream stream fanned out (ssegate with
#            `fanout = true`; the others open one upstream connection per subscriber).
#
# The proxies (PROXIES, or LATENCY_PROXIES / FANOUT_PROXIES per workload):
#   direct          the subscribers connect to the origin itself, h2c (no TLS, no proxy)
#   ssegate         ssegate, a route without fan-out: one upstream request per stream
#   ssegate-fanout  ssegate, `fanout = true`: one upstream request per topic
#   nginx           1 worker, proxy_http_version 1.1, proxy_buffering off
#   caddy           GOMAXPROCS=1, reverse_proxy with flush_interval -1
#   haproxy         nbthread 1
#
# Environment (defaults in brackets):
#   DURATION [20] WARMUP [2] THREADS [1]   load tool settings (`cargo bench --bench load -- --help`)
#   LOAD_ARGS                         extra load tool arguments, for every run
#   ORIGIN_PORT [9100] PROXY_PORT [8450]   loopback ports of the origin and of the proxy
#   SSEGATE_BIN [target/release/ssegate, built here]
#   SSEGATE_THREADS                   ssegate's connection workers (`--workers`);
#                                     default one per core, as shipped
#   SSEGATE_ARGS                      extra `ssegate serve` arguments, e.g. --write-coalesce 0
#   KEEP_WORK                         keep the scratch directory (configs, logs, JSON lines)
#
# Needs root (nginx and HAProxy raise their fd limits), nginx, caddy, haproxy (Debian:
# `apt-get install -y nginx caddy haproxy`), openssl, and jq for the tables. On 2 cores
# the load tool, its origin and the proxy share the machine: keep it otherwise idle, and
# check the "other CPU" column.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
here="$repo/benches/gateway"

DURATION="${DURATION:-20}"
WARMUP="${WARMUP:-2}"
THREADS="${THREADS:-1}"
WORKLOADS="${WORKLOADS:-latency fanout}"
all_proxies="direct ssegate ssegate-fanout nginx caddy haproxy"
LATENCY_PROXIES="${LATENCY_PROXIES:-${PROXIES:-$all_proxies}}"
FANOUT_PROXIES="${FANOUT_PROXIES:-${PROXIES:-direct ssegate-fanout ssegate nginx caddy haproxy}}"
LATENCY_STREAMS="${LATENCY_STREAMS:-1000}"
LATENCY_CONNS="${LATENCY_CONNS:-10}"
LATENCY_TOPICS="${LATENCY_TOPICS:-10}"
LATENCY_RATE="${LATENCY_RATE:-1000}"
FANOUT_STREAMS="${FANOUT_STREAMS:-10000}"
FANOUT_CONNS="${FANOUT_CONNS:-100}"
FANOUT_TOPICS="${FANOUT_TOPICS:-1}"
FANOUT_RATE="${FANOUT_RATE:-10}"
ORIGIN_PORT="${ORIGIN_PORT:-9100}"
PROXY_PORT="${PROXY_PORT:-8450}"
SSEGATE_BIN="${SSEGATE_BIN:-}"
SSEGATE_THREADS="${SSEGATE_THREADS:-}"
SSEGATE_ARGS="${SSEGATE_ARGS:-}"

WORK="$(mktemp -d /tmp/ssegate-gateway.XXXXXX)"
proxy_pid=""
load_pid=""

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n "$load_pid" ]]; then
        kill -TERM "$load_pid" 2>/dev/null || true
        wait "$load_pid" 2>/dev/null || true
    fi
    stop_proxy
    if [[ -n "${KEEP_WORK:-}" ]]; then
        echo "compare-gateway: configs, logs and results kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# TERM (QUIT for nginx: graceful), then KILL after 10 s.
stop_proxy() {
    [[ -n "$proxy_pid" ]] || return 0
    local pid=$proxy_pid signal=${proxy_stop_signal:-TERM} deadline=$((SECONDS + 10))
    proxy_pid=""
    kill "-$signal" "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS > deadline)); then
            echo "compare-gateway: pid $pid ignored $signal for 10 s, killing" >&2
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    wait "$pid" 2>/dev/null || true
}

port_busy() {
    (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_for_port() {
    local port=$1 pid=$2 log=$3 deadline=$((SECONDS + 30))
    until port_busy "$port"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "compare-gateway: the proxy (pid $pid) exited before listening on $port:" >&2
            tail -n 20 "$log" >&2
            return 1
        fi
        if ((SECONDS > deadline)); then
            echo "compare-gateway: nothing listens on port $port after 30 s" >&2
            return 1
        fi
        sleep 0.1
    done
}

# render TEMPLATE OUT [FANOUT]
render() {
    sed -e "s|@DIR@|$WORK|g" -e "s|@PORT@|$PROXY_PORT|g" -e "s|@ORIGIN_PORT@|$ORIGIN_PORT|g" \
        -e "s|@CERT@|$WORK/cert.pem|g" -e "s|@KEY@|$WORK/key.pem|g" -e "s|@FANOUT@|${3:-false}|g" \
        "$1" >"$2"
}

# Start proxy $1 in the background; sets proxy_pid and server_pids (for --server-pid).
start_proxy() {
    local name=$1 log="$WORK/$1.log"
    proxy_stop_signal=TERM
    case "$name" in
        ssegate | ssegate-fanout)
            local fanout=false
            [[ "$name" == ssegate-fanout ]] && fanout=true
            render "$here/ssegate.toml.template" "$WORK/$name.toml" "$fanout"
            # `exec` so that the pid is the server's own.
            local workers=()
            [[ -n "$SSEGATE_THREADS" ]] && workers=(--workers "$SSEGATE_THREADS")
            # shellcheck disable=SC2086 # SSEGATE_ARGS is a list of arguments
            bash -c 'exec "$0" serve --config "$@"' "$SSEGATE_BIN" \
                "$WORK/$name.toml" "${workers[@]}" $SSEGATE_ARGS >"$log" 2>&1 &
            ;;
        nginx)
            render "$here/nginx.conf.template" "$WORK/nginx.conf"
            mkdir -p "$WORK/tmp"
            nginx -q -t -p "$WORK" -c "$WORK/nginx.conf" -e "$WORK/nginx-error.log" >"$log" 2>&1 \
                || { cat "$log" >&2; return 1; }
            nginx -p "$WORK" -c "$WORK/nginx.conf" -e "$WORK/nginx-error.log" -g 'daemon off;' \
                >"$log" 2>&1 &
            proxy_stop_signal=QUIT
            ;;
        caddy)
            render "$here/Caddyfile.template" "$WORK/Caddyfile"
            GOMAXPROCS=1 XDG_DATA_HOME="$WORK/xdg" XDG_CONFIG_HOME="$WORK/xdg" \
                bash -c 'exec caddy run --config "$0" --adapter caddyfile' "$WORK/Caddyfile" \
                >"$log" 2>&1 &
            ;;
        haproxy)
            render "$here/haproxy.cfg.template" "$WORK/haproxy.cfg"
            cat "$WORK/cert.pem" "$WORK/key.pem" >"$WORK/haproxy.pem"
            bash -c 'exec haproxy -db -f "$0"' "$WORK/haproxy.cfg" >"$log" 2>&1 &
            ;;
        *)
            echo "compare-gateway: unknown proxy $name ($all_proxies)" >&2
            return 64
            ;;
    esac
    proxy_pid=$!
    wait_for_port "$PROXY_PORT" "$proxy_pid" "$log"
    server_pids=("$proxy_pid")
    if [[ "$name" == nginx ]]; then
        # The worker is the master's child; selected by parent pid, never by name.
        local deadline=$((SECONDS + 10)) workers=""
        until workers="$(pgrep -P "$proxy_pid")" || ((SECONDS > deadline)); do sleep 0.1; done
        # shellcheck disable=SC2206 # one pid per word
        server_pids+=($workers)
    fi
}

# run_workload WORKLOAD PROXY: one load tool run, its JSON line appended to WORKLOAD.jsonl.
run_workload() {
    local workload=$1 name=$2 streams conns topics rate
    case "$workload" in
        latency) streams=$LATENCY_STREAMS conns=$LATENCY_CONNS topics=$LATENCY_TOPICS rate=$LATENCY_RATE ;;
        fanout) streams=$FANOUT_STREAMS conns=$FANOUT_CONNS topics=$FANOUT_TOPICS rate=$FANOUT_RATE ;;
        *) echo "compare-gateway: unknown workload $workload (latency, fanout)" >&2; return 64 ;;
    esac
    if port_busy "$ORIGIN_PORT" || port_busy "$PROXY_PORT"; then
        echo "compare-gateway: 127.0.0.1:$ORIGIN_PORT or :$PROXY_PORT is in use (ORIGIN_PORT, PROXY_PORT)" >&2
        return 1
    fi
    local url pid_args=()
    if [[ "$name" == direct ]]; then
        url="http://127.0.0.1:$ORIGIN_PORT"
    else
        start_proxy "$name"
        url="https://127.0.0.1:$PROXY_PORT"
        for pid in "${server_pids[@]}"; do pid_args+=(--server-pid "$pid"); done
    fi
    echo "compare-gateway: $workload / $name: $streams streams / $conns conns / $topics topics," \
        "$rate ev/s for $DURATION s, load $(cut -d ' ' -f 1-3 /proc/loadavg)" >&2
    # In the background and `wait`ed for, so that a signal runs the cleanup trap at once.
    # shellcheck disable=SC2086 # LOAD_ARGS is a list of arguments
    "$load_bin" --origin "127.0.0.1:$ORIGIN_PORT" --url "$url" --sub-path '/feed/{topic}' \
        --streams "$streams" --conns "$conns" --topics "$topics" --rate "$rate" \
        --duration "$DURATION" --warmup "$WARMUP" --threads "$THREADS" \
        "${pid_args[@]}" --label "$name" --json ${LOAD_ARGS:-} >"$WORK/$workload-$name.out" &
    load_pid=$!
    wait "$load_pid"
    load_pid=""
    stop_proxy
    cat "$WORK/$workload-$name.out"
    grep '^{' "$WORK/$workload-$name.out" | tail -n 1 >>"$WORK/$workload.jsonl"
}

# One certificate for every proxy: the same key type (P-256) and TLS work for all.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj /CN=localhost -addext 'subjectAltName=IP:127.0.0.1,DNS:localhost' \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

# Build once, then run the binaries: a rebuild in the middle (someone editing the tree)
# would otherwise change them between runs.
echo "compare-gateway: building the load tool (release)" >&2
# The bench's own artifact: the ssegate binary is built (and listed) too, in any order.
load_bin="$(cargo bench --bench load --no-run --message-format=json \
    | grep '"kind":\["bench"\]' | grep '"name":"load"' \
    | grep -o '"executable":"[^"]*"' | tail -n 1 | cut -d '"' -f 4)"
[[ -x "$load_bin" ]] || { echo "compare-gateway: could not find the load tool binary" >&2; exit 1; }
cp "$load_bin" "$WORK/load"
load_bin="$WORK/load"
if [[ " $LATENCY_PROXIES $FANOUT_PROXIES " == *" ssegate"* && -z "$SSEGATE_BIN" ]]; then
    echo "compare-gateway: building ssegate (release)" >&2
    cargo build --release --bin ssegate
    cp target/release/ssegate "$WORK/ssegate"
    SSEGATE_BIN="$WORK/ssegate"
fi

{
    echo "compare-gateway: $(date -u +%FT%TZ), ssegate $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo '+dirty')," \
        "SSEGATE_THREADS=${SSEGATE_THREADS:-default} SSEGATE_ARGS=${SSEGATE_ARGS:-none}"
    echo "compare-gateway: $(nginx -v 2>&1); caddy $(caddy version 2>/dev/null | cut -d ' ' -f 1);" \
        "$(haproxy -v 2>/dev/null | head -n 1 | cut -d ' ' -f 1-3); $(nproc) cores"
} >&2

for workload in $WORKLOADS; do
    case "$workload" in
        latency) proxies=$LATENCY_PROXIES ;;
        fanout) proxies=$FANOUT_PROXIES ;;
        *) echo "compare-gateway: unknown workload $workload (latency, fanout)" >&2; exit 64 ;;
    esac
    for name in $proxies; do
        run_workload "$workload" "$name"
    done
done

echo
if ! command -v jq >/dev/null; then
    echo "compare-gateway: jq not found; the JSON lines:" >&2
    cat "$WORK"/*.jsonl
    exit 0
fi
# One row per proxy; "added" is the latency above the direct run of the same workload.
for workload in $WORKLOADS; do
    [[ -s "$WORK/$workload.jsonl" ]] || continue
    jq -rs --arg workload "$workload" '
      def f(d): if . == null then "n/a" else (. * pow(10; d) | round) / pow(10; d) | tostring end;
      def ms: if . == null then "n/a" else (. / 1000 | f(1)) end;
      def cores(s): if s == null then "n/a" else (s / .duration_s | f(2)) end;
      def added(x; y): if x == null or y == null then "n/a" else ((x - y) / 1000 | f(2)) end;
      (map(select(.label == "direct")) | first) as $direct
      | .[0] as $w
      | "### \($workload): \($w.streams) streams / \($w.conns) h2 conns / \($w.topics) topics, \($w.rate) ev/s × \($w.duration_s) s\n",
        "| proxy | streams | deliveries/s | p50 ms | p99 ms | max ms | added p50 / p99 ms | lost | CPU µs/delivery | proxy cores | RSS KiB/subscriber | origin conns (peak) | origin cores | load tool cores | other cores |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        (.[] | "| \(.label) | \(.streams_established)/\(.streams) | \(.deliveries_per_s | f(0)) | \(.latency.p50_us | ms) | \(.latency.p99_us | ms) | \(.latency.max_us | ms) | "
          + (if .label == "direct" or $direct == null then "—" else "\(added(.latency.p50_us; $direct.latency.p50_us)) / \(added(.latency.p99_us; $direct.latency.p99_us))" end)
          + " | \(.lost) | \(.server_cpu_us_per_delivery | f(2)) | \(cores(.server_cpu_s)) | \(.server_rss_per_stream_kib | f(1)) | \(.origin.connections_peak) | \(cores(.origin.cpu_s)) | \(cores(.client_cpu_s)) | \(cores(.other_cpu_s)) |"),
        ""
    ' "$WORK/$workload.jsonl"
done
