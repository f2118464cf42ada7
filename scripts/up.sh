#!/usr/bin/env bash
# `make up`: serve the app on $LISTEN with the Spin CLI when it is installed,
# otherwise with the bundled wasmtime host. Outside production the signing
# key may be absent: a development key is generated once into .spin/
# (ignored by git) so tokens survive restarts.
set -euo pipefail
cd "$(dirname "$0")/.."
listen=${LISTEN:-127.0.0.1:3000}
mkdir -p .spin

if [ -z "${SPIN_VARIABLE_SIGNING_KEY:-}" ]; then
    key_file=.spin/dev-signing-key
    if [ ! -s "$key_file" ]; then
        (umask 077; head -c 32 /dev/urandom | base64 > "$key_file")
        echo "up: generated a development signing key in $key_file (set SPIN_VARIABLE_SIGNING_KEY in production)"
    fi
    SPIN_VARIABLE_SIGNING_KEY=$(cat "$key_file")
    export SPIN_VARIABLE_SIGNING_KEY
fi

# Mail: without a webhook_url of your own, events go to a local sink that
# prints each mail's subject and link (scripts/mail-sink.py), signed with
# a development secret, and links point at this server.
sink=
if [ -z "${SPIN_VARIABLE_WEBHOOK_URL:-}" ]; then
    secret_file=.spin/dev-webhook-secret
    if [ ! -s "$secret_file" ]; then
        (umask 077; echo "whsec_$(head -c 32 /dev/urandom | base64)" > "$secret_file")
    fi
    sink_port=${MAIL_SINK_PORT:-3025}
    python3 scripts/mail-sink.py "$sink_port" "$(cat "$secret_file")" &
    sink=$!
    trap 'kill "$sink" 2>/dev/null' EXIT
    export SPIN_VARIABLE_WEBHOOK_URL="http://127.0.0.1:$sink_port/hooks/spin-users"
    export SPIN_VARIABLE_WEBHOOK_ORIGIN="http://127.0.0.1:$sink_port"
    SPIN_VARIABLE_WEBHOOK_SECRET=$(cat "$secret_file")
    export SPIN_VARIABLE_WEBHOOK_SECRET
    export SPIN_VARIABLE_PUBLIC_URL="${SPIN_VARIABLE_PUBLIC_URL:-http://$listen}"
fi

# Every variable goes to Spin's static provider (`--variable`), a map read,
# instead of the environment provider's thread hand-off per lookup:
# non-secrets in .spin/settings/variables.toml, each secret as name=@file.
sources=$(python3 scripts/spin-variables.py spin.toml .spin/settings)
variables=()
while IFS= read -r source; do
    variables+=(--variable "$source")
done <<< "$sources"

if command -v spin >/dev/null 2>&1; then
    spin build
    spin up --listen "$listen" --runtime-config-file runtime-config.toml "${variables[@]}"
    exit
fi
echo "Spin is not installed; serving the same app through the bundled wasmtime host."
echo "To use Spin itself: curl -fsSL https://spinframework.dev/downloads/install.sh | bash"
cargo run --quiet -p spin-users-host -- serve --listen "$listen" \
    --runtime-config-file runtime-config.toml --cache-dir target/component-cache "${variables[@]}"
