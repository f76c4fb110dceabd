//! A proxy in Rust: forwards each request to the service named by the
//! `UPSTREAM` var and transforms what comes back.
//!
//! - A JSON answer is wrapped: `{"upstream_status": 200, "data": ...}`.
//! - Anything else streams through unchanged, chunk by chunk.
//! - Every answer carries `x-proxied-by: islet`.
//!
//! The upstream's host must be in the tenant's `allowed_hosts`; if it is
//! not, the fetch is denied and the proxy answers `502` saying so.

use islet_sdk::{Env, Error, ErrorKind, Request, Response, Result, fetch};
use serde_json::json;

fn handle(mut request: Request, env: Env) -> Result<Response> {
    let upstream = env
        .var("UPSTREAM")
        .ok_or_else(|| Error::new("the `UPSTREAM` var is not set"))?;
    let mut target = format!("{}{}", upstream.trim_end_matches('/'), request.path());
    if let Some(query) = request.url().query() {
        target.push('?');
        target.push_str(query);
    }

    let mut outbound = Request::new(request.method(), &target)?
        .with_header("x-forwarded-host", request.url().host())
        .with_body(request.take_body());
    for name in ["accept", "content-type", "authorization"] {
        if let Some(value) = request.header(name) {
            outbound = outbound.with_header(name, value);
        }
    }

    let upstream_response = match fetch(outbound) {
        Ok(response) => response,
        Err(error) => {
            let why = match error.kind() {
                ErrorKind::FetchDenied => "the upstream is not allowed",
                _ => "the upstream failed",
            };
            return Ok(Response::text(format!("{why}: {error}\n"))
                .with_status(502)
                .with_header("x-proxied-by", "islet"));
        }
    };

    let status = upstream_response.status();
    let is_json = upstream_response
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/json"));
    if is_json {
        let data: serde_json::Value = upstream_response.json_body()?;
        let wrapped = json!({ "upstream_status": status, "data": data });
        return Ok(Response::json(&wrapped)?
            .with_status(status)
            .with_header("x-proxied-by", "islet"));
    }

    // Pass the body through as it arrives, with the upstream's headers
    // minus the ones that describe its framing.
    let mut response = upstream_response;
    for name in ["content-length", "transfer-encoding", "connection"] {
        response.headers_mut().remove(name);
    }
    Ok(response.with_header("x-proxied-by", "islet"))
}

islet_sdk::entry!(handle);
