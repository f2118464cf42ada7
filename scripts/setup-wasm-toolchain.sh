#!/usr/bin/env bash
# Brings a Rust toolchain that builds wasm32-wasip2 components, and records
# how to call it in .tools/wasm-toolchain.env for `make build`.
#
# Route 1 (any machine with network): `rustup target add wasm32-wasip2`.
# Route 2 (machines where rustup cannot download the target): Debian's
# rustc-web 1.96 with its std source, building std for the target with
# -Zbuild-std, linked by wasm-component-ld (pinned, from the crate registry)
# over LLVM 22's wasm-ld, with wasi-libc as the self-contained C library.
#
# WASM_TOOLCHAIN=rustup|debian forces a route; the default tries rustup first.
# Idempotent: rerunning re-checks and re-records, installing only what is missing.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
tools=$root/.tools
env_file=$tools/wasm-toolchain.env
mkdir -p "$tools"

WASM_COMPONENT_LD_VERSION=0.5.31
TARGET=wasm32-wasip2
mode=${WASM_TOOLCHAIN:-auto}

say() { printf 'setup: %s\n' "$*"; }

rustup_route() {
    command -v rustup >/dev/null || { say "rustup not found"; return 1; }
    if rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
        say "rustup already has $TARGET"
    else
        say "trying: rustup target add $TARGET (60 s limit)"
        timeout 60 rustup target add "$TARGET" >/dev/null 2>&1 || { say "rustup could not add $TARGET"; return 1; }
        say "rustup added $TARGET"
    fi
    # The target is only usable if its std is really there.
    local libdir
    libdir=$(rustc --print target-libdir --target "$TARGET" 2>/dev/null) || return 1
    compgen -G "$libdir/libstd-*.rlib" >/dev/null || { say "no std for $TARGET in $libdir"; return 1; }
    cat >"$env_file" <<ENV
# Written by scripts/setup-wasm-toolchain.sh: the rustup route.
WASM_ROUTE=rustup
WASM_CARGO=cargo
ENV
}

apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        say "Debian packages present: $*"
        return
    fi
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    say "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

debian_route() {
    apt_install rustc-web cargo-web rust-web-src rust-web-clippy wasi-libc lld-22
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    # rustc-web's sysroot is /usr; the wasm32-wasip2 target looks for its C
    # runtime in lib/rustlib/<target>/lib/self-contained.
    local selfc=/usr/lib/rustlib/$TARGET/lib/self-contained
    if [ ! -e "$selfc/libc.a" ]; then
        say "linking wasi-libc into $selfc"
        $sudo mkdir -p "$selfc"
        for f in /usr/lib/wasm32-wasi/*; do
            $sudo ln -sf "$f" "$selfc/$(basename "$f")"
        done
    fi
    local wcl=$tools/bin/wasm-component-ld
    if ! "$wcl" --version 2>/dev/null | grep -q "$WASM_COMPONENT_LD_VERSION"; then
        say "installing wasm-component-ld $WASM_COMPONENT_LD_VERSION from the crate registry"
        cargo install --quiet --locked --root "$tools" wasm-component-ld --version "$WASM_COMPONENT_LD_VERSION"
    else
        say "wasm-component-ld $WASM_COMPONENT_LD_VERSION present"
    fi
    cat >"$env_file" <<ENV
# Written by scripts/setup-wasm-toolchain.sh: the Debian route.
WASM_ROUTE=debian
WASM_CARGO=/usr/bin/cargo
WASM_RUSTC=/usr/bin/rustc
WASM_LINKER=$wcl
WASM_LD_DIR=/usr/lib/llvm-22/bin
ENV
}

case $mode in
    rustup) rustup_route ;;
    debian) debian_route ;;
    auto) rustup_route || { say "falling back to the Debian route"; debian_route; } ;;
    *) say "WASM_TOOLCHAIN must be rustup, debian or unset"; exit 2 ;;
esac
say "recorded $(grep WASM_ROUTE "$env_file") in ${env_file#"$root"/}"
