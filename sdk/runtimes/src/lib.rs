//! islet's shared language runtimes, as C sources built to WebAssembly.
//!
//! This crate has no Rust code to speak of. It exists so that cargo
//! fetches the interpreters' C sources (the crates `rquickjs-sys`, which
//! ships quickjs-ng, and `lua-src`) and pins their versions in
//! `Cargo.lock`; `build.sh` next to this file finds them with
//! `cargo metadata` and compiles each runtime with clang and the C SDK:
//!
//! - `quickjs/runtime.c`: JavaScript module workers on QuickJS, with the
//!   same Web Platform layer as V8 tenants (`bindings/js`).
//! - `lua/runtime.c`: Lua 5.4 tenants that define `function fetch(req)`.
//!
//! How a runtime plugs into islet (its exports, the snapshots taken after
//! it initialises and after it loads a tenant) is described in
//! `bindings/ABI.md`, "Runtimes", and `host/src/engine/wasm/runtime.rs`.

/// The runtimes `build.sh` makes, by the file name it gives them.
pub const RUNTIMES: &[&str] = &["quickjs.wasm", "lua.wasm"];
