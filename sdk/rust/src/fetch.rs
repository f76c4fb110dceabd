//! Outbound requests.

use crate::body::{FetchHandle, Inner};
use crate::{Body, Error, ErrorKind, Headers, Request, Response, Result, sys};

/// Sends `request` and waits for the response head; the body is read as
/// the response's body is read (or passed on as it is).
///
/// The tenant may reach only the hosts its config lists in
/// `allowed_hosts`: any other host fails with [`ErrorKind::FetchDenied`]
/// and a message naming the host. Redirects are followed, and checked the
/// same way at every hop.
pub fn fetch(request: Request) -> Result<Response> {
    let (method, url, headers, body) = request.into_parts();
    let body = body.into_bytes()?;
    let headers = headers.to_lines();
    let (method, url) = (method.as_bytes(), url.as_str().as_bytes());
    let handle = unsafe {
        sys::fetch(
            method.as_ptr(),
            sys::len(method),
            url.as_ptr(),
            sys::len(url),
            headers.as_ptr(),
            sys::len(headers.as_bytes()),
            body.as_ptr(),
            sys::len(&body),
        )
    };
    if handle < 0 {
        let kind = match handle {
            sys::DENIED => ErrorKind::FetchDenied,
            sys::INVALID => ErrorKind::Invalid,
            _ => ErrorKind::FetchFailed,
        };
        return Err(Error::with_kind(kind, sys::last_error_message()));
    }
    let handle = FetchHandle(handle);
    let status = unsafe { sys::fetch_status(handle.0) } as u16;
    let headers = sys::copy_out(|buf, cap| unsafe { sys::fetch_headers(handle.0, buf, cap) })
        .unwrap_or_default();
    Ok(Response::fetched(
        status,
        Headers::from_lines(&headers),
        Body(Inner::Fetched(handle)),
    ))
}
