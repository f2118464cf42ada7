#!/usr/bin/env bash
# Ensures the C libraries the native build links: OpenSSL (the bundled host
# reaches PostgreSQL over TLS through native-tls, as Spin does) and
# pkg-config to find it. Debian's rust image has both; elsewhere they are
# installed from Debian's packages. Idempotent and quiet when present.
set -euo pipefail
if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists openssl; then
    exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "native-deps: installing Debian's libssl-dev and pkg-config" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libssl-dev pkg-config >/dev/null
