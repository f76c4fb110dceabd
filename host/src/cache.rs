//! islet's on-disk cache of compiled code: the V8 start-up snapshot and
//! compiled WebAssembly modules, so a restart loads them instead of
//! making them again.
//!
//! Both are code the engines trust blindly, so the cache lives only where
//! no tenant or deploy can write: `$ISLET_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/islet`, else `~/.cache/islet`, created private to the
//! user (mode 0700). Each file starts with an 8-byte magic naming its
//! kind and a SHA-256 of the rest, checked before anything is handed to an
//! engine; files are written to a temporary name and renamed, so a reader
//! never sees half a file. A missing, stale or corrupt file is a miss,
//! never an error, and so is a failure to write one.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The cache directory, if a home for it is known.
pub fn dir() -> Option<PathBuf> {
    std::env::var_os("ISLET_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("islet")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/islet")))
}

/// A short hex name for what `parts` (versions, settings, sources) make.
pub fn key<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut all = Vec::new();
    for part in parts {
        all.extend_from_slice(&(part.len() as u64).to_le_bytes());
        all.extend_from_slice(part);
    }
    let digest = islet_bindings::crypto::digest("SHA-256", &all).expect("SHA-256 is supported");
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// The payload of the cache file at `path`, if it is one of `magic`'s kind
/// and intact.
pub fn load(path: &Path, magic: &[u8; 8]) -> Option<Vec<u8>> {
    let bytes = std::fs::read(path).ok()?;
    let rest = bytes.strip_prefix(magic.as_slice())?;
    let (checksum, payload) = rest.split_first_chunk::<32>()?;
    let actual = islet_bindings::crypto::digest("SHA-256", payload).ok()?;
    if payload.is_empty() || actual != checksum {
        tracing::debug!(path = %path.display(), "ignoring a corrupt cache file");
        return None;
    }
    Some(payload.to_vec())
}

/// Writes `payload` to the cache file at `path`.
pub fn store(path: &Path, magic: &[u8; 8], payload: &[u8]) {
    let result = (|| -> std::io::Result<()> {
        let dir = path.parent().expect("a cache path has a directory");
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        let temp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(magic)?;
        let checksum =
            islet_bindings::crypto::digest("SHA-256", payload).expect("SHA-256 is supported");
        file.write_all(&checksum)?;
        file.write_all(payload)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if let Err(error) = result {
        tracing::debug!(%error, path = %path.display(), "cannot write a cache file");
    }
}
