//! The tenant's configuration, logging and randomness.

use crate::sys;

/// The tenant's `vars` from islet's config.
#[derive(Debug, Clone, Copy, Default)]
pub struct Env {
    _private: (),
}

impl Env {
    pub(crate) fn new() -> Env {
        Env { _private: () }
    }

    /// The value of variable `name`.
    pub fn var(&self, name: &str) -> Option<String> {
        let bytes = sys::copy_out(|buf, cap| unsafe {
            sys::env_get(name.as_ptr(), sys::len(name.as_bytes()), buf, cap)
        })?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// Fills `buf` with cryptographically secure random bytes.
pub fn random_bytes(buf: &mut [u8]) {
    unsafe {
        sys::random_fill(buf.as_mut_ptr(), sys::len(buf));
    }
}

/// Lines in the tenant's log. `println!` and `eprintln!` work too (at
/// info and warn).
pub mod log {
    use crate::sys;

    fn line(level: i32, message: &str) {
        unsafe { sys::log(level, message.as_ptr(), sys::len(message.as_bytes())) }
    }

    /// A debug line.
    pub fn debug(message: &str) {
        line(0, message)
    }

    /// An info line.
    pub fn info(message: &str) {
        line(1, message)
    }

    /// A warning.
    pub fn warn(message: &str) {
        line(2, message)
    }

    /// An error.
    pub fn error(message: &str) {
        line(3, message)
    }
}
