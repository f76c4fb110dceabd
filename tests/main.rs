//! islet's integration tests: one binary, one module per feature.
//!
//! Most tests start the real `islet` binary on an ephemeral port with a
//! configuration written to a temporary directory, and talk to it over
//! real HTTP (see `support`).

mod support;

mod bundles;
mod config;
mod embed;
mod failures;
mod fetch;
mod front;
mod isolation;
mod js;
mod limits;
mod platform;
mod routing;
mod runtimes;
mod sdk;
mod shutdown;
mod streaming;
mod wasm;
