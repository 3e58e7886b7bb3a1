#!/usr/bin/env bash
# The Docker Engine for the compose cluster.
#   docker/engine.sh start   install docker.io when missing; start dockerd when none answers
#   docker/engine.sh stop    stop the dockerd that `start` started (by its recorded pid), if any
# `start` prints "started" or "running" (someone else's engine: `stop` leaves it alone).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PIDFILE="$DATAMOAT_DOCKER_STATE/dockerd.pid"
LOGFILE="$DATAMOAT_DOCKER_STATE/dockerd.log"

start() {
    if engine_up; then
        echo running
        return
    fi
    need_root "starting dockerd"
    command -v dockerd >/dev/null || apt_install docker.io
    command -v "$DOCKER" >/dev/null || apt_install docker.io
    # No iptables rules and no default bridge: containers get only the networks compose
    # creates for its project (from this address pool); image builds use the host network.
    log "starting dockerd (log $LOGFILE)"
    setsid dockerd --iptables=false --ip-masq=false --bridge=none \
        --default-address-pool base=10.213.0.0/16,size=24 \
        --pidfile "$DATAMOAT_DOCKER_STATE/dockerd.daemon.pid" \
        >"$LOGFILE" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 120); do
        if engine_up; then
            log "dockerd up (pid $(cat "$PIDFILE"))"
            echo started
            return
        fi
        kill -0 "$(cat "$PIDFILE")" 2>/dev/null || { tail -20 "$LOGFILE" >&2; die "dockerd exited"; }
        sleep 0.5
    done
    tail -20 "$LOGFILE" >&2
    die "dockerd did not answer within 60 s"
}

stop() {
    [ -f "$PIDFILE" ] || { log "no dockerd of ours to stop"; return; }
    pid="$(cat "$PIDFILE")"
    rm -f "$PIDFILE"
    if ! kill -0 "$pid" 2>/dev/null; then
        log "dockerd $pid already gone"
        return
    fi
    log "stopping dockerd $pid"
    kill -TERM "$pid"
    for _ in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || { log "dockerd stopped"; return; }
        sleep 0.5
    done
    log "dockerd $pid ignored SIGTERM for 30 s; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) die "usage: $0 start|stop" ;;
esac
