//! Write [islet](https://example.invalid/islet) tenants in Rust.
//!
//! A tenant is a function from a [`Request`] and the tenant's [`Env`] to a
//! [`Response`], compiled to `wasm32-wasip1`:
//!
//! ```no_run
//! use islet_sdk::{Env, Request, Response, Result};
//!
//! fn handle(request: Request, env: Env) -> Result<Response> {
//!     let name = env.var("NAME").unwrap_or_else(|| "world".into());
//!     Ok(Response::text(format!("Hello, {name}! You asked for {}\n", request.path())))
//! }
//!
//! islet_sdk::entry!(handle);
//! ```
//!
//! Build it as a `cdylib` with `cargo build --release --target
//! wasm32-wasip1` and point a tenant's `main` at the `.wasm` file.
//!
//! What a tenant can do:
//! - read the request: [`Request::method`], [`Request::url`],
//!   [`Request::headers`], the body whole ([`Request::text`],
//!   [`Request::json`]) or streamed ([`Body::into_reader`]);
//! - answer: [`Response::text`], [`Response::json`], any status and
//!   headers, or a body streamed to the client as it is written
//!   ([`Response::stream`]);
//! - call other services with [`fetch`], to the hosts its config allows;
//! - read its `vars` ([`Env::var`]), log ([`log`], `println!`), draw
//!   random bytes ([`random_bytes`]).
//!
//! Returning an [`Error`] answers with its status (500 unless built with
//! [`Error::status`]); `?` converts any error. A panic aborts the request
//! with a 500 and its message in the tenant's log. Clocks
//! (`SystemTime`, `Instant`) do not advance while the handler computes:
//! they move between I/O events.
//!
//! The ABI under this crate is documented in islet's `bindings/ABI.md`.

mod body;
mod env;
mod error;
mod fetch;
mod headers;
mod http;
mod sys;
mod url;

pub use body::{Body, BodyReader, BodyWriter};
pub use env::{Env, log, random_bytes};
pub use error::{Error, ErrorKind, Result};
pub use fetch::fetch;
pub use headers::Headers;
pub use http::{Request, Response};
pub use url::Url;

/// Exports `handler`, a `fn(Request, Env) -> Result<Response>`, as the
/// tenant's entry point. Use it once per crate.
#[macro_export]
macro_rules! entry {
    ($handler:path) => {
        #[doc(hidden)]
        #[unsafe(export_name = "islet_handle")]
        pub extern "C" fn __islet_handle() {
            $crate::__private::serve($handler)
        }
    };
}

#[doc(hidden)]
pub mod __private {
    use std::io::Read as _;

    use crate::body::{BodyWriter, Inner};
    use crate::{Env, Request, Response, Result, log, sys};

    /// Runs the handler for the request islet is handling and sends its
    /// response.
    pub fn serve(handler: fn(Request, Env) -> Result<Response>) {
        let response = handler(Request::incoming(), Env::new()).unwrap_or_else(Response::from);
        send(response);
    }

    fn send(response: Response) {
        let (status, mut headers, body) = response.into_parts();
        // A body in memory has a known length: say so, and the client gets
        // it without chunked framing.
        if let Inner::Bytes(bytes) = &body.0
            && !headers.contains("content-length")
            && status != 204
            && status != 304
        {
            headers.set("content-length", bytes.len().to_string());
        }
        unsafe { sys::response_set_status(i32::from(status)) };
        for (name, value) in headers.iter() {
            let code = unsafe {
                sys::response_add_header(
                    name.as_ptr(),
                    sys::len(name.as_bytes()),
                    value.as_ptr(),
                    sys::len(value.as_bytes()),
                )
            };
            if code == sys::INVALID {
                log::warn(&format!("response header `{name}` is not valid; left out"));
            }
        }
        let mut writer = BodyWriter::new();
        let result = match body.0 {
            Inner::Bytes(bytes) if bytes.is_empty() => Ok(()),
            Inner::Bytes(bytes) => std::io::Write::write_all(&mut writer, &bytes),
            Inner::Stream(write) => write(&mut writer),
            other => copy(crate::Body(other).into_reader(), &mut writer),
        };
        if let Err(error) = result
            && error.kind() != std::io::ErrorKind::BrokenPipe
        {
            log::error(&format!("writing the response body failed: {error}"));
        }
    }

    fn copy(mut from: crate::BodyReader, to: &mut BodyWriter) -> std::io::Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = from.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            std::io::Write::write_all(to, &buf[..n])?;
        }
    }
}
