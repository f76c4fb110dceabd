//! Bodies: bytes in memory, the incoming request streamed from the host,
//! an outbound response streamed from the host, or a stream the handler
//! writes as the client reads.

use std::fmt;
use std::io::{self, Read, Write};

use crate::sys;

/// The body of a request or response.
///
/// Build one from bytes or text (`"hi".into()`), or with [`Body::stream`]
/// to write the body piece by piece: each piece reaches the client as it
/// is written.
pub struct Body(pub(crate) Inner);

pub(crate) enum Inner {
    Bytes(Vec<u8>),
    /// The body of the request being handled, read from the host.
    Incoming,
    /// The body of an outbound response, read from the host.
    Fetched(FetchHandle),
    /// Written by the handler to the client.
    Stream(WriteFn),
}

/// What [`Body::stream`] runs to write a body.
pub(crate) type WriteFn = Box<dyn FnOnce(&mut BodyWriter) -> io::Result<()>>;

impl Body {
    /// No bytes.
    pub fn empty() -> Body {
        Body(Inner::Bytes(Vec::new()))
    }

    /// A body written by `write` while the response is sent. The head goes
    /// out with the first byte written; what `write` writes reaches the
    /// client before it returns. An error from `write` cuts the response
    /// off (the head is already sent).
    pub fn stream(write: impl FnOnce(&mut BodyWriter) -> io::Result<()> + 'static) -> Body {
        Body(Inner::Stream(Box::new(write)))
    }

    /// Reads the whole body.
    pub fn into_bytes(self) -> io::Result<Vec<u8>> {
        match self.0 {
            Inner::Bytes(bytes) => Ok(bytes),
            Inner::Stream(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a streamed body is written to the client, it cannot be read",
            )),
            inner => {
                let mut bytes = Vec::new();
                BodyReader(inner).read_to_end(&mut bytes)?;
                Ok(bytes)
            }
        }
    }

    /// A reader over the body, for bodies too large to hold at once.
    pub fn into_reader(self) -> BodyReader {
        BodyReader(self.0)
    }
}

impl Default for Body {
    fn default() -> Body {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Bytes(b) => write!(f, "Body({} bytes)", b.len()),
            Inner::Incoming => f.write_str("Body(incoming)"),
            Inner::Fetched(_) => f.write_str("Body(fetched)"),
            Inner::Stream(_) => f.write_str("Body(stream)"),
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Body {
        Body(Inner::Bytes(bytes))
    }
}

impl From<&[u8]> for Body {
    fn from(bytes: &[u8]) -> Body {
        Body(Inner::Bytes(bytes.to_vec()))
    }
}

impl From<String> for Body {
    fn from(text: String) -> Body {
        Body(Inner::Bytes(text.into_bytes()))
    }
}

impl From<&str> for Body {
    fn from(text: &str) -> Body {
        Body(Inner::Bytes(text.as_bytes().to_vec()))
    }
}

/// Reads a body as it arrives.
pub struct BodyReader(Inner);

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let cap = buf.len().min(i32::MAX as usize) as i32;
        let n = match &mut self.0 {
            Inner::Bytes(bytes) => {
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                bytes.drain(..n);
                return Ok(n);
            }
            Inner::Stream(_) => return Ok(0),
            Inner::Incoming => unsafe { sys::request_body_read(buf.as_mut_ptr(), cap) },
            Inner::Fetched(handle) => unsafe {
                sys::fetch_body_read(handle.0, buf.as_mut_ptr(), cap)
            },
        };
        if n < 0 {
            return Err(io::Error::other(format!("reading the body failed ({n})")));
        }
        Ok(n as usize)
    }
}

/// An open outbound response; closed when dropped.
pub(crate) struct FetchHandle(pub(crate) i32);

impl Drop for FetchHandle {
    fn drop(&mut self) {
        unsafe {
            sys::fetch_close(self.0);
        }
    }
}

/// Writes the response body to the client ([`Body::stream`]).
pub struct BodyWriter {
    _private: (),
}

impl BodyWriter {
    pub(crate) fn new() -> BodyWriter {
        BodyWriter { _private: () }
    }
}

impl Write for BodyWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = buf.len().min(1 << 30);
        match unsafe { sys::response_write(buf.as_ptr(), n as i32) } {
            sys::CLOSED => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the client went away",
            )),
            _ => Ok(n),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
