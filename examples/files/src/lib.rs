//! Static files from the directory a tenant's config grants (`dir`),
//! read with plain `std::fs` through islet's scoped WASI.
//!
//! `GET /a/b.txt` answers the file `a/b.txt` of that directory (the guest
//! sees it as `/`), `/` answers `index.html`. `PUT` stores the body as a
//! file, which works only when the config also says `dir_writable = true`.
//! Paths that try to leave the directory (`..`, symlinks pointing out of
//! it) fail inside the host's `cap-std` sandbox, whatever this code does.

use std::io::ErrorKind;

use islet_sdk::{Env, Error, Request, Response, Result};

fn handle(request: Request, _env: Env) -> Result<Response> {
    let path = match request.path() {
        "/" => "/index.html".to_string(),
        path => path.to_string(),
    };
    match request.method() {
        "GET" | "HEAD" => match std::fs::read(&path) {
            Ok(bytes) => Ok(Response::new(200)
                .with_header("content-type", content_type(&path))
                .with_body(bytes)),
            Err(e) => Err(io_error(&path, e)),
        },
        "PUT" => {
            let body = request.bytes()?;
            match std::fs::write(&path, &body) {
                Ok(()) => Ok(Response::new(201)),
                Err(e) => Err(io_error(&path, e)),
            }
        }
        _ => Ok(Response::text("use GET, HEAD or PUT\n")
            .with_status(405)
            .with_header("allow", "GET, HEAD, PUT")),
    }
}

fn io_error(path: &str, error: std::io::Error) -> Error {
    let status = match error.kind() {
        ErrorKind::NotFound => 404,
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => 403,
        _ if error.raw_os_error().is_some() => 403,
        _ => 500,
    };
    Error::status(status, format!("{path}: {error}\n"))
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css",
        Some("js") => "text/javascript",
        Some("json") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

islet_sdk::entry!(handle);
