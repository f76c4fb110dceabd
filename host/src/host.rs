//! [`Host`]: the tenants, their routes and the scheduler, as one value an
//! application can embed.
//!
//! `Host::handle` is the whole path of a request minus the socket: route
//! by `Host` and path, bound the body, queue the request on its tenant's
//! home thread, and turn the answer (or the failure) into a response. The
//! HTTP front in [`crate::server`] is a thin loop around it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Body;

use crate::body::ResponseBody;
use crate::config::{Config, ServerConfig};
use crate::engine::wasm::WasmEngine;
use crate::engine::{Failure, RequestBody, TenantRequest};
use crate::metrics::Metrics;
use crate::outcome::{OUTCOME_HEADER, Outcome};
use crate::route::Router;
use crate::scheduler::{Scheduler, SchedulerConfig};
use crate::tenant::{LoadError, Tenant};

/// Why a host could not start.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A tenant's code did not load.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The wasm engine could not be created.
    #[error("cannot create the wasm engine: {0}")]
    Engine(String),
    /// The deployment state (`server.state_dir`) cannot be read.
    #[error("{0}")]
    State(String),
    /// The outbound TLS settings are unusable.
    #[error("`outbound.ca_file`: {0}")]
    Outbound(String),
    /// The worker threads could not be started.
    #[error("cannot start worker threads: {0}")]
    Threads(#[from] std::io::Error),
}

impl HostError {
    /// Whether the error is in the configuration or tenant code (rather
    /// than in the machine), so that fixing the config would fix it.
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            HostError::Load(_) | HostError::Outbound(_) | HostError::State(_)
        )
    }
}

/// A running set of tenants. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Host {
    inner: Arc<Inner>,
}

struct Inner {
    server: ServerConfig,
    tenants: Vec<Arc<Tenant>>,
    router: Router<Arc<Tenant>>,
    scheduler: Scheduler,
    metrics: Arc<Metrics>,
}

impl Host {
    /// Loads every tenant (compiling wasm, syntax-checking JS) and starts
    /// the worker threads.
    pub fn new(config: &Config) -> Result<Host, HostError> {
        crate::outbound::configure_tls(config.outbound.ca_file.as_deref())
            .map_err(HostError::Outbound)?;
        let max_memory_mb = config
            .tenants
            .iter()
            .map(|t| t.limits.memory_mb)
            .fold(config.limits.memory_mb, u64::max);
        let wasm = WasmEngine::new(config.server.wasm_instances, max_memory_mb)
            .map_err(|e| HostError::Engine(format!("{e:#}")))?;
        let runtimes = crate::runtime::Runtimes::open(config).map_err(HostError::State)?;
        let mut tenants = Vec::with_capacity(config.tenants.len());
        let mut router = Router::new();
        for (id, t) in config.tenants.iter().enumerate() {
            let max_module = config.server.max_module_mb.saturating_mul(1 << 20);
            let tenant = Arc::new(Tenant::load(id, t, &wasm, &runtimes, max_module)?);
            for pattern in &t.routes {
                // Config validation already refused duplicate routes.
                let _ = router.insert(pattern, tenant.clone());
            }
            tenants.push(tenant);
        }
        let metrics = Arc::new(Metrics::default());
        let scheduler = Scheduler::start(
            &SchedulerConfig {
                workers: config.server.workers,
                quarantine_workers: config.server.quarantine_workers,
                queue_depth: config.server.queue_depth,
                memory_target: config
                    .server
                    .memory_target_mb
                    .map(|mb| usize::try_from(mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX)),
            },
            metrics.clone(),
        )?;
        Ok(Host {
            inner: Arc::new(Inner {
                server: config.server.clone(),
                tenants,
                router,
                scheduler,
                metrics,
            }),
        })
    }

    /// The server settings this host was created with.
    pub fn server_config(&self) -> &ServerConfig {
        &self.inner.server
    }

    /// The tenant named `name`.
    pub fn tenant(&self, name: &str) -> Option<&Arc<Tenant>> {
        self.inner.tenants.iter().find(|t| t.name() == name)
    }

    /// The host's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Bytes held by all live isolates, as last published by the workers.
    pub fn isolate_memory(&self) -> usize {
        self.inner.scheduler.isolate_memory()
    }

    /// Every tenant, in configuration order.
    pub fn tenants(&self) -> &[Arc<Tenant>] {
        &self.inner.tenants
    }

    /// Routes a request by its `Host` header and path, and runs it.
    pub async fn handle<B>(&self, request: Request<B>) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes>,
        B: Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let host = request_host(&request).to_string();
        let Some(tenant) = self
            .inner
            .router
            .lookup(&host, request.uri().path())
            .cloned()
        else {
            let failure = Failure::new(
                Outcome::NoRoute,
                format!("no route for `{host}{}`", request.uri().path()),
            );
            log_request(
                None,
                &request,
                started,
                failure.outcome.status(),
                failure.outcome,
            );
            self.inner.metrics.request(None, failure.outcome);
            return failure_response(&failure);
        };
        self.run(&tenant, request, started).await
    }

    /// Runs a request on a tenant chosen by the caller, bypassing routes.
    pub async fn handle_for<B>(
        &self,
        tenant: &Arc<Tenant>,
        request: Request<B>,
    ) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes>,
        B: Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.run(tenant, request, Instant::now()).await
    }

    async fn run<B>(
        &self,
        tenant: &Arc<Tenant>,
        request: Request<B>,
        started: Instant,
    ) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes>,
        B: Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        let logged = Request::from_parts(parts.clone(), ());
        let overflow = Arc::new(AtomicBool::new(false));
        let result = async {
            let body = self.read_body(&parts, body, overflow.clone()).await?;
            let url = format!(
                "http://{}{}",
                request_host(&logged),
                parts.uri.path_and_query().map_or("/", |p| p.as_str())
            );
            let request = TenantRequest {
                method: parts.method.clone(),
                url,
                headers: parts.headers.clone(),
                body,
            };
            self.inner
                .scheduler
                .dispatch(tenant, request)?
                .into_parts()
                .await
        }
        .await;
        // A streamed body that turned out too large overrides whatever the
        // tenant made of its truncated body.
        let result = match result {
            _ if overflow.load(Ordering::Acquire) => Err(self.too_large()),
            other => other,
        };

        match result {
            Ok((head, chunks)) => {
                log_request(Some(tenant), &logged, started, head.status, Outcome::Ok);
                self.inner.metrics.request(Some(tenant.name()), Outcome::Ok);
                let mut response = Response::new(ResponseBody::stream(chunks));
                *response.status_mut() = head.status;
                *response.headers_mut() = head.headers;
                response
            }
            Err(failure) => {
                log_request(
                    Some(tenant),
                    &logged,
                    started,
                    failure.outcome.status(),
                    failure.outcome,
                );
                self.inner
                    .metrics
                    .request(Some(tenant.name()), failure.outcome);
                failure_response(&failure)
            }
        }
    }

    fn too_large(&self) -> Failure {
        Failure::new(
            Outcome::BodyTooLarge,
            format!(
                "the request body exceeds {} MiB",
                self.inner.server.max_body_mb
            ),
        )
    }

    /// Prepares the request body, refusing more than `server.max_body_mb`.
    ///
    /// A small body of known length is read at once. Any other body is
    /// streamed to the tenant through a bounded channel by a task on the
    /// front's runtime, which sets `overflow` if the body outgrows the
    /// limit.
    async fn read_body<B>(
        &self,
        parts: &http::request::Parts,
        body: B,
        overflow: Arc<AtomicBool>,
    ) -> Result<RequestBody, Failure>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let limit = self.inner.server.max_body_mb.saturating_mul(1 << 20);
        let declared = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(self.too_large());
        }
        if body.is_end_stream() {
            return Ok(RequestBody::empty());
        }
        if declared.is_some_and(|n| n <= WHOLE_BODY_BYTES) {
            let limited = Limited::new(body, WHOLE_BODY_BYTES as usize);
            return match limited.collect().await {
                Ok(collected) => Ok(RequestBody::Full(collected.to_bytes())),
                Err(e) => Err(Failure::new(
                    Outcome::BadRequest,
                    format!("reading the request body failed: {e}"),
                )),
            };
        }
        let (tx, rx) = tokio::sync::mpsc::channel(STREAM_BODY_CHUNKS);
        let message = self.too_large().message;
        tokio::spawn(pump_body(body, tx, limit, overflow, message));
        Ok(RequestBody::Stream(rx))
    }

    /// Stops the worker threads, giving running requests up to `grace`.
    pub fn shutdown(&self, grace: Duration) {
        self.inner.scheduler.shutdown(grace);
    }
}

/// Bodies of known length up to this size are read before dispatch.
const WHOLE_BODY_BYTES: u64 = 64 * 1024;

/// Chunks a streamed request body may have in flight to its tenant.
const STREAM_BODY_CHUNKS: usize = 2;

/// Forwards a request body to its tenant chunk by chunk. Stops when the
/// tenant drops the stream (it cancelled the body or finished), and sets
/// `overflow` past `limit` bytes.
async fn pump_body<B>(
    body: B,
    tx: tokio::sync::mpsc::Sender<Result<Bytes, String>>,
    limit: u64,
    overflow: Arc<AtomicBool>,
    too_large: String,
) where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut body = Box::pin(body);
    let mut total: u64 = 0;
    loop {
        let frame = tokio::select! {
            frame = body.frame() => frame.map(|f| f.map_err(|e| {
                let e: Box<dyn std::error::Error + Send + Sync> = e.into();
                format!("reading the request body failed: {e}")
            })),
            () = tx.closed() => return,
        };
        let data = match frame {
            None => return,
            Some(Err(reason)) => {
                let _ = tx.send(Err(reason)).await;
                return;
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue, // trailers
            },
        };
        total += data.len() as u64;
        if total > limit {
            overflow.store(true, Ordering::Release);
            let _ = tx.send(Err(too_large)).await;
            return;
        }
        if tx.send(Ok(data)).await.is_err() {
            return;
        }
    }
}

fn request_host<B>(request: &Request<B>) -> &str {
    request
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
        .unwrap_or("localhost")
}

fn failure_response(failure: &Failure) -> Response<ResponseBody> {
    let status = failure.outcome.status();
    let text = match failure.outcome {
        Outcome::NoRoute => "no route matches this request\n",
        Outcome::Exception => "the worker threw an exception\n",
        Outcome::BodyTooLarge => "the request body is too large\n",
        Outcome::ExceededCpu => "the worker exceeded its CPU limit\n",
        Outcome::ExceededMemory => "the worker exceeded its memory limit\n",
        Outcome::ExceededWall => "the worker took too long\n",
        Outcome::Overloaded => "the server is overloaded; retry later\n",
        Outcome::ShuttingDown => "the server is shutting down\n",
        Outcome::Internal => "internal error\n",
        Outcome::BadRequest => "the request body could not be read\n",
        Outcome::Ok => "\n",
    };
    let mut response = Response::new(ResponseBody::full(text));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        OUTCOME_HEADER,
        HeaderValue::from_static(failure.outcome.as_str()),
    );
    response
}

fn log_request(
    tenant: Option<&Arc<Tenant>>,
    request: &Request<impl Sized>,
    started: Instant,
    status: StatusCode,
    outcome: Outcome,
) {
    tracing::info!(
        tenant = tenant.map_or("-", |t| t.name()),
        method = %request.method(),
        path = request.uri().path(),
        status = status.as_u16(),
        duration_us = started.elapsed().as_micros() as u64,
        outcome = outcome.as_str(),
        "request"
    );
}
