#!/usr/bin/env bash
# The same SSE workload on one node with the in-memory log and on a cluster of nodes sharing
# one log on a local redis-server, side by side; then, optionally, the cluster at rising
# publish rates. Prints one markdown table per part.
#
#   benches/compare-cluster.sh                             # 1k streams / 10 conns / 10 topics
#   STREAMS=10000 CONNS=100 TOPICS=100 benches/compare-cluster.sh
#   RATE_STEPS="1000 2000 4000 8000" RUNS= benches/compare-cluster.sh   # the rate search only
#
# Environment (defaults in brackets):
#   STREAMS [1000] CONNS [10] TOPICS [10] RATE [1000] DURATION [20] WARMUP [2]
#   PUB_CONNS [4] THREADS [1]   load tool settings (`cargo bench --bench load -- --help`)
#   NODES [3]                   cluster nodes; the streams' connections are spread over them
#                               round-robin, the publisher talks to the first
#   RUNS ["single cluster"]     which side-by-side runs
#   RATE_STEPS [""]             publish rates for the cluster rate search (p99 per rate)
#   APPENDFSYNC [everysec]      Redis persistence (appendonly yes): always | everysec | no
#   REDIS_PORT [6391] BASE_PORT [8460] PING_INTERVAL [10]
#   SSEGATE_BIN [target/release/ssegate, built here]
#   KEEP_WORK                   keep the scratch directory
#
# Redis CPU per event counts the warm-up's events too (its CPU is read around the whole
# run). Needs redis-server (Debian), jq. On 2 cores the nodes, Redis and the load tool share the
# machine: the figures compare layouts on one box, not a cluster's capacity.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

STREAMS="${STREAMS:-1000}"
CONNS="${CONNS:-10}"
TOPICS="${TOPICS:-10}"
RATE="${RATE:-1000}"
DURATION="${DURATION:-20}"
WARMUP="${WARMUP:-2}"
PUB_CONNS="${PUB_CONNS:-4}"
THREADS="${THREADS:-1}"
NODES="${NODES:-3}"
RUNS="${RUNS-single cluster}"
RATE_STEPS="${RATE_STEPS:-}"
APPENDFSYNC="${APPENDFSYNC:-everysec}"
REDIS_PORT="${REDIS_PORT:-6391}"
BASE_PORT="${BASE_PORT:-8460}"
PING_INTERVAL="${PING_INTERVAL:-10}"
SSEGATE_BIN="${SSEGATE_BIN:-}"

WORK="$(mktemp -d /tmp/ssegate-cluster.XXXXXX)"
pids=()
redis_pid=""
load_pid=""

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    [[ -n "$load_pid" ]] && kill -TERM "$load_pid" 2>/dev/null || true
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    [[ -n "$redis_pid" ]] && kill -TERM "$redis_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    if [[ -n "${KEEP_WORK:-}" ]]; then
        echo "compare-cluster: logs and results kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

wait_for_port() {
    local port=$1 pid=$2 deadline=$((SECONDS + 60))
    until (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || { echo "compare-cluster: pid $pid exited before listening on $port" >&2; return 1; }
        ((SECONDS < deadline)) || { echo "compare-cluster: nothing on port $port after 60 s" >&2; return 1; }
        sleep 0.2
    done
}

# CPU seconds (user + system) of a process so far.
cpu_seconds() {
    awk -v tck="$(getconf CLK_TCK)" '{ print ($14 + $15) / tck }' "/proc/$1/stat"
}

echo "compare-cluster: building the load tool (release)" >&2
load_bin="$(cargo bench --bench load --no-run --message-format=json \
    | grep '"kind":\["bench"\]' | grep '"name":"load"' \
    | grep -o '"executable":"[^"]*"' | tail -n 1 | cut -d '"' -f 4)"
[[ -x "$load_bin" ]] || { echo "compare-cluster: could not find the load tool" >&2; exit 1; }
if [[ -z "$SSEGATE_BIN" ]]; then
    cargo build --release --bin ssegate
    SSEGATE_BIN="$repo/target/release/ssegate"
fi
command -v redis-server >/dev/null || { echo "compare-cluster: redis-server is not installed" >&2; exit 1; }

mkdir -p "$WORK/redis"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly yes \
    --appendfsync "$APPENDFSYNC" --dir "$WORK/redis" >"$WORK/redis.log" 2>&1 &
redis_pid=$!
wait_for_port "$REDIS_PORT" "$redis_pid"

# start_node N [extra args...]: a node on BASE_PORT+N; prints nothing, appends to pids.
start_node() {
    local n=$1
    shift
    local port=$((BASE_PORT + n))
    "$SSEGATE_BIN" serve --listen "127.0.0.1:$port" --cert-dir "$WORK/certs" --no-demo \
        --admin-listen 127.0.0.1:0 \
        --heartbeat-interval "$PING_INTERVAL" --history-max-events 100000 "$@" \
        >"$WORK/node$n.log" 2>&1 &
    pids+=($!)
    wait_for_port "$port" "$!"
}

stop_nodes() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}

# run_load LABEL RATE URL... : the first URL takes the publishes, every URL takes streams.
run_load() {
    local label=$1 rate=$2
    shift 2
    local sub_args=() pid_args=()
    for url in "$@"; do sub_args+=(--sub-url "$url"); done
    for pid in "${pids[@]}"; do pid_args+=(--server-pid "$pid"); done
    echo "compare-cluster: $label: $STREAMS streams / $CONNS conns / $TOPICS topics over $# node(s), $rate ev/s for $DURATION s" >&2
    local redis_before
    redis_before=$(cpu_seconds "$redis_pid")
    # shellcheck disable=SC2086 # LOAD_ARGS is a list of arguments
    "$load_bin" --url "$1" "${sub_args[@]}" --streams "$STREAMS" --conns "$CONNS" \
        --topics "$TOPICS" --rate "$rate" --duration "$DURATION" --warmup "$WARMUP" \
        --pub-conns "$PUB_CONNS" --threads "$THREADS" "${pid_args[@]}" --label "$label" \
        --json ${LOAD_ARGS:-} >"$WORK/$label.out" &
    load_pid=$!
    wait "$load_pid"
    load_pid=""
    local redis_after
    redis_after=$(cpu_seconds "$redis_pid")
    grep '^{' "$WORK/$label.out" | tail -n 1 \
        | jq -c --arg r "$(awk -v a="$redis_after" -v b="$redis_before" 'BEGIN { print a - b }')" \
            --arg w "$WARMUP" '. + {redis_cpu_s: ($r | tonumber), warmup_s: ($w | tonumber)}' \
            >>"$WORK/results.jsonl"
}

urls() {
    local first=$1 count=$2
    for ((i = first; i < first + count; i++)); do echo "https://127.0.0.1:$((BASE_PORT + i))"; done
}

for run in $RUNS; do
    case "$run" in
        single)
            start_node 0
            # shellcheck disable=SC2046
            run_load single "$RATE" $(urls 0 1)
            stop_nodes
            ;;
        cluster)
            # One prefix for all the nodes of the run (a fresh one per run: no old history).
            prefix="bench-$RANDOM"
            for ((n = 1; n <= NODES; n++)); do
                start_node "$n" --redis-url "redis://127.0.0.1:$REDIS_PORT/0" \
                    --cluster-key-prefix "$prefix" --node-name "node$n"
            done
            # shellcheck disable=SC2046
            run_load "cluster-$NODES" "$RATE" $(urls 1 "$NODES")
            stop_nodes
            ;;
        *) echo "compare-cluster: unknown run $run (single, cluster)" >&2; exit 64 ;;
    esac
done
if [[ -n "$RATE_STEPS" ]]; then
    prefix="bench-steps-$RANDOM"
    for ((n = 1; n <= NODES; n++)); do
        start_node "$n" --redis-url "redis://127.0.0.1:$REDIS_PORT/0" \
            --cluster-key-prefix "$prefix" --node-name "node$n"
    done
    for rate in $RATE_STEPS; do
        # shellcheck disable=SC2046
        run_load "cluster-$NODES@$rate" "$rate" $(urls 1 "$NODES")
    done
    stop_nodes
fi

echo
jq -rs '
  def f(d): if . == null then "n/a" else (. * pow(10; d) | round) / pow(10; d) | tostring end;
  def ms: if . == null then "n/a" else (. / 1000 | f(1)) end;
  def cores(seconds): (seconds) as $s | if $s == null then "n/a" else ($s / .duration_s | f(2)) end;
  . as $runs
  | [
      ["published / s", ($runs | map(.publish_rate | f(1)))[]],
      ["deliveries / s", ($runs | map(.deliveries_per_s | f(0)))[]],
      ["latency p50 ms", ($runs | map(.latency.p50_us | ms))[]],
      ["latency p99 ms", ($runs | map(.latency.p99_us | ms))[]],
      ["latency max ms", ($runs | map(.latency.max_us | ms))[]],
      ["lost / duplicates / reordered", ($runs | map("\(.lost) / \(.duplicates) / \(.reordered)"))[]],
      ["nodes CPU µs / delivery", ($runs | map(.server_cpu_us_per_delivery | f(2)))[]],
      ["nodes CPU cores", ($runs | map(cores(.server_cpu_s)))[]],
      ["nodes memory KiB / stream", ($runs | map(.server_rss_per_stream_kib | f(1)))[]],
      ["Redis CPU µs / published event", ($runs | map(if .publish_rate > 0 then (.redis_cpu_s * 1e6 / (.publish_rate * (.duration_s + .warmup_s)) | f(1)) else "n/a" end))[]],
      ["load tool CPU cores", ($runs | map(cores(.client_cpu_s)))[]]
    ]
  | (["figure", ($runs | map(.label))[]]) as $head
  | ([$head] + [$head | map("---")] + .)
  | map("| " + join(" | ") + " |")[]
' "$WORK/results.jsonl"
