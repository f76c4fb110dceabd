//! Tenants: a name, limits, vars and a loaded program.
//!
//! Loading reads a tenant's `main` file and hands it to its engine, chosen
//! by the file's extension: `.js`/`.mjs` run on V8, `.wasm`/`.wat` on
//! wasmtime. Loading compiles (wasm) or syntax-checks (JS) the code, so a
//! broken tenant is reported at start-up, not on its first request.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use islet_bindings::policy::FetchPolicy;

use crate::config::{DirGrant, Limits, TenantConfig};
use crate::engine::js::JsProgram;
use crate::engine::wasm::{RuntimeTenant, WasmEngine};
use crate::engine::{EngineKind, Program};
use crate::runtime::Runtimes;

/// A tenant whose code could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The tenant's name.
    pub tenant: String,
    /// What is wrong, naming the file where there is one.
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tenant `{}`: {}", self.tenant, self.message)
    }
}

impl std::error::Error for LoadError {}

/// A loaded tenant, shared by the router and every worker thread.
pub struct Tenant {
    id: usize,
    name: String,
    vars: Arc<BTreeMap<String, String>>,
    limits: Limits,
    policy: Arc<FetchPolicy>,
    dir: Option<DirGrant>,
    program: Arc<dyn Program>,
}

impl fmt::Debug for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tenant")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("engine", &self.program.engine())
            .finish_non_exhaustive()
    }
}

impl Tenant {
    /// Loads a tenant's code with the engine its file extension names,
    /// refusing code files larger than `max_module_bytes`.
    pub fn load(
        id: usize,
        config: &TenantConfig,
        wasm: &WasmEngine,
        runtimes: &Runtimes,
        max_module_bytes: u64,
    ) -> Result<Tenant, LoadError> {
        let fail = |message: String| LoadError {
            tenant: config.name.clone(),
            message,
        };
        let path = &config.main;
        let size = std::fs::metadata(path)
            .map_err(|e| fail(format!("cannot read `{}`: {e}", path.display())))?
            .len();
        if size > max_module_bytes {
            return Err(fail(format!(
                "`{}` is {size} bytes, over the limit of {max_module_bytes} bytes \
                 (`server.max_module_mb`)",
                path.display()
            )));
        }
        let bytes = std::fs::read(path)
            .map_err(|e| fail(format!("cannot read `{}`: {e}", path.display())))?;
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if config.dir.is_some() && !matches!(ext, "wasm" | "wat") {
            return Err(fail(
                "`dir` grants a directory through WASI; only WASM tenants can use it".into(),
            ));
        }
        let program: Arc<dyn Program> = match (&config.runtime, ext) {
            (Some(spec), _) => {
                let module = runtimes
                    .resolve(&config.name, spec)
                    .map_err(|e| fail(format!("runtime `{spec}`: {e}")))?;
                Arc::new(
                    wasm.load_on_runtime(
                        &module,
                        &RuntimeTenant {
                            name: &config.name,
                            source_name: &file_name(path),
                            source: &bytes,
                            vars: &config.vars,
                            limits: config.limits,
                        },
                    )
                    .map_err(|e| {
                        fail(format!(
                            "`{}` on runtime `{}@{}`: {e}",
                            path.display(),
                            module.info.name,
                            module.info.version
                        ))
                    })?,
                )
            }
            (None, _) => match ext {
                "js" | "mjs" => {
                    let source = String::from_utf8(bytes)
                        .map_err(|_| fail(format!("`{}` is not UTF-8", path.display())))?;
                    Arc::new(JsProgram::load(&file_name(path), source).map_err(fail)?)
                }
                "wasm" | "wat" => Arc::new(
                    wasm.load(&bytes, ext == "wat")
                        .map_err(|e| fail(format!("`{}`: {e}", path.display())))?,
                ),
                _ => {
                    return Err(fail(format!(
                        "`{}`: unknown kind of module; expected .js, .mjs, .wasm or .wat \
                     (or set `runtime`)",
                        path.display()
                    )));
                }
            },
        };
        let policy = FetchPolicy::new(&config.allowed_hosts)
            .map_err(|e| fail(format!("`allowed_hosts`: {e}")))?;
        Ok(Tenant {
            id,
            name: config.name.clone(),
            vars: Arc::new(config.vars.clone()),
            limits: config.limits,
            policy: Arc::new(policy),
            dir: config.dir.clone(),
            program,
        })
    }

    /// Index of the tenant in its host; unique per host.
    pub fn id(&self) -> usize {
        self.id
    }

    /// The tenant's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tenant's `vars`.
    pub fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }

    pub(crate) fn vars_arc(&self) -> Arc<BTreeMap<String, String>> {
        self.vars.clone()
    }

    /// The tenant's limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Where the tenant may send outbound requests.
    pub fn fetch_policy(&self) -> &Arc<FetchPolicy> {
        &self.policy
    }

    /// The directory the tenant may use through WASI, if any.
    pub fn dir(&self) -> Option<&DirGrant> {
        self.dir.as_ref()
    }

    /// The engine that runs the tenant.
    pub fn engine(&self) -> EngineKind {
        self.program.engine()
    }

    pub(crate) fn program(&self) -> &dyn Program {
        &*self.program
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}
