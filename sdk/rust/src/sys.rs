//! The raw imports of the `islet` module (`bindings/ABI.md`, version 1).
//! Everything here is called through the safe wrappers of this crate.

#[link(wasm_import_module = "islet")]
unsafe extern "C" {
    pub fn request_method(buf: *mut u8, cap: i32) -> i32;
    pub fn request_url(buf: *mut u8, cap: i32) -> i32;
    pub fn request_headers(buf: *mut u8, cap: i32) -> i32;
    pub fn request_body_read(buf: *mut u8, cap: i32) -> i32;
    pub fn response_set_status(status: i32) -> i32;
    pub fn response_add_header(
        name: *const u8,
        name_len: i32,
        value: *const u8,
        value_len: i32,
    ) -> i32;
    pub fn response_write(buf: *const u8, len: i32) -> i32;
    pub fn env_get(name: *const u8, name_len: i32, buf: *mut u8, cap: i32) -> i32;
    pub fn log(level: i32, msg: *const u8, len: i32);
    pub fn random_fill(buf: *mut u8, len: i32) -> i32;
    #[allow(clippy::too_many_arguments)]
    pub fn fetch(
        method: *const u8,
        method_len: i32,
        url: *const u8,
        url_len: i32,
        headers: *const u8,
        headers_len: i32,
        body: *const u8,
        body_len: i32,
    ) -> i32;
    pub fn fetch_status(handle: i32) -> i32;
    pub fn fetch_headers(handle: i32, buf: *mut u8, cap: i32) -> i32;
    pub fn fetch_body_read(handle: i32, buf: *mut u8, cap: i32) -> i32;
    pub fn fetch_close(handle: i32) -> i32;
    pub fn last_error(buf: *mut u8, cap: i32) -> i32;
}

/// Result codes.
pub const INVALID: i32 = -3;
pub const CLOSED: i32 = -4;
pub const DENIED: i32 = -5;

/// Calls a copy-out import (`(buf, cap) -> len`) until the value fits.
/// `None` when the import answers with a negative code.
pub fn copy_out(mut call: impl FnMut(*mut u8, i32) -> i32) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    loop {
        let len = call(buf.as_mut_ptr(), buf.len() as i32);
        if len < 0 {
            return None;
        }
        let len = len as usize;
        if len <= buf.len() {
            buf.truncate(len);
            return Some(buf);
        }
        buf = vec![0u8; len];
    }
}

/// Why the last import that failed did so.
pub fn last_error_message() -> String {
    let bytes = copy_out(|buf, cap| unsafe { last_error(buf, cap) }).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Length of a slice as the ABI's `i32`; slices in wasm32 memory always fit.
pub fn len(bytes: &[u8]) -> i32 {
    bytes.len() as i32
}
