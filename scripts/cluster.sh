#!/usr/bin/env bash
# `make cluster`: three instances of the app on ports 3001-3003 (CLUSTER_BASE_PORT
# moves them), all on deploy/runtime-config.production.toml over one local
# PostgreSQL database (spin_users_cluster) and the local Redis, the way
# replicas run behind a load balancer. `spin up` when the Spin CLI is
# installed, the bundled host's `up` otherwise. Ctrl-C stops all three.
#
# The database role is the loopback test role scripts/postgres.sh creates;
# the signing key is generated once into .spin/ (ignored by git) and shared
# by the instances, as replicas share their secrets.
set -euo pipefail
cd "$(dirname "$0")/.."
base_port=${CLUSTER_BASE_PORT:-3001}
mkdir -p .spin/cluster

admin_url=$(scripts/postgres.sh)
redis_url=$(scripts/redis.sh)
if [ "$redis_url" != "redis://127.0.0.1:6379" ]; then
    echo "cluster: deploy/runtime-config.production.toml names redis://127.0.0.1:6379, but Redis is at $redis_url" >&2
    exit 1
fi
as_postgres="sudo -u postgres"
[ "$(id -u)" -eq 0 ] && as_postgres="runuser -u postgres --"
port=$(echo "$admin_url" | sed -E 's|.*@[^:]+:([0-9]+)/.*|\1|')
if ! $as_postgres psql -p "$port" -qtAX -c "SELECT 1 FROM pg_database WHERE datname = 'spin_users_cluster'" | grep -q 1; then
    $as_postgres psql -p "$port" -qtAX -c "CREATE DATABASE spin_users_cluster OWNER spin_users_test" >/dev/null
fi
SPIN_VARIABLE_DATABASE_URL=${admin_url/\/postgres\?//spin_users_cluster?}
export SPIN_VARIABLE_DATABASE_URL
# The user cache through the components' own bounded Redis client.
export SPIN_VARIABLE_CACHE_REDIS_URL=$redis_url
export SPIN_VARIABLE_CACHE_REDIS_HOST=${redis_url#redis://}

# cluster_key VARIABLE FILE: exports SPIN_VARIABLE_<VARIABLE> from
# .spin/cluster/FILE, 32 random bytes (base64) generated there once, so
# every instance shares it across runs.
cluster_key() {
    local file=.spin/cluster/$2
    if [ ! -s "$file" ]; then
        (umask 077; head -c 32 /dev/urandom | base64 > "$file")
    fi
    export "SPIN_VARIABLE_$1=$(cat "$file")"
}
cluster_key SIGNING_KEY signing-key
cluster_key MFA_ENCRYPTION_KEY mfa-key
# Passkeys work on the page of every instance (http://localhost:<port>/sign-in).
origins=$(printf 'http://localhost:%s,' "$base_port" "$((base_port + 1))" "$((base_port + 2))")
export SPIN_VARIABLE_WEBAUTHN_ORIGINS=${SPIN_VARIABLE_WEBAUTHN_ORIGINS:-${origins%,}}

if command -v spin >/dev/null 2>&1; then
    server=(spin)
else
    cargo build --quiet -p spin-users-host --bins
    server=(target/debug/spin-users-host)
    export SPIN_USERS_HOST_CACHE_DIR=$PWD/target/component-cache
fi

# Every variable through Spin's static provider, as `make up` does.
sources=$(python3 scripts/spin-variables.py spin.toml .spin/cluster/settings)
variables=()
while IFS= read -r source; do
    variables+=(--variable "$source")
done <<< "$sources"

pids=()
stop() {
    for pid in "${pids[@]}"; do
        # Each instance leads its own process group (setsid); only positive,
        # known pids are signalled.
        [ "$pid" -gt 1 ] && kill -TERM -- "-$pid" 2>/dev/null || true
    done
}
trap stop EXIT
trap 'exit 130' INT TERM

for i in 0 1 2; do
    listen=127.0.0.1:$((base_port + i))
    setsid "${server[@]}" up --from spin.toml --listen "$listen" \
        --runtime-config-file deploy/runtime-config.production.toml "${variables[@]}" \
        > ".spin/cluster/instance-$i.log" 2>&1 &
    pids+=("$!")
    echo "cluster: instance $i on http://$listen (log .spin/cluster/instance-$i.log)"
done
echo "cluster: PostgreSQL database spin_users_cluster, Redis $redis_url; Ctrl-C stops all three"
wait -n "${pids[@]}" || true
echo "cluster: an instance exited; stopping the others" >&2
