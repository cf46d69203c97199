#!/usr/bin/env bash
# Start or stop a Docker daemon for the container test backend, the way CI runs one:
# no bridge network and no iptables rules (every container uses the host's network and
# the test server listens on 127.0.0.1 only). `start` does nothing when a daemon already
# answers; `stop` stops only a daemon this script started.
#
#   docker/dockerd.sh start | stop
set -euo pipefail
DIR=${GRAPHSYNC_DOCKERD_DIR:-/run/graphsync-dockerd}
PIDFILE=$DIR/dockerd.pid

case "${1:-}" in
start)
    if docker info >/dev/null 2>&1; then
        echo "a Docker daemon is already running"
        exit 0
    fi
    command -v dockerd >/dev/null || { echo "dockerd not found: apt-get install docker.io" >&2; exit 1; }
    mkdir -p "$DIR"
    dockerd --bridge=none --iptables=false --ip-masq=false --pidfile "$PIDFILE" \
        >"$DIR/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 120); do
        if docker info >/dev/null 2>&1; then
            echo "dockerd started (pid $(cat "$PIDFILE"), log $DIR/dockerd.log)"
            exit 0
        fi
        if ! kill -0 $! 2>/dev/null; then
            echo "dockerd exited:" >&2
            cat "$DIR/dockerd.log" >&2
            exit 1
        fi
        sleep 0.5
    done
    echo "dockerd did not answer within 60 s:" >&2
    cat "$DIR/dockerd.log" >&2
    exit 1
    ;;
stop)
    if [ ! -s "$PIDFILE" ]; then
        echo "no dockerd started by this script"
        exit 0
    fi
    pid=$(cat "$PIDFILE")
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != dockerd ]; then
        echo "dockerd (pid $pid in $PIDFILE) is not running"
        exit 0
    fi
    kill "$pid"
    for _ in $(seq 120); do
        kill -0 "$pid" 2>/dev/null || { echo "dockerd stopped"; exit 0; }
        sleep 0.5
    done
    echo "dockerd (pid $pid) did not stop within 60 s" >&2
    exit 1
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
