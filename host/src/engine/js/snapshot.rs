//! A V8 start-up snapshot of the platform layer.
//!
//! Evaluating the platform layer's JS files takes milliseconds; doing it
//! for every new isolate would dominate a cold start. Instead, islet
//! evaluates them once per process in a snapshot-creating isolate and
//! serialises the resulting heap. Every tenant isolate then starts from
//! that blob: its default context already holds the Web Platform globals,
//! and the private `hooks` object comes back through the context's
//! snapshot data.
//!
//! **Cache.** The blob is kept in islet's on-disk cache
//! ([`crate::cache`]: private to the user, checksummed, since V8 would
//! trust a corrupt blob), keyed by islet's version, V8's version and
//! flags, and the platform layer's sources, so a restart loads it instead
//! of making it again; a missing, stale or corrupt file is made again.
//!
//! What must not be in the snapshot, isn't: native operations appear as
//! external references ([`super::ops::external_references`], the same
//! list at creation and load), no isolate slots or per-request state
//! exist yet, and per-context values (the clock's origin) are set by the
//! `initContext` hook after load.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{evaluate_platform, ops};

/// The blob and the index of `hooks` in its default context's data.
struct Snapshot {
    blob: Box<[u8]>,
    hooks_index: usize,
}

static SNAPSHOT: OnceLock<Option<Snapshot>> = OnceLock::new();
static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns the snapshot on or off for isolates created from now on (on by
/// default). Off, every isolate evaluates the platform layer itself; the
/// benchmarks use this to measure what the snapshot saves.
pub fn set_snapshot_enabled(enabled: bool) {
    ENABLED.store(enabled, Ordering::Release);
}

/// The snapshot blob, made on first use; `None` if snapshots are off or
/// making one failed (isolates then evaluate the platform layer).
pub(super) fn blob() -> Option<&'static [u8]> {
    if !ENABLED.load(Ordering::Acquire) {
        return None;
    }
    SNAPSHOT
        .get_or_init(|| {
            let path = cache_path();
            if let Some(snapshot) = path.as_deref().and_then(load) {
                return Some(snapshot);
            }
            match create() {
                Ok(snapshot) => {
                    if let Some(path) = &path {
                        store(path, &snapshot);
                    }
                    Some(snapshot)
                }
                Err(error) => {
                    tracing::error!(%error, "cannot make the V8 start-up snapshot; continuing without");
                    None
                }
            }
        })
        .as_ref()
        .map(|s| &*s.blob)
}

/// The `hooks` object of a context created from the snapshot. Call once
/// per context, inside it.
pub(super) fn hooks<'s>(scope: &mut v8::PinScope<'s, '_>) -> Option<v8::Local<'s, v8::Object>> {
    let index = SNAPSHOT.get()?.as_ref()?.hooks_index;
    scope
        .get_context_data_from_snapshot_once::<v8::Object>(index)
        .ok()
}

fn create() -> Result<Snapshot, String> {
    let refs = ops::external_references();
    let mut creator = v8::Isolate::snapshot_creator(Some(Cow::Owned(refs)), None);
    let hooks_index = {
        v8::scope!(let scope, &mut creator);
        let context = v8::Context::new(scope, Default::default());
        let scope = &mut v8::ContextScope::new(scope, context);
        let hooks = {
            v8::tc_scope!(let tc, scope);
            evaluate_platform(tc).map(|hooks| v8::Global::new(tc, hooks))
        };
        // A default context is required even when evaluation failed.
        scope.set_default_context(context);
        let hooks = v8::Local::new(scope, hooks?);
        scope.add_context_data(context, hooks)
    };
    let blob = creator
        .create_blob(v8::FunctionCodeHandling::Keep)
        .ok_or("V8 could not serialise the snapshot")?;
    Ok(Snapshot {
        blob: blob.to_vec().into_boxed_slice(),
        hooks_index,
    })
}

/// The first bytes of a cached snapshot file.
const MAGIC: &[u8; 8] = b"ISLETSN2";

/// Where the snapshot for this build, V8 and platform layer is cached.
fn cache_path() -> Option<PathBuf> {
    let mut parts: Vec<&[u8]> = vec![
        env!("CARGO_PKG_VERSION").as_bytes(),
        v8::V8::get_version().as_bytes(),
        super::V8_FLAGS.as_bytes(),
    ];
    for (name, source) in islet_bindings::js::PLATFORM {
        parts.push(name.as_bytes());
        parts.push(source.as_bytes());
    }
    let key = crate::cache::key(parts);
    Some(crate::cache::dir()?.join(format!("v8-snapshot-{key}.bin")))
}

/// The cached snapshot: the index of `hooks` (8 bytes), then the blob.
fn load(path: &Path) -> Option<Snapshot> {
    let payload = crate::cache::load(path, MAGIC)?;
    let (index, blob) = payload.split_first_chunk::<8>()?;
    if blob.is_empty() {
        return None;
    }
    tracing::debug!(path = %path.display(), "V8 start-up snapshot loaded from the cache");
    Some(Snapshot {
        blob: blob.into(),
        hooks_index: usize::try_from(u64::from_le_bytes(*index)).ok()?,
    })
}

fn store(path: &Path, snapshot: &Snapshot) {
    let mut payload = (snapshot.hooks_index as u64).to_le_bytes().to_vec();
    payload.extend_from_slice(&snapshot.blob);
    crate::cache::store(path, MAGIC, &payload);
}
