//! Tenant logging: `console.*` in JS and the `log` import in WASM.
//!
//! Tenant lines go to the host's `tracing` output under the target
//! `islet::tenant`, with the tenant's name as the `tenant` field, so that
//! `RUST_LOG=islet::tenant=debug` shows every tenant's output.

/// Severity of a tenant's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `console.debug`.
    Debug,
    /// `console.log` and `console.info`.
    Info,
    /// `console.warn`.
    Warn,
    /// `console.error`.
    Error,
}

impl Level {
    /// The level of an ABI or op level number: 0 debug, 1 info, 2 warn,
    /// 3 error; anything else counts as info.
    pub fn from_i32(level: i32) -> Level {
        match level {
            0 => Level::Debug,
            2 => Level::Warn,
            3 => Level::Error,
            _ => Level::Info,
        }
    }
}

/// Writes one line of a tenant's log.
pub fn tenant_log(tenant: &str, level: Level, message: &str) {
    match level {
        Level::Debug => tracing::debug!(target: "islet::tenant", tenant, "{message}"),
        Level::Info => tracing::info!(target: "islet::tenant", tenant, "{message}"),
        Level::Warn => tracing::warn!(target: "islet::tenant", tenant, "{message}"),
        Level::Error => tracing::error!(target: "islet::tenant", tenant, "{message}"),
    }
}
