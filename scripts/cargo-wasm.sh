#!/usr/bin/env bash
# Runs a cargo command for the wasm32-wasip2 target with the toolchain that
# scripts/setup-wasm-toolchain.sh recorded, e.g.
#   scripts/cargo-wasm.sh build --release -p spin-users-health
set -euo pipefail
cd "$(dirname "$0")/.."
env_file=.tools/wasm-toolchain.env
[ -f "$env_file" ] || { echo "no wasm toolchain recorded: run 'make setup' first" >&2; exit 1; }
# shellcheck disable=SC1090
. "$env_file"
# Target flags go right after the subcommand, before any `--` that starts
# arguments for rustc/clippy.
subcommand=$1
shift
case $WASM_ROUTE in
    rustup)
        exec cargo "$subcommand" --target wasm32-wasip2 "$@" ;;
    debian)
        # Debian's rustc-web has no prebuilt std for the target: build it
        # (RUSTC_BOOTSTRAP unlocks -Zbuild-std on a stable compiler).
        export RUSTC=$WASM_RUSTC RUSTC_BOOTSTRAP=1
        export CARGO_TARGET_WASM32_WASIP2_LINKER=$WASM_LINKER
        # /usr/bin first so cargo's subcommands (cargo-clippy) are Debian's too,
        # not rustup's proxies.
        export PATH=$WASM_LD_DIR:/usr/bin:$PATH
        # rustup's cargo proxy would pick rustup's toolchain; call Debian's directly.
        exec "$WASM_CARGO" "$subcommand" --target wasm32-wasip2 -Zbuild-std=std,panic_abort "$@" ;;
    *) echo "unknown WASM_ROUTE=$WASM_ROUTE in $env_file" >&2; exit 1 ;;
esac
