//! Errors a handler returns, with the status the client gets.

use std::fmt;

/// A `Result` whose error is an islet [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, and the HTTP status to answer with.
///
/// Any `std::error::Error` converts into one (status 500), so `?` works on
/// I/O, parsing and serde errors. For answers like 404 or 400, build one
/// with [`Error::status`]: its message becomes the response body. The
/// message of a 5xx error goes to the tenant's log, not to the client.
pub struct Error {
    status: u16,
    kind: ErrorKind,
    message: String,
}

/// The broad kind of an [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `fetch` to a host the tenant's `allowed_hosts` does not list.
    FetchDenied,
    /// `fetch` failed: connection, TLS, too many redirects, body too large.
    FetchFailed,
    /// An argument was not valid (a URL, a method, a header).
    Invalid,
    /// Anything else.
    Other,
}

impl Error {
    /// An internal error (500) with a message for the log.
    pub fn new(message: impl Into<String>) -> Error {
        Error::status(500, message)
    }

    /// An error answered with `status`; for statuses below 500 the message
    /// is the response body.
    pub fn status(status: u16, message: impl Into<String>) -> Error {
        Error {
            status,
            kind: ErrorKind::Other,
            message: message.into(),
        }
    }

    /// `400 Bad Request` with a message for the client.
    pub fn bad_request(message: impl Into<String>) -> Error {
        Error::status(400, message)
    }

    /// `404 Not Found`.
    pub fn not_found() -> Error {
        Error::status(404, "Not Found")
    }

    pub(crate) fn with_kind(kind: ErrorKind, message: String) -> Error {
        Error {
            status: 500,
            kind,
            message,
        }
    }

    /// The status the client gets.
    pub fn status_code(&self) -> u16 {
        self.status
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Error({}, {:?}: {})",
            self.status, self.kind, self.message
        )
    }
}

// `Error` itself is not a `std::error::Error`, which is what lets every
// error type convert into it (the way `anyhow` does).
impl<E: std::error::Error> From<E> for Error {
    fn from(error: E) -> Error {
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Error::new(message)
    }
}
