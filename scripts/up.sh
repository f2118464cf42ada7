#!/usr/bin/env bash
# `make up`: serve the app on $LISTEN with the Spin CLI when it is installed,
# otherwise with the bundled wasmtime host. Outside production the signing
# key and the second-factor key may be absent: development keys are
# generated once into .spin/ (ignored by git) so tokens and enrolled
# factors survive restarts.
set -euo pipefail
cd "$(dirname "$0")/.."
listen=${LISTEN:-127.0.0.1:3000}
mkdir -p .spin

# dev_key VARIABLE FILE WHAT: exports SPIN_VARIABLE_<VARIABLE> from FILE
# unless it is set, generating 32 random bytes (base64) into FILE once.
dev_key() {
    local name=SPIN_VARIABLE_$1 file=$2
    if [ -n "${!name:-}" ]; then
        return
    fi
    if [ ! -s "$file" ]; then
        (umask 077; head -c 32 /dev/urandom | base64 > "$file")
        echo "up: generated a development $3 in $file (set $name in production)"
    fi
    export "$name=$(cat "$file")"
}
dev_key SIGNING_KEY .spin/dev-signing-key "signing key"
dev_key MFA_ENCRYPTION_KEY .spin/dev-mfa-key "second-factor key"

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
