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
# them for the offline machines described in the README): the Rust ones
# are listed in ../sdk/wasm-cargo.sh, which runs the cargo build; and
#   ISLET_WASM_CC         C compiler (default: clang)
#   ISLET_WASM_C_TARGET   its target triple (default: wasm32-wasip1)
#   ISLET_WASM_CFLAGS     extra C flags, e.g. --sysroot=/opt/wasi-sysroot
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
out="$here/target/wasm32-wasip1/release"

../sdk/wasm-cargo.sh

cc="${ISLET_WASM_CC:-clang}"
# shellcheck disable=SC2086 # ISLET_WASM_CFLAGS is a list of flags
"$cc" --target="${ISLET_WASM_C_TARGET:-wasm32-wasip1}" -mexec-model=reactor \
    -O2 -s -Wall -Wextra -Wno-deprecated ${ISLET_WASM_CFLAGS:-} \
    -I ../sdk/c ../sdk/c/islet.c hello-c/hello.c -o "$out/hello_c.wasm"

ls -l "$out"/*.wasm
