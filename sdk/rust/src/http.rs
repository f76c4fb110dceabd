//! Requests and responses.

use crate::body::{Body, Inner};
use crate::{Error, Headers, Result, Url, sys};

/// An HTTP request: the one being handled, or one to [`fetch`](crate::fetch).
#[derive(Debug)]
pub struct Request {
    method: String,
    url: Url,
    headers: Headers,
    body: Body,
}

impl Request {
    /// A request to send with [`fetch`](crate::fetch).
    pub fn new(method: &str, url: &str) -> Result<Request> {
        Ok(Request {
            method: method.to_ascii_uppercase(),
            url: Url::parse(url)?,
            headers: Headers::new(),
            body: Body::empty(),
        })
    }

    /// A `GET` request.
    pub fn get(url: &str) -> Result<Request> {
        Request::new("GET", url)
    }

    /// A `POST` request with a body.
    pub fn post(url: &str, body: impl Into<Body>) -> Result<Request> {
        Ok(Request::new("POST", url)?.with_body(body))
    }

    /// The request islet is handling, read from the host.
    pub(crate) fn incoming() -> Request {
        let text = |call: unsafe extern "C" fn(*mut u8, i32) -> i32| {
            let bytes = sys::copy_out(|buf, cap| unsafe { call(buf, cap) }).unwrap_or_default();
            String::from_utf8_lossy(&bytes).into_owned()
        };
        let url = text(sys::request_url);
        let headers =
            sys::copy_out(|buf, cap| unsafe { sys::request_headers(buf, cap) }).unwrap_or_default();
        Request {
            method: text(sys::request_method),
            // The host always hands over an absolute URL it parsed itself.
            url: Url::parse(&url).expect("the host's request URL parses"),
            headers: Headers::from_lines(&headers),
            body: Body(Inner::Incoming),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Request {
        self.headers.append(name, value);
        self
    }

    /// Replaces the body.
    pub fn with_body(mut self, body: impl Into<Body>) -> Request {
        self.body = body.into();
        self
    }

    /// A JSON body, with `content-type: application/json`.
    #[cfg(feature = "json")]
    pub fn with_json<T: serde::Serialize + ?Sized>(self, value: &T) -> Result<Request> {
        let bytes = serde_json::to_vec(value)?;
        Ok(self
            .with_header("content-type", "application/json")
            .with_body(bytes))
    }

    /// The method, in uppercase.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The absolute URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The URL's path.
    pub fn path(&self) -> &str {
        self.url.path()
    }

    /// The headers.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The headers, to change.
    pub fn headers_mut(&mut self) -> &mut Headers {
        &mut self.headers
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// Takes the body, leaving an empty one; for streaming reads use
    /// [`Body::into_reader`].
    pub fn take_body(&mut self) -> Body {
        std::mem::take(&mut self.body)
    }

    /// Reads the whole body.
    pub fn bytes(self) -> Result<Vec<u8>> {
        Ok(self.body.into_bytes()?)
    }

    /// Reads the whole body as UTF-8 text.
    pub fn text(self) -> Result<String> {
        String::from_utf8(self.bytes()?).map_err(|_| Error::bad_request("the body is not UTF-8"))
    }

    /// Reads the whole body as JSON; a body that does not parse is a
    /// `400 Bad Request` naming the problem.
    #[cfg(feature = "json")]
    pub fn json<T: serde::de::DeserializeOwned>(self) -> Result<T> {
        let bytes = self.bytes()?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::bad_request(format!("invalid JSON body: {e}")))
    }

    pub(crate) fn into_parts(self) -> (String, Url, Headers, Body) {
        (self.method, self.url, self.headers, self.body)
    }
}

/// An HTTP response: the one a handler returns, or one
/// [`fetch`](crate::fetch) received.
#[derive(Debug)]
pub struct Response {
    status: u16,
    headers: Headers,
    body: Body,
}

impl Response {
    /// A response with a status, no headers and an empty body.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Headers::new(),
            body: Body::empty(),
        }
    }

    /// `200 OK` with a `text/plain` body.
    pub fn text(text: impl Into<String>) -> Response {
        Response::new(200)
            .with_header("content-type", "text/plain; charset=utf-8")
            .with_body(text.into())
    }

    /// `200 OK` with a `text/html` body.
    pub fn html(html: impl Into<String>) -> Response {
        Response::new(200)
            .with_header("content-type", "text/html; charset=utf-8")
            .with_body(html.into())
    }

    /// `200 OK` with a JSON body.
    #[cfg(feature = "json")]
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Response> {
        Ok(Response::new(200)
            .with_header("content-type", "application/json")
            .with_body(serde_json::to_vec(value)?))
    }

    /// `200 OK` with a body streamed by `write` (see [`Body::stream`]).
    pub fn stream(
        write: impl FnOnce(&mut crate::BodyWriter) -> std::io::Result<()> + 'static,
    ) -> Response {
        Response::new(200).with_body(Body::stream(write))
    }

    /// A redirect (`302` unless a 3xx `status` is given) to `location`.
    pub fn redirect(location: &str, status: u16) -> Response {
        Response::new(status).with_header("location", location)
    }

    pub(crate) fn fetched(status: u16, headers: Headers, body: Body) -> Response {
        Response {
            status,
            headers,
            body,
        }
    }

    /// Sets the status.
    pub fn with_status(mut self, status: u16) -> Response {
        self.status = status;
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.append(name, value);
        self
    }

    /// Replaces the body.
    pub fn with_body(mut self, body: impl Into<Body>) -> Response {
        self.body = body.into();
        self
    }

    /// The status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The headers, to change.
    pub fn headers_mut(&mut self) -> &mut Headers {
        &mut self.headers
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// Takes the body, leaving an empty one.
    pub fn take_body(&mut self) -> Body {
        std::mem::take(&mut self.body)
    }

    /// Reads the whole body.
    pub fn bytes(self) -> Result<Vec<u8>> {
        Ok(self.body.into_bytes()?)
    }

    /// Reads the whole body as UTF-8 text.
    pub fn text_body(self) -> Result<String> {
        String::from_utf8(self.bytes()?).map_err(|_| Error::new("the body is not UTF-8"))
    }

    /// Reads the whole body as JSON.
    #[cfg(feature = "json")]
    pub fn json_body<T: serde::de::DeserializeOwned>(self) -> Result<T> {
        let bytes = self.bytes()?;
        Ok(serde_json::from_slice(&bytes)?)
    }

    pub(crate) fn into_parts(self) -> (u16, Headers, Body) {
        (self.status, self.headers, self.body)
    }
}

impl From<Error> for Response {
    /// The response for a handler's error: its status, and for statuses
    /// below 500 its message as the body.
    fn from(error: Error) -> Response {
        let status = error.status_code();
        if status >= 500 {
            crate::log::error(&format!("request failed: {error}"));
            Response::text("Internal Server Error").with_status(status)
        } else {
            Response::text(error.message().to_string()).with_status(status)
        }
    }
}
