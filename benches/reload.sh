#!/usr/bin/env bash
# Certificate reload under load: STREAMS streams over CONNS h2 connections receive RATE
# events/s while the server's certificate files are replaced RELOADS times (every INTERVAL
# seconds, alternating two certificates), each followed by SIGHUP. Reports what the load
# tool saw (streams ended, events lost or repeated) and, for each reload, whether new
# handshakes got the new certificate (openssl s_client).
#
#   benches/reload.sh                                  # 10,000 streams on 100 connections
#   STREAMS=1000 CONNS=10 RELOADS=3 benches/reload.sh
#
# Environment: STREAMS [10000] CONNS [100] TOPICS [100] RATE [100] RELOADS [5] INTERVAL [2]
#              PORT [8490] SSEGATE_BIN [target/release/ssegate, built here]. Needs openssl.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
STREAMS="${STREAMS:-10000}"
CONNS="${CONNS:-100}"
TOPICS="${TOPICS:-100}"
RATE="${RATE:-100}"
RELOADS="${RELOADS:-5}"
INTERVAL="${INTERVAL:-2}"
PORT="${PORT:-8490}"
SSEGATE_BIN="${SSEGATE_BIN:-}"
WORK="$(mktemp -d /tmp/ssegate-reload.XXXXXX)"
pids=()
cleanup() {
    local status=$?
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT

load_bin="$(cargo bench --bench load --no-run --message-format=json \
    | grep '"kind":\["bench"\]' | grep '"name":"load"' \
    | grep -o '"executable":"[^"]*"' | tail -n 1 | cut -d '"' -f 4)"
if [[ -z "$SSEGATE_BIN" ]]; then
    cargo build --release --bin ssegate
    SSEGATE_BIN="$repo/target/release/ssegate"
fi

# Two certificates from one local CA: the clients trust the CA, so both verify.
for pair in a b; do
    "$SSEGATE_BIN" cert --renew --dir "$WORK/ca" --hosts localhost,127.0.0.1 >/dev/null
    cp "$WORK/ca/server.pem" "$WORK/$pair.pem"
    cp "$WORK/ca/server-key.pem" "$WORK/$pair-key.pem"
done
cp "$WORK/a.pem" "$WORK/live.pem"
cp "$WORK/a-key.pem" "$WORK/live-key.pem"
fingerprint() { openssl x509 -in "$1" -noout -fingerprint -sha256; }
served() {
    openssl s_client -connect "127.0.0.1:$PORT" -servername localhost </dev/null 2>/dev/null \
        | openssl x509 -noout -fingerprint -sha256
}

"$SSEGATE_BIN" serve --listen "127.0.0.1:$PORT" --cert "$WORK/live.pem" --key "$WORK/live-key.pem" \
    --no-demo --h2-max-concurrent-streams 1000 >"$WORK/ssegate.log" 2>&1 &
pids+=($!)
server_pid=$!
deadline=$((SECONDS + 30))
until (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do
    ((SECONDS < deadline)) || { echo "reload: ssegate did not start" >&2; exit 1; }
    sleep 0.2
done

# Publishing covers the reloads with room on both sides.
duration=$((RELOADS * INTERVAL + 6))
"$load_bin" --url "https://127.0.0.1:$PORT" --sub-path '/events/{topic}' --pub-path '/events/{topic}' \
    --streams "$STREAMS" --conns "$CONNS" --topics "$TOPICS" --rate "$RATE" --duration "$duration" \
    --cacert "$WORK/ca/ca.pem" --server-pid "$server_pid" --label reload --json >"$WORK/load.out" 2>"$WORK/load.err" &
load_pid=$!
pids+=($load_pid)

# Reload once every stream is up (the tool says so) and publishing has begun.
deadline=$((SECONDS + 120))
until grep -q "streams established" "$WORK/load.err"; do
    ((SECONDS < deadline)) || { cat "$WORK/load.err" >&2; exit 1; }
    sleep 0.2
done
sleep 2
verified=0
for i in $(seq 1 "$RELOADS"); do
    pair=$([ $((i % 2)) -eq 1 ] && echo b || echo a)
    cp "$WORK/$pair.pem" "$WORK/live.pem.tmp" && mv "$WORK/live.pem.tmp" "$WORK/live.pem"
    cp "$WORK/$pair-key.pem" "$WORK/live-key.pem.tmp" && mv "$WORK/live-key.pem.tmp" "$WORK/live-key.pem"
    kill -HUP "$server_pid"
    sleep 0.3
    if [[ "$(served)" == "$(fingerprint "$WORK/$pair.pem")" ]]; then
        verified=$((verified + 1))
    else
        echo "reload: after reload $i the server still presents the old certificate" >&2
    fi
    sleep "$INTERVAL"
done
wait "$load_pid"
cat "$WORK/load.err" >&2
cat "$WORK/load.out"
echo "reload: $verified of $RELOADS reloads served the new certificate to new handshakes"
grep -c "serving the new certificate" "$WORK/ssegate.log" | sed 's/^/reload: reloads logged by the server: /'
