#!/usr/bin/env bash
# Metrics on vs off: the same server binary, with the admin listener (and so the counting)
# on, or --no-admin (nothing counted on the delivery path); the load tool at 1k streams /
# 10 connections / 10 topics / 1,000 events/s (100k deliveries/s), 10 s, runs alternated.
# Build first: cargo build --release --locked --bins --benches (CARGO_TARGET_DIR is honoured).
set -u
TARGET="${CARGO_TARGET_DIR:-target}"
BIN="$TARGET/release/ssegate"
LOAD=$(ls -t "$TARGET"/release/deps/load-* | grep -v '\.d$' | head -1)
WORK=$(mktemp -d /tmp/metrics-measure.XXXXXX)
PORT=18443
for run in on-1 off-1 on-2 off-2; do
    mode=${run%-*}
    args=(serve --listen 127.0.0.1:$PORT --cert-dir "$WORK/certs" --no-demo)
    if [[ $mode == on ]]; then args+=(--admin-listen 127.0.0.1:19180); else args+=(--no-admin); fi
    "$BIN" "${args[@]}" >"$WORK/$run.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
    "$LOAD" --url https://127.0.0.1:$PORT --streams 1000 --conns 10 --topics 10 --rate 1000 \
        --duration 10 --server-pid $pid --label "metrics-$run" >"$WORK/$run.out" 2>&1
    if [[ $mode == on ]]; then
        curl -s http://127.0.0.1:19180/metrics | grep -E '^ssegate_events_delivered_total|^ssegate_delivery_latency_seconds_count|^ssegate_events_published_total\{front_door="events"' >"$WORK/$run.scrape"
    fi
    kill -INT $pid; wait $pid
    echo "== $run"; cat "$WORK/$run.out"; [[ -f $WORK/$run.scrape ]] && cat "$WORK/$run.scrape"
done
echo "work: $WORK"
