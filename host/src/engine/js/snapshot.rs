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
//! **Cache.** The blob is kept on disk, keyed by islet's version, V8's
//! version and flags, and the platform layer's sources, so a restart
//! loads it instead of making it again. The directory is
//! `$ISLET_CACHE_DIR`, else `$XDG_CACHE_HOME/islet`, else
//! `~/.cache/islet`, created private to the user: a snapshot holds
//! compiled code, so it must live where no tenant can write. The file
//! carries a SHA-256 of the blob, since V8 would trust a corrupt one; a
//! missing, stale or corrupt file is simply made again.
//!
//! What must not be in the snapshot, isn't: native operations appear as
//! external references ([`super::ops::external_references`], the same
//! list at creation and load), no isolate slots or per-request state
//! exist yet, and per-context values (the clock's origin) are set by the
//! `initContext` hook after load.

use std::borrow::Cow;
use std::io::Write as _;
use std::path::PathBuf;
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
            if let Some(snapshot) = path.as_ref().and_then(load) {
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
const MAGIC: &[u8; 8] = b"ISLETSN1";

/// Where the snapshot for this build, V8 and platform layer is cached.
fn cache_path() -> Option<PathBuf> {
    let dir = std::env::var_os("ISLET_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("islet")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/islet")))?;
    let mut key = Vec::new();
    for part in [
        env!("CARGO_PKG_VERSION"),
        v8::V8::get_version(),
        super::V8_FLAGS,
    ] {
        key.extend_from_slice(part.as_bytes());
        key.push(0);
    }
    for (name, source) in islet_bindings::js::PLATFORM {
        key.extend_from_slice(name.as_bytes());
        key.extend_from_slice(source.as_bytes());
    }
    let digest = islet_bindings::crypto::digest("SHA-256", &key).ok()?;
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    Some(dir.join(format!("v8-snapshot-{hex}.bin")))
}

fn load(path: &PathBuf) -> Option<Snapshot> {
    let bytes = std::fs::read(path).ok()?;
    let rest = bytes.strip_prefix(MAGIC.as_slice())?;
    let (index, rest) = rest.split_first_chunk::<8>()?;
    let (checksum, blob) = rest.split_first_chunk::<32>()?;
    // V8 trusts a snapshot blindly: check it is the one we wrote.
    let actual = islet_bindings::crypto::digest("SHA-256", blob).ok()?;
    if blob.is_empty() || actual != checksum {
        tracing::debug!(path = %path.display(), "ignoring a corrupt cached V8 snapshot");
        return None;
    }
    tracing::debug!(path = %path.display(), "V8 start-up snapshot loaded from the cache");
    Some(Snapshot {
        blob: blob.into(),
        hooks_index: usize::try_from(u64::from_le_bytes(*index)).ok()?,
    })
}

/// Writes the cache file atomically; failing to cache is not an error.
fn store(path: &PathBuf, snapshot: &Snapshot) {
    let result = (|| -> std::io::Result<()> {
        let dir = path.parent().expect("the cache path has a directory");
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        let temp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(MAGIC)?;
        file.write_all(&(snapshot.hooks_index as u64).to_le_bytes())?;
        let checksum = islet_bindings::crypto::digest("SHA-256", &snapshot.blob)
            .expect("SHA-256 is supported");
        file.write_all(&checksum)?;
        file.write_all(&snapshot.blob)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if let Err(error) = result {
        tracing::debug!(%error, path = %path.display(), "cannot cache the V8 start-up snapshot");
    }
}
