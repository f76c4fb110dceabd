//! The scoped WASI preview 1 that a tenant's libc needs, and nothing more.
//!
//! - **stdout and stderr** become the tenant's log, one line per entry
//!   (stdout at `info`, stderr at `warn`); stdin is empty.
//! - **Clocks** are frozen while the tenant's code runs: both the wall
//!   clock and the monotonic clock read the time of the last I/O event
//!   (request start, a body chunk read or written, an outbound response),
//!   so a guest cannot time its own code (a Spectre mitigation, the same
//!   rule as `Date.now()` for JS tenants).
//! - **`random_get`** draws from the host's secure generator.
//! - **Files:** none, unless the tenant's config grants a directory
//!   (`dir`); the guest sees it as `/`, read-only unless `dir_writable`.
//!   Paths are resolved by `cap-std` inside that directory: `..` and
//!   symlinks cannot leave it.
//! - No environment variables, arguments, sockets or other preopens.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use islet_bindings::log::{Level, tenant_log};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{FsPerms, HostMonotonicClock, HostWallClock, WasiCtxBuilder};

use crate::config::DirGrant;

/// A line longer than this is logged in pieces.
const MAX_LINE: usize = 8 * 1024;

/// The WASI context of one instance, with the handles the host keeps to
/// move its clocks and flush its output.
pub(super) struct Wasi {
    pub(super) ctx: WasiP1Ctx,
    pub(super) clock: FrozenClock,
    stdout: LogStream,
    stderr: LogStream,
}

impl Wasi {
    /// Builds the context for `tenant`, granting `dir` if it is set.
    pub(super) fn new(tenant: &Arc<str>, dir: Option<&DirGrant>) -> Result<Wasi, String> {
        // Start-up code (`_initialize`) runs before the first request:
        // give it the time of instantiation rather than the epoch.
        let clock = FrozenClock::default();
        clock.advance();
        let stdout = LogStream::new(tenant.clone(), Level::Info);
        let stderr = LogStream::new(tenant.clone(), Level::Warn);
        let mut builder = WasiCtxBuilder::new();
        builder
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(clock.clone())
            .monotonic_clock(clock.clone())
            // File operations run in line on the worker thread (metered as
            // the tenant's CPU) rather than hopping to a blocking pool.
            .allow_blocking_current_thread(true);
        if let Some(dir) = dir {
            let perms = if dir.writable {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            builder
                .preopened_dir(&dir.path, "/", perms)
                .map_err(|e| format!("cannot open `dir` `{}`: {e:#}", dir.path.display()))?;
        }
        Ok(Wasi {
            ctx: builder.build_p1(),
            clock,
            stdout,
            stderr,
        })
    }

    /// Logs what the guest printed without a final newline.
    pub(super) fn flush_output(&self) {
        self.stdout.flush_partial();
        self.stderr.flush_partial();
    }
}

/// A clock that moves only when the host says so.
#[derive(Clone, Default)]
pub(super) struct FrozenClock(Arc<Frozen>);

#[derive(Default)]
struct Frozen {
    /// Nanoseconds since the Unix epoch.
    wall: AtomicU64,
    /// Nanoseconds since the process's first frozen clock.
    monotonic: AtomicU64,
}

impl FrozenClock {
    /// Moves both clocks to now: called at I/O events only.
    pub(super) fn advance(&self) {
        static START: OnceLock<Instant> = OnceLock::new();
        let start = *START.get_or_init(Instant::now);
        let wall = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        self.0.wall.store(nanos(wall), Ordering::Relaxed);
        // `fetch_max` keeps the monotonic clock monotonic even if two
        // threads ever advanced it at once.
        self.0
            .monotonic
            .fetch_max(nanos(start.elapsed()), Ordering::Relaxed);
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn now(&self) -> Duration {
        Duration::from_nanos(self.0.wall.load(Ordering::Relaxed))
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000
    }

    fn now(&self) -> u64 {
        self.0.monotonic.load(Ordering::Relaxed)
    }
}

/// stdout or stderr of a guest: complete lines go to the tenant's log.
#[derive(Clone)]
struct LogStream {
    tenant: Arc<str>,
    level: Level,
    /// Bytes after the last newline, shared by every handle to the stream.
    partial: Arc<Mutex<Vec<u8>>>,
}

impl LogStream {
    fn new(tenant: Arc<str>, level: Level) -> LogStream {
        LogStream {
            tenant,
            level,
            partial: Arc::default(),
        }
    }

    fn emit(&self, line: &[u8]) {
        let text = islet_bindings::text::utf8_decode_lossy(line);
        tenant_log(&self.tenant, self.level, text.trim_end_matches('\r'));
    }

    fn write(&self, mut bytes: &[u8]) {
        let mut partial = self.partial.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(newline) = bytes.iter().position(|&b| b == b'\n') {
            partial.extend_from_slice(&bytes[..newline]);
            self.emit(&partial);
            partial.clear();
            bytes = &bytes[newline + 1..];
        }
        partial.extend_from_slice(bytes);
        while partial.len() >= MAX_LINE {
            let rest = partial.split_off(MAX_LINE);
            self.emit(&partial);
            *partial = rest;
        }
    }

    fn flush_partial(&self) {
        let mut partial = self.partial.lock().unwrap_or_else(|e| e.into_inner());
        if !partial.is_empty() {
            self.emit(&partial);
            partial.clear();
        }
    }
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for LogStream {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        LogStream::write(self, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogStream {
    async fn ready(&mut self) {}
}

impl AsyncWrite for LogStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        LogStream::write(&self, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.flush_partial();
        Poll::Ready(Ok(()))
    }
}
