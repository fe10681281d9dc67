#!/usr/bin/env bash
# Failover of a cluster node: a local redis-server (AOF everysec), two ssegate nodes; the
# failover bench opens STREAMS streams on node 1, publishes to node 2, SIGKILLs node 1 and
# reports how long its clients took to resume on node 2, and what they lost or repeated.
#
#   benches/failover.sh                      # 1,000 streams on 10 connections, 100 ev/s
#   STREAMS=5000 CONNS=50 benches/failover.sh
#
# Environment: STREAMS [1000] CONNS [10] RATE [100] REDIS_PORT [6397] BASE_PORT [8470]
#              SSEGATE_BIN [target/release/ssegate, built here]. Needs redis-server.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
STREAMS="${STREAMS:-1000}"
CONNS="${CONNS:-10}"
RATE="${RATE:-100}"
REDIS_PORT="${REDIS_PORT:-6397}"
BASE_PORT="${BASE_PORT:-8470}"
SSEGATE_BIN="${SSEGATE_BIN:-}"
WORK="$(mktemp -d /tmp/ssegate-failover.XXXXXX)"
pids=()
cleanup() {
    local status=$?
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
wait_for_port() {
    local deadline=$((SECONDS + 60))
    until (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
        ((SECONDS < deadline)) || { echo "failover: nothing on port $1" >&2; return 1; }
        sleep 0.2
    done
}
bench="$(cargo bench --bench failover --no-run --message-format=json \
    | grep '"kind":\["bench"\]' | grep '"name":"failover"' \
    | grep -o '"executable":"[^"]*"' | tail -n 1 | cut -d '"' -f 4)"
if [[ -z "$SSEGATE_BIN" ]]; then
    cargo build --release --bin ssegate
    SSEGATE_BIN="$repo/target/release/ssegate"
fi
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly yes \
    --appendfsync everysec --dir "$WORK" >"$WORK/redis.log" 2>&1 &
pids+=($!)
wait_for_port "$REDIS_PORT"
for n in 1 2; do
    "$SSEGATE_BIN" serve --listen "127.0.0.1:$((BASE_PORT + n))" --cert-dir "$WORK/certs" \
        --no-demo --admin-listen 127.0.0.1:0 --redis-url "redis://127.0.0.1:$REDIS_PORT/0" --cluster-key-prefix failover \
        --node-name "node$n" >"$WORK/node$n.log" 2>&1 &
    pids+=($!)
    wait_for_port "$((BASE_PORT + n))"
done
"$bench" --doomed "https://127.0.0.1:$((BASE_PORT + 1))" \
    --survivor "https://127.0.0.1:$((BASE_PORT + 2))" --kill-pid "${pids[1]}" \
    --streams "$STREAMS" --conns "$CONNS" --rate "$RATE"
