#!/usr/bin/env bash
# Start, inspect and stop a standalone nginx + nchan for the load comparison.
#
#   benches/nchan/nchan.sh start   # render the config, make a cert, start nginx, wait for the port
#   benches/nchan/nchan.sh pids    # master and worker pids, space separated (for --server-pid)
#   benches/nchan/nchan.sh stop    # graceful stop (QUIT), then TERM/KILL after 10 s
#
# Environment: NCHAN_DIR (default /tmp/ssegate-nchan; holds config, cert, pid, logs),
# NCHAN_PORT (default 8444), PING_INTERVAL (seconds between heartbeat comments, default 10:
# the interval PERFORMANCE.md's nchan figures were measured with). Must run as root for
# `user root` and the fd limits in the template.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${NCHAN_DIR:-/tmp/ssegate-nchan}"
port="${NCHAN_PORT:-8444}"
ping_interval="${PING_INTERVAL:-10}"

master_pid() {
    [[ -s "$dir/nginx.pid" ]] && cat "$dir/nginx.pid"
}

cmd_pids() {
    local master
    master="$(master_pid)" || { echo "nchan.sh: not running (no $dir/nginx.pid)" >&2; return 1; }
    # Workers are the master's children; selecting by parent pid, never by name.
    echo "$master" $(pgrep -P "$master" | tr '\n' ' ')
}

cmd_start() {
    if master="$(master_pid)" && kill -0 "$master" 2>/dev/null; then
        echo "nchan.sh: already running (pid $master)" >&2
        return 1
    fi
    if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "nchan.sh: something already listens on 127.0.0.1:$port (NCHAN_PORT)" >&2
        return 1
    fi
    mkdir -p "$dir/tmp"
    if [[ ! -s "$dir/cert.pem" ]]; then
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
            -subj /CN=localhost -addext 'subjectAltName=IP:127.0.0.1,DNS:localhost' \
            -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
    fi
    sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|g" -e "s|@CERT@|$dir/cert.pem|g" \
        -e "s|@KEY@|$dir/key.pem|g" -e "s|@PING_INTERVAL@|$ping_interval|g" \
        "$here/nginx.conf.template" >"$dir/nginx.conf"
    # nchan logs its shared memory size at [info] even with -q: show the output on failure only.
    if ! out="$(nginx -q -t -p "$dir" -c "$dir/nginx.conf" 2>&1)"; then
        echo "$out" >&2
        return 1
    fi
    # `daemon off` keeps the master in the foreground; run it in the background here so the
    # caller gets the prompt back, and find it again through the pid file.
    nohup nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' >"$dir/stdout.log" 2>&1 &
    local nginx_pid=$! deadline=$((SECONDS + 10))
    until [[ -s "$dir/nginx.pid" ]] && (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        if ! kill -0 "$nginx_pid" 2>/dev/null; then
            echo "nchan.sh: nginx exited at start:" >&2
            tail -n 5 "$dir/stdout.log" >&2
            return 1
        fi
        if ((SECONDS > deadline)); then
            echo "nchan.sh: nginx did not come up on port $port; see $dir/error.log" >&2
            return 1
        fi
        sleep 0.1
    done
    # Wait for both workers so `pids` reports all of them.
    until (($(pgrep -c -P "$(master_pid)") >= 2)) || ((SECONDS > deadline)); do sleep 0.1; done
    echo "nchan.sh: nginx+nchan on https://127.0.0.1:$port (pids $(cmd_pids))" >&2
}

cmd_stop() {
    local master
    master="$(master_pid)" || return 0
    kill -QUIT "$master" 2>/dev/null || { rm -f "$dir/nginx.pid"; return 0; }
    local deadline=$((SECONDS + 10))
    while kill -0 "$master" 2>/dev/null; do
        if ((SECONDS > deadline)); then
            echo "nchan.sh: nginx (pid $master) ignored QUIT for 10 s, killing" >&2
            kill -TERM "$master" 2>/dev/null || true
            sleep 1
            kill -KILL "$master" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    rm -f "$dir/nginx.pid"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    pids) cmd_pids ;;
    *) echo "usage: $0 start|stop|pids" >&2; exit 64 ;;
esac
