#!/usr/bin/env bash
# Builds islet's language runtimes into OUT (default: sdk/runtimes/target):
#   quickjs.wasm  JavaScript module workers on quickjs-ng
#   lua.wasm      Lua 5.4
# Name them under `[runtimes]` in islet.toml (or `islet dev --runtime`).
#
# With a second argument, a C file that defines the platform layer and a
# tenant's source (see ISLET_STANDALONE in quickjs/runtime.c), it also
# builds quickjs-standalone.wasm: that tenant with its own interpreter in
# one plain module, which benches/runtimes.rs compares with the runtime.
#
# The interpreters' C sources come from crates that ship them
# (rquickjs-sys, lua-src, pinned in this crate's Cargo.toml); cargo
# fetches them and `cargo metadata` says where they are. C needs clang
# with a WASI sysroot (wasi-sdk, or a distribution's wasi-libc package).
# Environment overrides, as for examples/build.sh:
#   ISLET_WASM_CC         C compiler (default: clang)
#   ISLET_WASM_C_TARGET   its target triple (default: wasm32-wasip1)
#   ISLET_WASM_CFLAGS     extra C flags, e.g. --sysroot=/opt/wasi-sysroot
# A runtime is rebuilt only when one of its inputs is newer than it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/target}"
embedded="${2:-}"
mkdir -p "$out"
cc="${ISLET_WASM_CC:-clang}"
target="${ISLET_WASM_C_TARGET:-wasm32-wasip1}"

# The directory of a package's sources, from cargo metadata.
metadata="$(cd "$here" && cargo metadata --format-version 1)"
source_of() {
  local manifest
  manifest="$(printf '%s' "$metadata" | grep -o "\"manifest_path\":\"[^\"]*/$1-[0-9][^\"]*/Cargo.toml\"" | head -n 1 | cut -d'"' -f4)"
  if [ -z "$manifest" ]; then
    echo "build.sh: cargo metadata does not list $1" >&2
    exit 1
  fi
  dirname "$manifest"
}
qjs="$(source_of rquickjs-sys)/quickjs"
lua="$(source_of lua-src)/lua-5.4.9"

# Flags every runtime shares: a reactor (no main), a 1 MiB C stack (the
# interpreters recurse), the C SDK.
# shellcheck disable=SC2206 # ISLET_WASM_CFLAGS is a list of flags
common=(--target="$target" -mexec-model=reactor -O2 -s -Wl,-z,stack-size=1048576
  -I "$here/../c" ${ISLET_WASM_CFLAGS:-})

stale() { # stale OUTPUT INPUT...: whether OUTPUT is missing or older
  local output="$1"
  shift
  [ -f "$output" ] || return 0
  for input in "$@"; do
    if [ -d "$input" ]; then
      [ -n "$(find "$input" -newer "$output" -name '*.[ch]' -print -quit)" ] && return 0
    elif [ "$input" -nt "$output" ]; then
      return 0
    fi
  done
  return 1
}

# build_quickjs OUTPUT [FLAGS AND FILES...]
build_quickjs() {
  local output="$1"
  shift
  echo "building $(basename "$output") from $qjs" >&2
  "$cc" "${common[@]}" -D_GNU_SOURCE -DNDEBUG -D_WASI_EMULATED_PROCESS_CLOCKS \
    -D_WASI_EMULATED_SIGNAL -Wno-implicit-const-int-float-conversion \
    -I "$qjs" "$qjs/quickjs.c" "$qjs/libregexp.c" "$qjs/libunicode.c" "$qjs/dtoa.c" \
    "$here/../c/islet.c" "$here/quickjs/runtime.c" "$@" \
    -lwasi-emulated-process-clocks -lwasi-emulated-signal -lm \
    -o "$output.tmp"
  mv "$output.tmp" "$output"
}

if stale "$out/quickjs.wasm" "$here/quickjs/runtime.c" "$here/../c" "$qjs" "$0"; then
  build_quickjs "$out/quickjs.wasm"
fi
if [ -n "$embedded" ] && stale "$out/quickjs-standalone.wasm" "$embedded" \
  "$here/quickjs/runtime.c" "$here/../c" "$qjs" "$0"; then
  build_quickjs "$out/quickjs-standalone.wasm" -DISLET_STANDALONE "$embedded"
fi

if [ -f "$here/lua/runtime.c" ] && stale "$out/lua.wasm" "$here/lua" "$here/../c" "$lua" "$0"; then
  echo "building lua.wasm from $lua" >&2
  lua_sources=()
  for f in "$lua"/*.c; do
    case "$(basename "$f")" in
      lua.c | luac.c | onelua.c | linit.c | loadlib.c | liolib.c | loslib.c) ;;
      *) lua_sources+=("$f") ;;
    esac
  done
  "$cc" "${common[@]}" -DNDEBUG -D_WASI_EMULATED_PROCESS_CLOCKS -D_WASI_EMULATED_SIGNAL \
    -include "$here/lua/islet_lua.h" \
    -I "$here/lua" -I "$lua" "${lua_sources[@]}" "$here/../c/islet.c" "$here/lua/runtime.c" \
    -lwasi-emulated-process-clocks -lwasi-emulated-signal -lm \
    -o "$out/lua.wasm.tmp"
  mv "$out/lua.wasm.tmp" "$out/lua.wasm"
fi

ls -l "$out"/*.wasm >&2
