#!/usr/bin/env bash
# Runs `cargo build --release --locked` for wasm32-wasip1 in the current
# directory (a crate or workspace whose .cargo/config.toml or arguments
# name the target), with the toolchain the environment names:
#   ISLET_WASM_CARGO      cargo to run (default: cargo)
#   ISLET_WASM_RUSTC      rustc for it (default: the cargo's own)
#   ISLET_WASM_RUSTFLAGS  RUSTFLAGS for the wasm build (default: none)
#   ISLET_WASM_BUILD_STD  1 to compile std from source (-Zbuild-std), for
#                         toolchains without a prebuilt wasm32-wasip1 std
# Extra arguments go to cargo. Used by examples/build.sh and the benchmark
# runner; .ci/run sets the variables on the offline machines the README
# describes.
set -euo pipefail

# Variables of an enclosing cargo or rustup (when run from `cargo test`)
# would pick the wrong toolchain or target directory.
unset RUSTUP_TOOLCHAIN CARGO_TARGET_DIR CARGO_BUILD_TARGET RUSTFLAGS \
    CARGO_ENCODED_RUSTFLAGS RUSTC RUSTC_WRAPPER CARGO_BUILD_RUSTFLAGS

args=(build --release --locked)
if [ "${ISLET_WASM_BUILD_STD:-0}" = 1 ]; then
    export RUSTC_BOOTSTRAP=1
    args+=(-Zbuild-std=std,panic_abort)
fi
if [ -n "${ISLET_WASM_RUSTC:-}" ]; then
    export RUSTC="$ISLET_WASM_RUSTC"
fi
if [ -n "${ISLET_WASM_RUSTFLAGS:-}" ]; then
    export RUSTFLAGS="$ISLET_WASM_RUSTFLAGS"
fi
exec "${ISLET_WASM_CARGO:-cargo}" "${args[@]}" "$@"
