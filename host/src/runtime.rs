//! Language runtimes as a host concept: which runtime modules exist and
//! which version each tenant runs.
//!
//! A runtime (the QuickJS runtime for JavaScript, the Lua runtime) is a
//! WebAssembly module on the islet ABI that loads a tenant's source. The
//! config names runtime modules under `[runtimes]`; a tenant picks one
//! with `runtime = "quickjs"`, or pins a version with
//! `runtime = "quickjs@1.0.0"`. The module says its own name and version
//! in its `islet_runtime` custom section.
//!
//! **Deployments are sticky.** The first time a tenant is deployed on a
//! runtime, islet records the runtime's version and digest for it in
//! `state_dir/deployments.toml` and keeps a copy of the module in
//! `state_dir/runtimes/`. Later starts run the tenant on that recorded
//! module, even if the file under `[runtimes]` was replaced by a newer
//! version in the meantime: an upgrade of a runtime never silently
//! changes a deployed tenant. To move a tenant, pin the new version in
//! its `runtime`; the record follows the pin.
//!
//! The compiled form of a runtime (machine code, which islet trusts) is
//! not kept here but in islet's private cache ([`crate::cache`]):
//! `state_dir` holds only WebAssembly, which is checked and compiled
//! again before it runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::config::{Config, RuntimeSpec};
use crate::engine::wasm::{RuntimeInfo, identify_runtime};

/// A runtime module: its bytes and what it says it is.
#[derive(Debug, Clone)]
pub struct RuntimeModule {
    /// Name, version and platform layer, from the module itself.
    pub info: RuntimeInfo,
    /// The module.
    pub bytes: Arc<[u8]>,
    /// Hex SHA-256 of the module.
    pub digest: String,
}

impl RuntimeModule {
    /// Reads a runtime module from `path`.
    pub fn read(path: &Path) -> Result<RuntimeModule, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
        let info = identify_runtime(&bytes)?;
        let digest = hex(&islet_bindings::crypto::digest("SHA-256", &bytes).expect("known"));
        Ok(RuntimeModule {
            info,
            bytes: bytes.into(),
            digest,
        })
    }
}

/// The name a runtime module gives itself (for `islet dev --runtime`).
pub fn name_of(path: &Path) -> Result<String, String> {
    RuntimeModule::read(path).map(|m| m.info.name)
}

/// The configured runtimes and the deployment records.
pub struct Runtimes {
    configured: BTreeMap<String, (PathBuf, Result<Arc<RuntimeModule>, String>)>,
    state_dir: Option<PathBuf>,
    records: Mutex<Records>,
    /// Modules read back from `state_dir`, by path: tenants pinned to an
    /// older version share one read (and one digest) of it.
    stored: Mutex<BTreeMap<PathBuf, Arc<RuntimeModule>>>,
}

/// What `state_dir/deployments.toml` holds.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Records {
    #[serde(default)]
    tenant: BTreeMap<String, Record>,
}

/// The runtime a tenant was deployed on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    runtime: String,
    version: String,
    sha256: String,
}

impl Runtimes {
    /// Reads the `[runtimes]` modules and the deployment records.
    pub fn open(config: &Config) -> Result<Runtimes, String> {
        let configured = config
            .runtimes
            .iter()
            .map(|(name, path)| {
                let module = RuntimeModule::read(path)
                    .and_then(|m| {
                        if m.info.name == *name {
                            Ok(m)
                        } else {
                            Err(format!("the module is the runtime `{}`", m.info.name))
                        }
                    })
                    .map(Arc::new);
                (name.clone(), (path.clone(), module))
            })
            .collect();
        let state_dir = config.server.state_dir.clone();
        let records = match &state_dir {
            Some(dir) => match std::fs::read_to_string(dir.join("deployments.toml")) {
                Ok(text) => toml::from_str(&text).map_err(|e| {
                    format!(
                        "`{}` is damaged: {e}",
                        dir.join("deployments.toml").display()
                    )
                })?,
                Err(_) => Records::default(),
            },
            None => Records::default(),
        };
        Ok(Runtimes {
            configured,
            state_dir,
            records: Mutex::new(records),
            stored: Mutex::default(),
        })
    }

    /// The runtime module tenant `tenant` runs on, following its record
    /// and its pin, and recording the deployment.
    pub fn resolve(&self, tenant: &str, spec: &RuntimeSpec) -> Result<Arc<RuntimeModule>, String> {
        let (path, configured) = self
            .configured
            .get(&spec.name)
            .ok_or_else(|| format!("no runtime named `{}` in `[runtimes]`", spec.name))?;
        let configured = configured
            .as_ref()
            .map_err(|e| format!("`runtimes.{}` (`{}`): {e}", spec.name, path.display()));
        let record = self
            .records
            .lock()
            .expect("records")
            .tenant
            .get(tenant)
            .filter(|r| r.runtime == spec.name && spec.accepts(&r.version))
            .cloned();

        // A deployed tenant stays on its recorded module.
        if let Some(record) = record {
            if let Ok(module) = &configured
                && module.digest == record.sha256
            {
                return Ok(Arc::clone(module));
            }
            let stored = self.stored_path(&record);
            let module = stored
                .as_deref()
                .map(|path| self.read_stored(path))
                .transpose()?
                .filter(|m| m.digest == record.sha256)
                .ok_or_else(|| {
                    format!(
                        "it was deployed on `{}@{}`, whose module is no longer in `{}`; \
                         pin the configured version in `runtime` to redeploy",
                        record.runtime,
                        record.version,
                        stored.as_deref().unwrap_or(Path::new("?")).display()
                    )
                })?;
            if let Ok(newer) = &configured {
                tracing::info!(
                    tenant,
                    "stays on runtime `{}@{}` (it was deployed with it); `runtimes.{}` is {}: \
                     pin `runtime = \"{}@{}\"` to upgrade",
                    record.runtime,
                    record.version,
                    spec.name,
                    newer.info.version,
                    spec.name,
                    newer.info.version
                );
            }
            return Ok(module);
        }

        // A new deployment, or a new pin: the configured module.
        let module = configured?.clone();
        if !spec.accepts(&module.info.version) {
            return Err(format!(
                "it pins `{spec}`, but `runtimes.{}` is version {} and no earlier deployment \
                 of it kept that version",
                spec.name, module.info.version
            ));
        }
        self.record(tenant, &module)?;
        Ok(module)
    }

    /// A module kept in `state_dir`, read once.
    fn read_stored(&self, path: &Path) -> Result<Arc<RuntimeModule>, String> {
        let mut stored = self.stored.lock().expect("stored modules");
        if let Some(module) = stored.get(path) {
            return Ok(module.clone());
        }
        let module = Arc::new(RuntimeModule::read(path)?);
        stored.insert(path.to_owned(), module.clone());
        Ok(module)
    }

    fn stored_path(&self, record: &Record) -> Option<PathBuf> {
        let short = record.sha256.get(..16).unwrap_or(&record.sha256);
        Some(self.state_dir.as_ref()?.join("runtimes").join(format!(
            "{}@{}-{short}.wasm",
            record.runtime, record.version
        )))
    }

    /// Keeps a copy of `module` and records it as `tenant`'s runtime.
    fn record(&self, tenant: &str, module: &RuntimeModule) -> Result<(), String> {
        let Some(dir) = &self.state_dir else {
            return Ok(());
        };
        let record = Record {
            runtime: module.info.name.clone(),
            version: module.info.version.clone(),
            sha256: module.digest.clone(),
        };
        let fail =
            |what: &Path, e: std::io::Error| format!("cannot write `{}`: {e}", what.display());
        let stored = self.stored_path(&record).expect("a state directory");
        if !stored.is_file() {
            let runtimes = dir.join("runtimes");
            std::fs::create_dir_all(&runtimes).map_err(|e| fail(&runtimes, e))?;
            write_atomically(&stored, &module.bytes).map_err(|e| fail(&stored, e))?;
        }
        let mut records = self.records.lock().expect("records");
        if records.tenant.get(tenant) == Some(&record) {
            return Ok(());
        }
        records.tenant.insert(tenant.to_owned(), record);
        let text = format!(
            "# The runtime each tenant was deployed on; written by islet.\n{}",
            toml::to_string(&*records).expect("records serialise")
        );
        let path = dir.join("deployments.toml");
        write_atomically(&path, text.as_bytes()).map_err(|e| fail(&path, e))
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
