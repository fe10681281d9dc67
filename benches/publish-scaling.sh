#!/usr/bin/env bash
# Publish requests/s on 1 and on 2 worker threads (`ssegate serve --workers`) (issue 12, item 5: publishes to different
# topics proceed in parallel, the fan-out outside any global lock), with no subscriber and
# with SUBS subscribers held open by the load tool (stream i on topic load-t{i % TOPICS},
# so each publish fans out to SUBS/TOPICS streams). h2load publishes round-robin over the
# TOPICS topics.
#
#   benches/publish-scaling.sh
#   SUBS=20000 TOPICS=100 N=100000 benches/publish-scaling.sh
#   SSEGATE_BIN=/elsewhere/target/release/ssegate benches/publish-scaling.sh   # another build
#
# Environment (defaults in brackets): SUBS [10000] CONNS [100] TOPICS [100] N [100000]
# H2LOAD_C [4] H2LOAD_M [16] THREADS ["1 2"] RUNS [2] SSEGATE_PORT [8443]
# SSEGATE_BIN [target/release/ssegate, built here]. Needs h2load (nghttp2-client). On this
# 2-core machine h2load and the load tool share the cores with the server: the figures
# compare builds and thread counts with each other, not with another machine.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

SUBS="${SUBS:-10000}"
CONNS="${CONNS:-100}"
TOPICS="${TOPICS:-100}"
N="${N:-100000}"
H2LOAD_C="${H2LOAD_C:-4}"
H2LOAD_M="${H2LOAD_M:-16}"
THREADS="${THREADS:-1 2}"
RUNS="${RUNS:-2}"
SSEGATE_PORT="${SSEGATE_PORT:-8443}"

command -v h2load >/dev/null || { echo "publish-scaling: h2load not found (apt-get install nghttp2-client)" >&2; exit 1; }

WORK="$(mktemp -d /tmp/ssegate-publish-scaling.XXXXXX)"
server_pid=""
load_pid=""
cleanup() {
    for pid in $load_pid $server_pid; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "publish-scaling: building (release)" >&2
load_bin="$(cargo bench --bench load --no-run --message-format=json \
    | grep '"kind":\["bench"\]' | grep '"name":"load"' \
    | grep -o '"executable":"[^"]*"' | tail -n 1 | cut -d '"' -f 4)"
[[ -x "$load_bin" ]] || { echo "publish-scaling: could not find the load tool binary" >&2; exit 1; }
if [[ -z "${SSEGATE_BIN:-}" ]]; then
    cargo build --release --bin ssegate
    SSEGATE_BIN=target/release/ssegate
fi

printf 'hello world' >"$WORK/body.txt"
for ((t = 0; t < TOPICS; t++)); do
    echo "https://127.0.0.1:$SSEGATE_PORT/events/load-t$t"
done >"$WORK/uris.txt"

wait_for_port() {
    for _ in $(seq 1 300); do
        (echo >"/dev/tcp/127.0.0.1/$SSEGATE_PORT") 2>/dev/null && return 0
        sleep 0.2
    done
    echo "publish-scaling: the server does not listen" >&2
    return 1
}

# The requests/s h2load reports, and how many answered 2xx.
publish() {
    h2load -c "$H2LOAD_C" -m "$H2LOAD_M" -n "$N" -d "$WORK/body.txt" -i "$WORK/uris.txt" \
        >"$WORK/h2load.out"
    local rps ok
    rps="$(awk '/^finished in/ {print $4}' "$WORK/h2load.out")"
    ok="$(awk '/^status codes:/ {print $3}' "$WORK/h2load.out")"
    echo "$rps req/s (2xx: $ok of $N)"
}

printf '%-8s %-12s %s\n' threads subscribers "publish requests/s, run by run"
for threads in $THREADS; do
    # Connections are served on `--workers` threads of their own (the runtime that
    # accepts them is idle beside them).
    "$SSEGATE_BIN" serve --workers "$threads" --listen "127.0.0.1:$SSEGATE_PORT" \
        --cert-dir "$WORK/certs" --no-admin --heartbeat-interval 10 \
        --max-connections 20000 >"$WORK/server.log" 2>&1 &
    server_pid=$!
    wait_for_port
    for subs in 0 "$SUBS"; do
        results=()
        if [[ "$subs" != 0 ]]; then
            # Holds the streams for longer than the publishing takes; its own publisher sends
            # one event a second, noise beside h2load's.
            "$load_bin" --url "https://127.0.0.1:$SSEGATE_PORT" --streams "$subs" --conns "$CONNS" \
                --topics "$TOPICS" --rate 1 --warmup 0 --duration 3600 --settle 1 \
                >"$WORK/load.out" 2>&1 &
            load_pid=$!
            # Established: the server's log counts the streams in its summary; simpler and
            # enough here, a pause long enough for the handshakes on two busy cores.
            sleep $((5 + subs / 2000))
        fi
        for ((run = 1; run <= RUNS; run++)); do
            results+=("$(publish)")
        done
        printf '%-8s %-12s %s\n' "$threads" "$subs" "$(IFS='; '; echo "${results[*]}")"
        if [[ -n "$load_pid" ]]; then
            kill -TERM "$load_pid" 2>/dev/null || true
            wait "$load_pid" 2>/dev/null || true
            load_pid=""
        fi
    done
    kill -TERM "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
done
