//! The HTTP front: accepts connections and serves them with hyper.
//!
//! The front runs on the caller's (multi-threaded) tokio runtime and never
//! touches an isolate: each request goes through [`Host::handle`], which
//! meets the worker threads at channels.
//!
//! Limits applied here: a request head must arrive within
//! `server.header_timeout_ms` and fit in [`MAX_HEAD_BYTES`]; hyper answers
//! a head that is too large with `431` and a malformed one with `400`.
//!
//! **Shutdown.** When the `shutdown` future completes the listener closes,
//! idle connections are closed, in-flight requests get up to
//! `server.shutdown_timeout_ms` to finish, and then the worker threads
//! stop.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::body::ResponseBody;
use crate::host::Host;

/// The largest request head (request line and headers) accepted.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Bytes of the request line and headers, as sent.
fn head_size<B>(request: &http::Request<B>) -> usize {
    let line = request.method().as_str().len() + request.uri().to_string().len() + 12;
    request
        .headers()
        .iter()
        .fold(line, |n, (k, v)| n + k.as_str().len() + v.len() + 4)
}

/// hyper enforces its buffer size only while a head is incomplete, so a
/// head that arrives whole in a few large reads is checked here.
fn head_too_large() -> http::Response<ResponseBody> {
    let mut response = http::Response::new(ResponseBody::full("request head too large\n"));
    *response.status_mut() = http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
    response
}

/// Serves `host` on `listener` until `shutdown` completes, then shuts down
/// gracefully (see the module docs).
pub async fn serve(
    host: Host,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let config = host.server_config().clone();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(config.header_timeout_ms))
        .max_buf_size(MAX_HEAD_BYTES);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);

    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off a little.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let host = host.clone();
        let service = service_fn(move |request: http::Request<Incoming>| {
            let host = host.clone();
            async move {
                if head_size(&request) > MAX_HEAD_BYTES {
                    return Ok::<_, Infallible>(head_too_large());
                }
                Ok(host.handle(request).await)
            }
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }

    drop(listener);
    tracing::info!("shutting down: waiting for in-flight requests");
    let grace = Duration::from_millis(config.shutdown_timeout_ms);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish in time");
    }
    let worker_host = host.clone();
    tokio::task::spawn_blocking(move || worker_host.shutdown(Duration::from_secs(1)))
        .await
        .ok();
    Ok(())
}

/// Serves the admin endpoints of `host` on `listener`: `GET /metrics` in
/// the Prometheus (OpenMetrics) text format. Runs until the runtime stops.
pub async fn serve_admin(host: Host, listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let host = host.clone();
        let service = service_fn(move |request: http::Request<Incoming>| {
            let host = host.clone();
            async move {
                let mut response = if request.uri().path() == "/metrics" {
                    let mut r = http::Response::new(ResponseBody::full(host.metrics().encode()));
                    r.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static(
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        ),
                    );
                    r
                } else {
                    http::Response::new(ResponseBody::full("not found\n"))
                };
                if request.uri().path() != "/metrics" {
                    *response.status_mut() = http::StatusCode::NOT_FOUND;
                }
                Ok::<_, Infallible>(response)
            }
        });
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
