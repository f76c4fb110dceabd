//! islet's bindings: the platform that tenant code programs against.
//!
//! This crate is engine-neutral. It holds three things, and nothing in it
//! may depend on V8 or wasmtime:
//!
//! - [`js`]: the Web Platform layer for JavaScript tenants, as JS source.
//!   An engine evaluates it once per context and hands it the native
//!   operations it needs; the same file serves V8 isolates and, later,
//!   the QuickJS runtime.
//! - Host operations written once in Rust ([`text`], [`url`], [`crypto`],
//!   [`policy`], [`log`]): what the JS
//!   layer and the WASM ABI call into. Policy that must hold for every
//!   engine lives here, not in the engines.
//! - [`ops`]: the same operations behind one entry point with a small
//!   value encoding, for language runtimes inside WebAssembly (QuickJS)
//!   that reach them through the ABI's `op` import.
//! - [`abi`]: the islet WASM ABI, the contract between the host and a
//!   WebAssembly tenant. Its reference document is `bindings/ABI.md`.
//!
//! The engines in the `islet` crate adapt these operations to their own
//! calling conventions (V8 function templates, wasmtime host functions).

pub mod abi;
pub mod crypto;
pub mod js;
pub mod log;
pub mod ops;
pub mod policy;
pub mod text;
pub mod url;
