//! The islet WASM ABI, version 1: names and codes shared by the host and
//! guest SDKs. `bindings/ABI.md` is the reference a third party can write
//! a guest SDK from; keep the two in step.

/// Module name of every host import.
pub const IMPORT_MODULE: &str = "islet";

/// The ABI version this crate describes.
pub const VERSION: u32 = 1;

/// The exported handler: `() -> ()`, called once per request.
pub const HANDLER_EXPORT: &str = "islet_handle";

/// The exported linear memory that every pointer refers to.
pub const MEMORY_EXPORT: &str = "memory";

/// An optional export `() -> ()` run once after instantiation, before the
/// first request (the WASI reactor convention).
pub const INITIALIZE_EXPORT: &str = "_initialize";

/// Host imports, by name.
pub mod import {
    /// `(buf, cap) -> len`: the request method.
    pub const REQUEST_METHOD: &str = "request_method";
    /// `(buf, cap) -> len`: the absolute request URL.
    pub const REQUEST_URL: &str = "request_url";
    /// `(buf, cap) -> len`: every header as `name: value\n` lines.
    pub const REQUEST_HEADERS: &str = "request_headers";
    /// `(name, name_len, buf, cap) -> len | ABSENT`: one header's value.
    pub const REQUEST_HEADER: &str = "request_header";
    /// `(buf, cap) -> n`: the next `n` bytes of the body; 0 at its end.
    pub const REQUEST_BODY_READ: &str = "request_body_read";
    /// `(status) -> 0 | INVALID`: sets the response status.
    pub const RESPONSE_SET_STATUS: &str = "response_set_status";
    /// `(name, name_len, value, value_len) -> 0 | INVALID`:
    /// appends a response header.
    pub const RESPONSE_ADD_HEADER: &str = "response_add_header";
    /// `(buf, len) -> 0 | CLOSED`: sends the head if not yet sent, then
    /// writes a body chunk to the client.
    pub const RESPONSE_WRITE: &str = "response_write";
    /// `(name, name_len, buf, cap) -> len | ABSENT`: one of the tenant's
    /// `vars`.
    pub const ENV_GET: &str = "env_get";
    /// `(level, msg, len)`: logs a line (0 debug, 1 info, 2 warn, 3 error).
    pub const LOG: &str = "log";
    /// `(buf, len) -> 0`: fills the buffer with secure random bytes.
    pub const RANDOM_FILL: &str = "random_fill";
    /// `(method, method_len, url, url_len, headers, headers_len, body,
    /// body_len) -> handle | INVALID | DENIED | FAILED`: sends an outbound
    /// request and waits for its response.
    pub const FETCH: &str = "fetch";
    /// `(handle) -> status`: the status of an outbound response.
    pub const FETCH_STATUS: &str = "fetch_status";
    /// `(handle, buf, cap) -> len`: an outbound response's headers as
    /// `name: value\n` lines.
    pub const FETCH_HEADERS: &str = "fetch_headers";
    /// `(handle, buf, cap) -> n`: the next `n` bytes of an outbound
    /// response's body; 0 at its end.
    pub const FETCH_BODY_READ: &str = "fetch_body_read";
    /// `(handle) -> 0`: releases an outbound response.
    pub const FETCH_CLOSE: &str = "fetch_close";
    /// `(buf, cap) -> len`: why the last call that returned `INVALID`,
    /// `DENIED` or `FAILED` did so.
    pub const LAST_ERROR: &str = "last_error";
    /// `(buf, cap) -> len`: the names of the tenant's `vars`, one per line.
    pub const ENV_NAMES: &str = "env_names";
    /// `(name, name_len, args, args_len) -> len | ERROR`: runs a platform
    /// operation ([`crate::ops`]) on encoded arguments; the encoded result
    /// (or, after `ERROR`, the encoded `[kind, message]`) is then read
    /// with `op_result`.
    pub const OP: &str = "op";
    /// `(buf, cap) -> len`: the encoded result of the last `op`.
    pub const OP_RESULT: &str = "op_result";
    /// `(kind, msg, len)`: fails the running request (500 if the head was
    /// not sent) with a message for the log: kind 0 an uncaught exception,
    /// 1 a handler that returned no response, 2 a handler whose result can
    /// never arrive. While a runtime loads, it fails the load instead.
    pub const FAIL: &str = "fail";
    /// `(buf, cap) -> len`: for a language runtime, while it initialises or
    /// loads: the source it is to load (the tenant's code; while the
    /// runtime initialises, its platform layer, or nothing).
    pub const RUNTIME_SOURCE: &str = "runtime_source";
    /// `(buf, cap) -> len`: the file name of that source, for messages.
    pub const RUNTIME_SOURCE_NAME: &str = "runtime_source_name";
}

/// Exports of a language runtime (see `bindings/ABI.md`, "Runtimes").
pub mod runtime {
    /// The custom section that names a runtime: `name=...`, `version=...`
    /// and `platform=...` lines.
    pub const SECTION: &str = "islet_runtime";
    /// `() -> ()`: initialises the interpreter and its platform layer;
    /// run once per runtime version, then snapshotted.
    pub const INIT_EXPORT: &str = "islet_runtime_init";
    /// `() -> ()`: loads the tenant's source; run once per tenant, then
    /// snapshotted.
    pub const LOAD_EXPORT: &str = "islet_runtime_load";
    /// `() -> ()`, optional: runs in every instance restored from a
    /// snapshot, before its first request (reseeds random generators).
    pub const RESUME_EXPORT: &str = "islet_runtime_resume";
}

/// Negative results of host imports.
pub mod code {
    /// The header or variable does not exist.
    pub const ABSENT: i32 = -1;
    /// Reserved: the response head has already been sent. Since the SDK
    /// release, changing the head after it was sent fails the request.
    pub const HEAD_SENT: i32 = -2;
    /// An argument is not valid (status out of range, bad header).
    pub const INVALID: i32 = -3;
    /// The client went away; stop writing.
    pub const CLOSED: i32 = -4;
    /// The tenant may not reach that host (`allowed_hosts`).
    pub const DENIED: i32 = -5;
    /// The outbound request failed (connection, TLS, redirects, size).
    pub const FAILED: i32 = -6;
    /// `op`: the operation threw; `op_result` holds `[kind, message]`.
    pub const ERROR: i32 = -7;
}
