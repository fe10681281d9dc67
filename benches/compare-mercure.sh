#!/usr/bin/env bash
# The Mercure hub's figures beside the native API's, on one machine in one session:
#
#   1. publish requests/s with token verification (h2load, several streams per connection
#      over several connections): Mercure form POST with a JWT access token, against
#      POST /events/{topic} with no token and with a static token;
#   2. deliveries with 10,000 Mercure subscribers using URL-pattern matchers, against the
#      same run on /events, and on Mercure with exact matchers (benches/compare.sh's load
#      tool workload: 10k streams / 100 conns / 100 topics, 1,000 ev/s, 20 s; every publish
#      carries the token and is verified).
#
#   benches/compare-mercure.sh
#   STREAMS=1000 CONNS=10 TOPICS=10 DURATION=5 RUNS="events mercure-pattern" benches/compare-mercure.sh
#
# Environment (defaults in brackets): STREAMS, CONNS, TOPICS, RATE, DURATION, WARMUP as in
# benches/compare.sh; RUNS ["events mercure-pattern mercure-exact"]; H2LOAD [1] (0 skips
# part 1); H2LOAD_N [200000] H2LOAD_C [10] H2LOAD_M [10]; SSEGATE_PORT [8443].
# Needs h2load (nghttp2-client) for part 1 and what benches/compare.sh needs for part 2.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

RUNS="${RUNS:-events mercure-pattern mercure-exact}"
H2LOAD="${H2LOAD:-1}"
H2LOAD_N="${H2LOAD_N:-200000}"
H2LOAD_C="${H2LOAD_C:-10}"
H2LOAD_M="${H2LOAD_M:-10}"
SSEGATE_PORT="${SSEGATE_PORT:-8443}"
export SSEGATE_PORT

WORK="$(mktemp -d /tmp/ssegate-mercure.XXXXXX)"
server_pid=""
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n "$server_pid" ]]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "compare-mercure: building ssegate (release)" >&2
cargo build --release --bin ssegate
bin=target/release/ssegate

# A self-issuing publisher: its secret, the hub's config, and the tokens.
head -c 48 /dev/urandom | base64 | tr -d '\n' >"$WORK/secret"
hub_url="https://localhost:$SSEGATE_PORT/.well-known/mercure"
cat >"$WORK/ssegate.toml" <<EOF
[hub]
publish_auth = "required"
publish_tokens_file = "$WORK/static-tokens"

[mercure]
hub_url = "$hub_url"
# The load tool is one client address with all the streams.
max_streams_per_client = 0

[[mercure.issuers]]
iss = "https://bench.example"
hmac_secret_file = "$WORK/secret"
EOF
head -c 32 /dev/urandom | base64 | tr -d '\n/+=' >"$WORK/static-tokens"
"$bin" token --secret-file "$WORK/secret" --iss https://bench.example --aud "$hub_url" \
    --publish-pattern 'https://example.com/feeds/:feed/:item' --publish-pattern '/events/*' \
    --publish '*' >"$WORK/token"
serve=("$bin" serve --config "$WORK/ssegate.toml" --listen "127.0.0.1:$SSEGATE_PORT"
    --cert-dir "$WORK/certs" --heartbeat-interval 10)

if [[ "$H2LOAD" != 0 ]]; then
    command -v h2load >/dev/null || { echo "compare-mercure: h2load not found (apt-get install nghttp2-client)" >&2; exit 1; }
    "${serve[@]}" >"$WORK/h2load-server.log" 2>&1 &
    server_pid=$!
    until (echo >"/dev/tcp/127.0.0.1/$SSEGATE_PORT") 2>/dev/null; do sleep 0.2; done
    printf 'hello world' >"$WORK/body.txt"
    printf 'topic=https%%3A%%2F%%2Fexample.com%%2Ffeeds%%2Fa%%2F1&data=hello+world' >"$WORK/form.txt"
    h2() {
        local label=$1
        shift
        local out="$WORK/h2load.out" rps ok
        h2load -c "$H2LOAD_C" -m "$H2LOAD_M" -n "$H2LOAD_N" "$@" >"$out"
        rps="$(awk '/^finished in/ {print $4}' "$out")"
        ok="$(awk '/^status codes:/ {print $3}' "$out")"
        printf '  %-44s %10s req/s  (2xx: %s of %s)\n' "$label" "$rps" "$ok" "$H2LOAD_N"
    }
    echo "== publish requests/s, h2load -c $H2LOAD_C -m $H2LOAD_M -n $H2LOAD_N (${H2LOAD_C}×${H2LOAD_M} streams)"
    h2 "/events/rate, static bearer token" -d "$WORK/body.txt" \
        -H "authorization: Bearer $(cat "$WORK/static-tokens")" \
        "https://127.0.0.1:$SSEGATE_PORT/events/rate"
    h2 "/events/rate, JWT access token (verified)" -d "$WORK/body.txt" \
        -H "authorization: Bearer $(cat "$WORK/token")" \
        "https://127.0.0.1:$SSEGATE_PORT/events/rate"
    h2 "Mercure POST, JWT access token (verified)" -d "$WORK/form.txt" \
        -H "authorization: Bearer $(cat "$WORK/token")" \
        -H 'content-type: application/x-www-form-urlencoded' \
        "https://127.0.0.1:$SSEGATE_PORT/.well-known/mercure"
    kill -TERM "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
fi

cmd="${serve[*]}"
for run in $RUNS; do
    echo
    echo "== $run"
    case "$run" in
        events)
            SERVERS=ssegate SSEGATE_CMD="$cmd" LOAD_ARGS="--pub-bearer-file $WORK/static-tokens" \
                benches/compare.sh
            ;;
        mercure-pattern)
            SERVERS=ssegate SSEGATE_CMD="$cmd" \
                SSEGATE_SUB_PATH='/.well-known/mercure?match_urlpattern=https://example.com/feeds/{topic}/:item' \
                SSEGATE_PUB_PATH='/.well-known/mercure' \
                LOAD_ARGS="--pub-form https://example.com/feeds/{topic}/1 --pub-bearer-file $WORK/token" \
                benches/compare.sh
            ;;
        mercure-exact)
            SERVERS=ssegate SSEGATE_CMD="$cmd" \
                SSEGATE_SUB_PATH='/.well-known/mercure?match=https://example.com/feeds/{topic}/1' \
                SSEGATE_PUB_PATH='/.well-known/mercure' \
                LOAD_ARGS="--pub-form https://example.com/feeds/{topic}/1 --pub-bearer-file $WORK/token" \
                benches/compare.sh
            ;;
        *)
            echo "compare-mercure: unknown run $run (events, mercure-pattern, mercure-exact)" >&2
            exit 64
            ;;
    esac
done
