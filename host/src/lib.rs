//! islet: a multi-tenant isolate host.
//!
//! One process runs the code of many tenants side by side: JavaScript
//! module workers in V8 isolates and WebAssembly modules in wasmtime
//! instances, behind one HTTP front, under one scheduler.
//!
//! # The path of a request
//!
//! ```text
//! client ─► server (hyper on tokio)       head limits, header timeout
//!        ─► Host::handle ─► route          no match: 404 `no-route`
//!        ─► scheduler: tenant's home       queue full: 503 `overloaded`
//!        ─► worker thread: isolate         create on first use, run handler
//!        ─► response head + body chunks ─► channel ─► client
//! ```
//!
//! Tenant code never runs on the front's threads, and the front never
//! touches an isolate: the two sides meet at channels.
//!
//! # Where things live
//!
//! - [`config`]: the TOML file and its validation.
//! - [`route`]: route patterns and the router.
//! - [`host`]: [`Host`], the embeddable whole; [`server`]: the HTTP front.
//! - [`scheduler`]: worker threads, tenants' home threads, queues,
//!   memory target and eviction; [`cpu`]: CPU accounting and the
//!   watchdog; [`metrics`]: Prometheus metrics.
//! - [`engine`]: the engine interface, with [`engine::js`] (V8) and
//!   [`engine::wasm`] (wasmtime, and language runtimes on it) behind it.
//! - [`tenant`]: loading a tenant's code with the right engine;
//!   [`runtime`]: which language runtime module, at which version, a
//!   runtime tenant is deployed on.
//!
//! The Web Platform layer and the WASM ABI are engine-neutral and live in
//! the `islet-bindings` crate.
//!
//! # The engine boundary
//!
//! An engine compiles a tenant's code once into a `Send + Sync`
//! [`engine::Program`]; a worker thread instantiates it into an
//! [`engine::Isolate`], which is not `Send` and lives on that thread for
//! its whole life. The scheduler drives every engine through these two
//! traits only.
//!
//! # Embedding
//!
//! An API server can run its clients' code in-process: build a [`Config`]
//! (or load one), create a [`Host`], and pass it requests. See
//! `host/examples/embed.rs`:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = islet::Config::load("islet.toml".as_ref())?;
//! let host = islet::Host::new(&config)?;
//! let request = http::Request::get("http://hello.localhost/")
//!     .body(http_body_util::Empty::<bytes::Bytes>::new())?;
//! let response = host.handle(request).await;
//! println!("{}", response.status());
//! # Ok(()) }
//! ```

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod body;
pub mod cache;
pub mod config;
pub mod cpu;
pub mod engine;
pub mod host;
pub mod metrics;
pub mod outbound;
pub mod outcome;
pub mod route;
pub mod runtime;
pub mod scheduler;
pub mod server;
pub mod tenant;

pub use body::ResponseBody;
pub use config::{Config, ConfigError, Limits};
pub use engine::js::init_v8;
pub use host::{Host, HostError};
pub use outcome::{OUTCOME_HEADER, Outcome};
pub use server::{serve, serve_admin};
