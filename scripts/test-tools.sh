#!/usr/bin/env bash
# Ensures the outside tools tests/tools drives the app with: Debian's
# Chromium (Playwright's own browser download needs the internet) and a
# Python virtual environment at .tools/python with the pinned packages of
# tests/tools/requirements.txt (schemathesis, Playwright). Prints the
# environment's directory. Idempotent: nothing is installed when the
# requirements have not changed since the last run.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.tools/python
requirements=tests/tools/requirements.txt
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
say() { printf 'test-tools: %s\n' "$*" >&2; }

apt_install() {
    say "installing Debian's $*"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

command -v chromium >/dev/null 2>&1 || apt_install chromium

if ! cmp -s "$requirements" "$venv/requirements.txt"; then
    rm -rf "$venv"
    python=$(command -v python3 || true)
    if [ -z "$python" ] || ! "$python" -m venv "$venv" >/dev/null 2>&1; then
        apt_install python3 python3-venv
        rm -rf "$venv"
        /usr/bin/python3 -m venv "$venv"
    fi
    say "installing $(grep -c '==' "$requirements") pinned Python packages into $venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$requirements"
    cp "$requirements" "$venv/requirements.txt"
fi
echo "$PWD/$venv"
