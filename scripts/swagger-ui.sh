#!/usr/bin/env bash
# Fetches Swagger UI (the swagger-ui-dist npm release pinned below, its
# tarball checked against the registry's SHA-512) into target/swagger-ui/,
# which the docs component embeds: /docs serves it, no CDN. Idempotent:
# nothing is fetched when that version is already there.
set -euo pipefail
VERSION=5.35.0
SHA512=534eaba4cb56f55dd73c638179a993512af4674f63317e0826e00da44fc465b021c341bc0a0c2bcd4e18997927fe1d3008336c5dd19aad334d1c2dec53cc9551
cd "$(dirname "$0")/.."
out=target/swagger-ui
if [ "$(cat "$out/.version" 2>/dev/null)" = "$VERSION" ]; then
    exit 0
fi
if ! command -v curl >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "swagger-ui: installing Debian's curl" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq curl ca-certificates >/dev/null
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "swagger-ui: fetching swagger-ui-dist $VERSION" >&2
curl -fsSL --retry 3 -o "$tmp/package.tgz" \
    "https://registry.npmjs.org/swagger-ui-dist/-/swagger-ui-dist-$VERSION.tgz"
echo "$SHA512  $tmp/package.tgz" | sha512sum -c --quiet -
files=(swagger-ui-bundle.js swagger-ui.css LICENSE NOTICE)
tar xzf "$tmp/package.tgz" -C "$tmp" "${files[@]/#/package/}"
mkdir -p "$out"
for f in "${files[@]}"; do cp "$tmp/package/$f" "$out/$f"; done
echo "$VERSION" > "$out/.version"
