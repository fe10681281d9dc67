#!/usr/bin/env bash
# Run the same SSE workload against nginx + nchan and against ssegate, and print the two
# side by side (the figures PERFORMANCE.md compares).
#
#   benches/compare.sh                          # 10k streams / 100 conns / 100 topics, 1,000 ev/s, 20 s
#   STREAMS=1000 CONNS=10 TOPICS=10 DURATION=10 benches/compare.sh
#   SERVERS=nchan benches/compare.sh            # one side only
#   SERVERS="floor ssegate" benches/compare.sh  # against the stack's floor (benches/floor.rs)
#
# Environment (defaults in brackets):
#   STREAMS [10000] CONNS [100] TOPICS [100] RATE [1000] DURATION [20] WARMUP [2]
#   PUB_CONNS [4] THREADS [1]         load tool settings (see `cargo bench --bench load -- --help`)
#   LOAD_ARGS                         extra load tool arguments, for both servers
#   SERVERS ["nchan ssegate"]         which servers to run, in order: nchan, ssegate, floor
#   NCHAN_PORT [8444] PING_INTERVAL [10]   nchan (benches/nchan/nchan.sh)
#   SSEGATE_PORT [8443]
#   SSEGATE_CMD  [target/release/ssegate serve --listen 127.0.0.1:$SSEGATE_PORT --cert-dir $WORK/certs
#                 --heartbeat-interval $PING_INTERVAL]  (both send heartbeats at the same interval)
#   SSEGATE_SUB_PATH ['/events/{topic}'] SSEGATE_PUB_PATH ['/events/{topic}']
#   FLOOR_PORT [8445] FLOOR_ARGS      the floor server (benches/floor.rs), e.g. "--workers 1"
#   KEEP_WORK                         keep the scratch directory (logs, JSON lines)
#
# Needs root (nginx runs as root with a raised fd limit), nginx with libnginx-mod-nchan,
# openssl, and jq for the final table. The machine should be otherwise idle: on 2 cores any
# other program shows up in the latency and CPU figures (the tool reports "other programs"
# CPU for that reason).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

STREAMS="${STREAMS:-10000}"
CONNS="${CONNS:-100}"
TOPICS="${TOPICS:-100}"
RATE="${RATE:-1000}"
DURATION="${DURATION:-20}"
WARMUP="${WARMUP:-2}"
PUB_CONNS="${PUB_CONNS:-4}"
THREADS="${THREADS:-1}"
SERVERS="${SERVERS:-nchan ssegate}"
NCHAN_PORT="${NCHAN_PORT:-8444}"
PING_INTERVAL="${PING_INTERVAL:-10}"
export PING_INTERVAL
SSEGATE_PORT="${SSEGATE_PORT:-8443}"
FLOOR_PORT="${FLOOR_PORT:-8445}"
default_path='/events/{topic}'
SSEGATE_SUB_PATH="${SSEGATE_SUB_PATH:-$default_path}"
SSEGATE_PUB_PATH="${SSEGATE_PUB_PATH:-$default_path}"

WORK="$(mktemp -d /tmp/ssegate-compare.XXXXXX)"
export NCHAN_DIR="$WORK/nchan" NCHAN_PORT
SSEGATE_CMD="${SSEGATE_CMD:-target/release/ssegate serve --listen 127.0.0.1:$SSEGATE_PORT --cert-dir $WORK/certs --heartbeat-interval $PING_INTERVAL}"
ssegate_pid=""
floor_pid=""
load_pid=""

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n "$load_pid" ]]; then
        kill -TERM "$load_pid" 2>/dev/null || true
        wait "$load_pid" 2>/dev/null || true
    fi
    if [[ -n "$ssegate_pid" ]] && kill -0 "$ssegate_pid" 2>/dev/null; then
        stop_pid "$ssegate_pid"
    fi
    if [[ -n "$floor_pid" ]] && kill -0 "$floor_pid" 2>/dev/null; then
        stop_pid "$floor_pid"
    fi
    if [[ -d "$NCHAN_DIR" ]]; then
        benches/nchan/nchan.sh stop || true
    fi
    if [[ -n "${KEEP_WORK:-}" ]]; then
        echo "compare: logs and results kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# TERM, then KILL after 10 s.
stop_pid() {
    local pid=$1 deadline=$((SECONDS + 10))
    kill -TERM "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS > deadline)); then
            echo "compare: pid $pid ignored TERM for 10 s, killing" >&2
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    wait "$pid" 2>/dev/null || true
}

wait_for_port() {
    local port=$1 pid=$2 deadline=$((SECONDS + 60))
    until (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "compare: the server (pid $pid) exited before listening on $port" >&2
            return 1
        fi
        if ((SECONDS > deadline)); then
            echo "compare: nothing listens on port $port after 60 s" >&2
            return 1
        fi
        sleep 0.2
    done
}

# Build once, then run the binary: a rebuild in the middle (someone editing the tree)
# would otherwise change the tool between the two runs.
echo "compare: building the load tool (release)" >&2
# The bench's own artifact: the ssegate binary is built (and listed) too, in any order.
load_bin="$(cargo bench --bench load --no-run --message-format=json \
    | grep '"kind":\["bench"\]' | grep '"name":"load"' \
    | grep -o '"executable":"[^"]*"' | tail -n 1 | cut -d '"' -f 4)"
[[ -x "$load_bin" ]] || { echo "compare: could not find the load tool binary" >&2; exit 1; }
if [[ " $SERVERS " == *" floor "* ]]; then
    echo "compare: building the floor server (release)" >&2
    floor_bin="$(cargo bench --bench floor --no-run --message-format=json \
        | grep '"kind":\["bench"\]' | grep '"name":"floor"' \
        | grep -o '"executable":"[^"]*"' | tail -n 1 | cut -d '"' -f 4)"
    [[ -x "$floor_bin" ]] || { echo "compare: could not find the floor server binary" >&2; exit 1; }
fi
if [[ " $SERVERS " == *" ssegate "* && "$SSEGATE_CMD" == target/release/ssegate* ]]; then
    echo "compare: building ssegate (release)" >&2
    cargo build --release --bin ssegate
fi

# run_load LABEL URL SUB_PATH PUB_PATH PID...
run_load() {
    local label=$1 url=$2 sub=$3 pub=$4
    shift 4
    local pid_args=()
    for pid in "$@"; do pid_args+=(--server-pid "$pid"); done
    echo "compare: $label: $STREAMS streams / $CONNS conns / $TOPICS topics, $RATE ev/s for $DURATION s" >&2
    # In the background and `wait`ed for, so that a signal runs the cleanup trap at once
    # (bash defers traps until a foreground command ends).
    # shellcheck disable=SC2086 # LOAD_ARGS is a list of arguments
    "$load_bin" --url "$url" --sub-path "$sub" --pub-path "$pub" \
        --streams "$STREAMS" --conns "$CONNS" --topics "$TOPICS" --rate "$RATE" \
        --duration "$DURATION" --warmup "$WARMUP" --pub-conns "$PUB_CONNS" --threads "$THREADS" \
        "${pid_args[@]}" --label "$label" --json ${LOAD_ARGS:-} >"$WORK/$label.out" &
    load_pid=$!
    wait "$load_pid"
    load_pid=""
    cat "$WORK/$label.out"
    grep '^{' "$WORK/$label.out" | tail -n 1 >>"$WORK/results.jsonl"
}

for server in $SERVERS; do
    case "$server" in
        nchan)
            benches/nchan/nchan.sh start
            # shellcheck disable=SC2046 # one pid per word
            run_load nchan "https://127.0.0.1:$NCHAN_PORT" '/sub/{topic}' '/pub?id={topic}' \
                $(benches/nchan/nchan.sh pids)
            benches/nchan/nchan.sh stop
            ;;
        ssegate)
            if (echo >"/dev/tcp/127.0.0.1/$SSEGATE_PORT") 2>/dev/null; then
                echo "compare: something already listens on 127.0.0.1:$SSEGATE_PORT (SSEGATE_PORT)" >&2
                exit 1
            fi
            echo "compare: starting: $SSEGATE_CMD" >&2
            # `exec` so that the pid is the server's own, for --server-pid.
            bash -c "exec $SSEGATE_CMD" >"$WORK/ssegate.log" 2>&1 &
            ssegate_pid=$!
            wait_for_port "$SSEGATE_PORT" "$ssegate_pid" || { tail -n 20 "$WORK/ssegate.log" >&2; exit 1; }
            run_load ssegate "https://127.0.0.1:$SSEGATE_PORT" "$SSEGATE_SUB_PATH" "$SSEGATE_PUB_PATH" \
                "$ssegate_pid"
            stop_pid "$ssegate_pid"
            ssegate_pid=""
            ;;
        floor)
            if (echo >"/dev/tcp/127.0.0.1/$FLOOR_PORT") 2>/dev/null; then
                echo "compare: something already listens on 127.0.0.1:$FLOOR_PORT (FLOOR_PORT)" >&2
                exit 1
            fi
            # shellcheck disable=SC2086 # FLOOR_ARGS is a list of arguments
            "$floor_bin" --listen "127.0.0.1:$FLOOR_PORT" --cert-dir "$WORK/floor-certs" \
                --heartbeat-interval "$PING_INTERVAL" ${FLOOR_ARGS:-} >"$WORK/floor.log" 2>&1 &
            floor_pid=$!
            wait_for_port "$FLOOR_PORT" "$floor_pid" || { tail -n 20 "$WORK/floor.log" >&2; exit 1; }
            run_load floor "https://127.0.0.1:$FLOOR_PORT" '/events/{topic}' '/events/{topic}' "$floor_pid"
            stop_pid "$floor_pid"
            floor_pid=""
            ;;
        *)
            echo "compare: unknown server $server (nchan, ssegate, floor)" >&2
            exit 64
            ;;
    esac
done

echo
if ! command -v jq >/dev/null; then
    echo "compare: jq not found; the JSON lines:" >&2
    cat "$WORK/results.jsonl"
    exit 0
fi
# One column per server, one row per figure.
jq -rs '
  def f(d): if . == null then "n/a" else (. * pow(10; d) | round) / pow(10; d) | tostring end;
  def ms: if . == null then "n/a" else (. / 1000 | f(1)) end;
  def cores(seconds): (seconds) as $s | if $s == null then "n/a" else ($s / .duration_s | f(2)) end;
  . as $runs
  | [
      ["workload", ($runs | map("\(.streams) streams / \(.conns) conns / \(.topics) topics, \(.rate) ev/s × \(.duration_s) s"))[]],
      ["streams established", ($runs | map("\(.streams_established) (failed \(.streams_failed))"))[]],
      ["published / s", ($runs | map(.publish_rate | f(1)))[]],
      ["deliveries / s", ($runs | map(.deliveries_per_s | f(0)))[]],
      ["latency p50 ms", ($runs | map(.latency.p50_us | ms))[]],
      ["latency p90 ms", ($runs | map(.latency.p90_us | ms))[]],
      ["latency p99 ms", ($runs | map(.latency.p99_us | ms))[]],
      ["latency max ms", ($runs | map(.latency.max_us | ms))[]],
      ["lost / duplicates / reordered", ($runs | map("\(.lost) / \(.duplicates) / \(.reordered)"))[]],
      ["server CPU µs / delivery", ($runs | map(.server_cpu_us_per_delivery | f(2)))[]],
      ["server CPU cores", ($runs | map(cores(.server_cpu_s)))[]],
      ["server memory KiB / stream", ($runs | map(.server_rss_per_stream_kib | f(1)))[]],
      ["load tool CPU cores", ($runs | map(cores(.client_cpu_s)))[]],
      ["other processes CPU cores", ($runs | map(cores(.other_cpu_s)))[]]
    ]
  | (["figure", ($runs | map(.label))[]]) as $head
  | ([$head] + [$head | map("---")] + .)
  | map("| " + join(" | ") + " |")[]
' "$WORK/results.jsonl"
