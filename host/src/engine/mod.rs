//! The engine interface: what the scheduler needs from V8 and wasmtime.
//!
//! An engine turns a tenant's code into a [`Program`] once, when the
//! tenant is loaded. A program is `Send + Sync` and shared by every worker
//! thread. On a worker thread, [`Program::instantiate`] creates an
//! [`Isolate`]: a live V8 isolate with its context, or a wasmtime store
//! with its instance. An isolate is deliberately not `Send`: it is created,
//! run and dropped on its home thread only. This is what V8 requires of an
//! isolate, and it costs wasmtime nothing.
//!
//! The front and the router never see this module's isolates: they talk
//! to the scheduler through channels, and the scheduler talks to isolates
//! through the two traits below, whatever engine is behind them.
//!
//! An isolate answers a request by writing to a [`ResponseSink`]: first a
//! [`ResponseHead`], then body chunks. Chunks flow to the client while the
//! handler runs; the sink's body channel is bounded, so a tenant that
//! writes faster than the client reads waits instead of buffering.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use tokio::sync::{mpsc, oneshot};

use crate::cpu::{CpuMeter, Interrupt};
use crate::outcome::Outcome;
use crate::tenant::Tenant;

pub mod js;
pub mod wasm;

/// A boxed future that stays on its thread.
pub type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// The engine that runs a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EngineKind {
    /// JavaScript module workers on V8.
    Js,
    /// Core WebAssembly modules on wasmtime, through the islet ABI.
    Wasm,
}

impl EngineKind {
    /// A short lowercase name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Js => "v8",
            EngineKind::Wasm => "wasmtime",
        }
    }
}

/// A tenant's code, loaded and compiled once, shared by all threads.
pub trait Program: Send + Sync + 'static {
    /// The engine that runs this program.
    fn engine(&self) -> EngineKind;

    /// Creates a fresh isolate for `tenant` on the current thread. The
    /// isolate must only ever be used, and dropped, on this thread.
    ///
    /// Start-up code (a module's top level) is charged to the request that
    /// caused the cold start: engines point `startup.interrupt` at the new
    /// isolate before running any tenant code.
    fn instantiate(
        &self,
        tenant: &Tenant,
        startup: &Startup,
    ) -> Result<Rc<dyn Isolate>, HandlerError>;
}

/// What an engine needs to stop a tenant's start-up code.
pub struct Startup {
    /// The meter of the request that caused the cold start.
    pub meter: Arc<CpuMeter>,
    /// Where the engine puts the new isolate's interrupt.
    pub interrupt: Arc<crate::cpu::InterruptSlot>,
}

/// A live instance of a tenant's program, homed on one worker thread.
pub trait Isolate {
    /// Handles one request. Engines that can interleave requests (V8) may
    /// be called again before an earlier future has finished; engines that
    /// cannot (core wasm) serialise internally.
    ///
    /// The scheduler charges every poll of the returned future to `meter`
    /// and calls [`Isolate::interrupt`]'s handle when the budget runs out;
    /// the engine then fails the request with
    /// [`HandlerError::ExceededCpu`]. Before running code for a request,
    /// an engine clears any interrupt left over from an earlier one.
    fn handle(
        self: Rc<Self>,
        request: TenantRequest,
        sink: ResponseSink,
        meter: Arc<CpuMeter>,
    ) -> LocalBoxFuture<Result<(), HandlerError>>;

    /// A handle that stops this isolate's running code from any thread.
    fn interrupt(&self) -> Arc<dyn Interrupt>;

    /// Bytes of memory this isolate holds (heap, external buffers, linear
    /// memories), as of its last request.
    fn memory_bytes(&self) -> usize;
}

/// A request as an isolate sees it: the head and its body.
#[derive(Debug)]
pub struct TenantRequest {
    /// The HTTP method.
    pub method: Method,
    /// The absolute URL, e.g. `http://shop.example.com/cart?x=1`.
    pub url: String,
    /// The request headers.
    pub headers: HeaderMap,
    /// The request body, bounded by `server.max_body_mb`.
    pub body: RequestBody,
}

/// A request body: whole, or arriving chunk by chunk.
///
/// A streamed body comes through a small bounded channel: while the
/// tenant does not read, the front stops reading from the client, so a
/// slow reader slows the upload down instead of buffering it. Dropping
/// the stream (the tenant cancels the body) stops the upload.
#[derive(Debug)]
pub enum RequestBody {
    /// All of it, read up front (small bodies with a known length).
    Full(Bytes),
    /// Chunks as they arrive; an `Err` ends the body with that reason.
    Stream(mpsc::Receiver<Result<Bytes, String>>),
}

impl RequestBody {
    /// An empty body.
    pub fn empty() -> Self {
        RequestBody::Full(Bytes::new())
    }

    /// Reads the whole body, for engines and callers that need it at once.
    pub async fn collect(self) -> Result<Bytes, String> {
        match self {
            RequestBody::Full(bytes) => Ok(bytes),
            RequestBody::Stream(mut chunks) => {
                let mut all = Vec::new();
                while let Some(chunk) = chunks.recv().await {
                    all.extend_from_slice(&chunk?);
                }
                Ok(Bytes::from(all))
            }
        }
    }
}

/// The status and headers of a response.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    /// The status code.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
}

/// Why a response body stopped before its end.
#[derive(Debug, Clone)]
pub struct BodyAborted(pub String);

impl fmt::Display for BodyAborted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "response body aborted: {}", self.0)
    }
}

impl std::error::Error for BodyAborted {}

/// One chunk of a response body, or the reason it stopped.
pub type BodyChunk = Result<Bytes, BodyAborted>;

type HeadSender = oneshot::Sender<Result<ResponseHead, Failure>>;

/// Where an isolate writes its response. Clones share one response: the
/// head can be sent once, by any of them.
#[derive(Clone)]
pub struct ResponseSink {
    head: Arc<Mutex<Option<HeadSender>>>,
    body: mpsc::Sender<BodyChunk>,
}

/// The receiving side of a [`ResponseSink`]: what the front turns into an
/// HTTP response.
pub struct ResponseSource {
    head: oneshot::Receiver<Result<ResponseHead, Failure>>,
    body: mpsc::Receiver<BodyChunk>,
}

/// How many body chunks may wait between an isolate and its client.
const BODY_CHANNEL_CHUNKS: usize = 16;

/// Creates a connected sink and source.
pub fn response_channel() -> (ResponseSink, ResponseSource) {
    let (head_tx, head_rx) = oneshot::channel();
    let (body_tx, body_rx) = mpsc::channel(BODY_CHANNEL_CHUNKS);
    (
        ResponseSink {
            head: Arc::new(Mutex::new(Some(head_tx))),
            body: body_tx,
        },
        ResponseSource {
            head: head_rx,
            body: body_rx,
        },
    )
}

/// The head was sent already, or nobody listens any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkError {
    /// The response head was sent before.
    HeadAlreadySent,
    /// The client went away.
    Closed,
}

impl ResponseSink {
    /// Whether the head has been sent (or the response failed).
    pub fn head_sent(&self) -> bool {
        self.head.lock().expect("sink lock").is_none()
    }

    /// Sends the response head.
    pub fn send_head(&self, head: ResponseHead) -> Result<(), SinkError> {
        let tx = self
            .head
            .lock()
            .expect("sink lock")
            .take()
            .ok_or(SinkError::HeadAlreadySent)?;
        tx.send(Ok(head)).map_err(|_| SinkError::Closed)
    }

    /// Sends one body chunk, waiting while the client is behind. The head
    /// must have been sent.
    pub async fn send_chunk(&self, chunk: Bytes) -> Result<(), SinkError> {
        if chunk.is_empty() {
            return Ok(());
        }
        self.body
            .send(Ok(chunk))
            .await
            .map_err(|_| SinkError::Closed)
    }

    /// Ends the body: the client sees the response complete even while
    /// the handler goes on (`ctx.waitUntil`).
    pub fn finish(&self) {
        // An empty chunk marks the end; `send_chunk` never sends one.
        let _ = self.body.try_send(Ok(Bytes::new()));
    }

    /// Reports a failure: as the whole response if the head was not sent
    /// yet, otherwise by aborting the body (the client sees a truncated
    /// response). Returns whether the failure became the response.
    pub fn fail(&self, failure: Failure) -> bool {
        let head = self.head.lock().expect("sink lock").take();
        match head {
            Some(tx) => {
                let _ = tx.send(Err(failure));
                true
            }
            None => {
                let _ = self.body.try_send(Err(BodyAborted(failure.message)));
                false
            }
        }
    }
}

impl ResponseSource {
    /// Waits for the head; returns it with the body's chunks.
    pub async fn into_parts(self) -> Result<(ResponseHead, mpsc::Receiver<BodyChunk>), Failure> {
        match self.head.await {
            Ok(Ok(head)) => Ok((head, self.body)),
            Ok(Err(failure)) => Err(failure),
            Err(_) => Err(Failure::new(
                Outcome::Internal,
                "the worker dropped the request without answering",
            )),
        }
    }
}

/// Why a request produced no (complete) response: the outcome the client
/// is told, and a message for the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The outcome, sent as the `islet-outcome` header.
    pub outcome: Outcome,
    /// What went wrong, for the logs.
    pub message: String,
}

impl Failure {
    /// A failure with this outcome and message.
    pub fn new(outcome: Outcome, message: impl Into<String>) -> Self {
        Self {
            outcome,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.outcome.as_str(), self.message)
    }
}

/// An error from a tenant's code or from the engine running it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// JavaScript threw, or the handler's promise rejected.
    #[error("uncaught exception: {0}")]
    Exception(String),
    /// The handler returned something that is not a response.
    #[error("the handler returned {0}, not a Response")]
    NotAResponse(String),
    /// A wasm trap, with its backtrace.
    #[error("wasm trap: {0}")]
    Trap(String),
    /// The guest broke the ABI's rules (bad pointer, response sent twice).
    #[error("the guest misused the islet ABI: {0}")]
    Guest(String),
    /// The handler's promise can never settle.
    #[error("the handler's promise never settled")]
    Stalled,
    /// The tenant's code could not be instantiated.
    #[error("the tenant failed to start: {0}")]
    Startup(String),
    /// The client went away before the response was complete.
    #[error("the client went away")]
    ClientGone,
    /// The request used more CPU time than its limit.
    #[error(
        "exceeded its CPU limit of {} ms (used {:.1} ms)",
        limit.as_millis(),
        used.as_secs_f64() * 1e3
    )]
    ExceededCpu {
        /// CPU time charged to the request when it was stopped.
        used: Duration,
        /// The limit.
        limit: Duration,
    },
    /// The isolate outgrew its memory limit.
    #[error("exceeded its memory limit of {limit_mb} MiB")]
    ExceededMemory {
        /// The limit.
        limit_mb: u64,
    },
    /// The request took longer than its wall-clock limit.
    #[error("exceeded its wall-clock limit of {} ms", limit.as_millis())]
    ExceededWall {
        /// The limit.
        limit: Duration,
    },
    /// The engine has no room for another instance (every slot of the
    /// wasm pool is in use).
    #[error("{0}")]
    NoCapacity(String),
}

impl HandlerError {
    /// The outcome a client sees for this error.
    pub fn outcome(&self) -> Outcome {
        match self {
            HandlerError::ClientGone => Outcome::Ok,
            HandlerError::ExceededCpu { .. } => Outcome::ExceededCpu,
            HandlerError::ExceededMemory { .. } => Outcome::ExceededMemory,
            HandlerError::ExceededWall { .. } => Outcome::ExceededWall,
            HandlerError::NoCapacity(_) => Outcome::Overloaded,
            _ => Outcome::Exception,
        }
    }

    /// Whether the isolate must be dropped: its state can no longer be
    /// trusted (a wasm instance after a trap, a request abandoned half-way
    /// through), it never started, or it holds too much memory.
    pub fn poisons_isolate(&self) -> bool {
        matches!(
            self,
            HandlerError::Trap(_)
                | HandlerError::Guest(_)
                | HandlerError::Startup(_)
                | HandlerError::NoCapacity(_)
                | HandlerError::ExceededMemory { .. }
                | HandlerError::ExceededWall { .. }
        )
    }
}
