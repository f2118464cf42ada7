#!/usr/bin/env bash
# Ensures a local PostgreSQL server for the component tests: installs
# Debian's postgresql package when missing, starts a cluster, and creates a
# test-only login role. Prints the admin URL the tests use to create one
# throw-away database per test. Idempotent.
#
# The role and its password exist only on this machine's loopback server for
# tests; they are not application secrets.
set -euo pipefail

ROLE=spin_users_test
PASSWORD=spin_users_test
PORT=${SPIN_USERS_TEST_PG_PORT:-5432}

# Only the URL may reach stdout, which the Makefile captures: Debian's
# cluster tools print notices there ("Removed stale pid file.", systemd
# warnings). The server started here inherits the descriptors of this block,
# so it gets stderr only, never the capturing pipe.
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
say() { printf 'postgres: %s\n' "$*" >&2; }

ensure_server() {
    if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
        say "installing Debian's postgresql package"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
    fi
    version=$(ls /usr/lib/postgresql | sort -n | tail -1)

    if ! pg_lsclusters -h 2>/dev/null | awk -v v="$version" '$1 == v && $2 == "main"' | grep -q .; then
        say "creating cluster $version/main on port $PORT"
        $sudo pg_createcluster --port "$PORT" "$version" main >/dev/null
    fi
    if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $4}' | grep -q online; then
        say "starting cluster $version/main"
        $sudo pg_ctlcluster "$version" main start
    fi
    port=$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $3}')

    as_postgres="sudo -u postgres"
    [ "$(id -u)" -eq 0 ] && as_postgres="runuser -u postgres --"
    # deploy/README.md's sizing rule: Spin keeps up to 64 pooled connections
    # per component, five components reach PostgreSQL, so one instance
    # under load (make bench) needs 320; Debian's default is 100.
    if [ "$($as_postgres psql -p "$port" -qtAX -c 'SHOW max_connections')" -lt 400 ]; then
        say "raising max_connections to 400 (restarts the cluster)"
        $as_postgres psql -p "$port" -qtAX -c "ALTER SYSTEM SET max_connections = 400" >/dev/null
        $sudo pg_ctlcluster "$version" main restart
    fi
    $as_postgres psql -p "$port" -qtAX -v ON_ERROR_STOP=1 >/dev/null <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
    CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD';
  END IF;
END
\$\$;
SQL
    # Throw-away databases of earlier test runs (tests/src/lib.rs and crates/store/src/native_postgres.rs name them sut_*).
    $as_postgres psql -p "$port" -qtAX -c "SELECT datname FROM pg_database WHERE datname LIKE 'sut\_%'" |
        while read -r db; do
            $as_postgres psql -p "$port" -qtAX -c "DROP DATABASE IF EXISTS \"$db\"" >/dev/null
        done
    say "ready on 127.0.0.1:$port"
}
ensure_server >&2
# sslmode=disable: Spin negotiates TLS otherwise and verifies the
# certificate, which Debian's self-signed default cluster certificate fails.
echo "postgres://$ROLE:$PASSWORD@127.0.0.1:$port/postgres?sslmode=disable"
