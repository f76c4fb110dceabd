#!/usr/bin/env bash
# Builds the WASM examples into examples/target/wasm32-wasip1/release/:
# hello_rust.wasm, json_api.wasm, proxy.wasm and files.wasm with cargo (the workspace
# in this directory), hello_c.wasm with clang and the C SDK.
#
# On a machine with rustup, `rust-toolchain.toml` here makes rustup install
# the wasm32-wasip1 target by itself; C needs clang with a WASI sysroot
# (wasi-sdk, or a distribution's wasi-libc package).
#
# Environment overrides, for toolchains set up differently (.ci/run uses
# them for the offline machines described in the README):
#   ISLET_WASM_CARGO      cargo to run (default: cargo)
#   ISLET_WASM_RUSTC      rustc for it (default: the cargo's own)
#   ISLET_WASM_RUSTFLAGS  RUSTFLAGS for the wasm build (default: none)
#   ISLET_WASM_BUILD_STD  1 to compile std from source (-Zbuild-std), for
#                         toolchains without a prebuilt wasm32-wasip1 std
#   ISLET_WASM_CC         C compiler (default: clang)
#   ISLET_WASM_C_TARGET   its target triple (default: wasm32-wasip1)
#   ISLET_WASM_CFLAGS     extra C flags, e.g. --sysroot=/opt/wasi-sysroot
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
out="$here/target/wasm32-wasip1/release"

# Variables of an enclosing cargo or rustup (when run from `cargo test`)
# would pick the wrong toolchain or target directory.
unset RUSTUP_TOOLCHAIN CARGO_TARGET_DIR CARGO_BUILD_TARGET RUSTFLAGS \
    CARGO_ENCODED_RUSTFLAGS RUSTC RUSTC_WRAPPER CARGO_BUILD_RUSTFLAGS

cargo_args=(build --release --locked)
if [ "${ISLET_WASM_BUILD_STD:-0}" = 1 ]; then
    export RUSTC_BOOTSTRAP=1
    cargo_args+=(-Zbuild-std=std,panic_abort)
fi
if [ -n "${ISLET_WASM_RUSTC:-}" ]; then
    export RUSTC="$ISLET_WASM_RUSTC"
fi
if [ -n "${ISLET_WASM_RUSTFLAGS:-}" ]; then
    export RUSTFLAGS="$ISLET_WASM_RUSTFLAGS"
fi
"${ISLET_WASM_CARGO:-cargo}" "${cargo_args[@]}"

cc="${ISLET_WASM_CC:-clang}"
# shellcheck disable=SC2086 # ISLET_WASM_CFLAGS is a list of flags
"$cc" --target="${ISLET_WASM_C_TARGET:-wasm32-wasip1}" -mexec-model=reactor \
    -O2 -s -Wall -Wextra -Wno-deprecated ${ISLET_WASM_CFLAGS:-} \
    -I ../sdk/c ../sdk/c/islet.c hello-c/hello.c -o "$out/hello_c.wasm"

ls -l "$out"/*.wasm
