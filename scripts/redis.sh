#!/usr/bin/env bash
# Ensures a local Redis server for the tests and `make cluster`: installs
# Debian's redis-server package when missing, starts a loopback-only server
# run as a cache (no persistence, LRU eviction: the app keeps only its user
# cache there) unless one already answers on the port, and prints its URL.
# Idempotent.
set -euo pipefail

PORT=${SPIN_USERS_TEST_REDIS_PORT:-6379}
STATE_DIR=${SPIN_USERS_REDIS_DIR:-/tmp/spin-users-redis}

# Only the URL may reach stdout, which the Makefile captures.
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
say() { printf 'redis: %s\n' "$*" >&2; }

ensure_server() {
    if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
        say "installing Debian's redis-server package"
        $sudo apt-get update -qq
        # policy-rc.d refuses the package's own service start: the server
        # is started below, on the port and settings the tests expect.
        DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 $sudo apt-get install -y -qq redis-server >/dev/null
    fi
    if [ "$(redis-cli -p "$PORT" ping 2>/dev/null)" = PONG ]; then
        say "ready on 127.0.0.1:$PORT (already running)"
        return
    fi
    mkdir -p "$STATE_DIR"
    say "starting redis-server on 127.0.0.1:$PORT"
    redis-server --bind 127.0.0.1 --port "$PORT" --daemonize yes \
        --save "" --appendonly no --dir "$STATE_DIR" \
        --maxmemory 256mb --maxmemory-policy allkeys-lru \
        --logfile "$STATE_DIR/redis-$PORT.log" --pidfile "$STATE_DIR/redis-$PORT.pid"
    for _ in $(seq 50); do
        [ "$(redis-cli -p "$PORT" ping 2>/dev/null)" = PONG ] && { say "ready on 127.0.0.1:$PORT"; return; }
        sleep 0.1
    done
    say "redis-server did not answer on port $PORT; its log:"
    cat "$STATE_DIR/redis-$PORT.log" >&2 || true
    exit 1
}
ensure_server >&2
echo "redis://127.0.0.1:$PORT"
