//! The TOML configuration: servers, default limits and tenants.
//!
//! Parsing is strict: an unknown key, a duplicate tenant or route, or a
//! tenant whose `main` cannot be read is a [`ConfigError`] whose message is
//! one line naming the file, the key or tenant, and the problem. The binary
//! turns any such error into exit status 2.
//!
//! Every key and its default is documented in the README's configuration
//! reference; keep the two in step.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::route::RoutePattern;

/// Default listen address of `islet serve` and `islet dev`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// A configuration error: one line, naming the file and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    message: String,
}

impl ConfigError {
    pub(crate) fn new(file: &Path, problem: impl fmt::Display) -> Self {
        Self {
            message: format!("{}: {problem}", file.display()),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The whole configuration of one islet process.
#[derive(Debug, Clone)]
pub struct Config {
    /// The HTTP front and worker threads.
    pub server: ServerConfig,
    /// Limits that apply to every tenant unless it overrides them.
    pub limits: Limits,
    /// The admin listener.
    pub admin: AdminConfig,
    /// Outbound requests (`fetch`).
    pub outbound: OutboundConfig,
    /// The tenants, in file order.
    pub tenants: Vec<TenantConfig>,
    /// Language runtimes by name (`[runtimes]`): the runtime module that
    /// tenants naming it are deployed on (see [`crate::runtime`]).
    pub runtimes: BTreeMap<String, PathBuf>,
}

/// `[outbound]`: how tenants' `fetch` reaches other services.
#[derive(Debug, Clone, Default)]
pub struct OutboundConfig {
    /// PEM file of extra certificate authorities to trust for `https:`,
    /// next to the bundled Mozilla roots. Default is none.
    pub ca_file: Option<PathBuf>,
}

/// `[admin]`: the listener for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct AdminConfig {
    /// Address of the admin listener. Default is none (off).
    pub listen: Option<SocketAddr>,
}

/// `[server]`: the HTTP front and the worker threads.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address the front listens on. Default is `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Number of worker threads that run tenant code. Default is the number
    /// of CPU cores.
    pub workers: usize,
    /// Largest accepted request body in MiB; larger bodies get `413`.
    /// Default is 100.
    pub max_body_mb: u64,
    /// How long a client may take to send a request head, in milliseconds.
    /// Default is 10,000.
    pub header_timeout_ms: u64,
    /// How long a graceful shutdown waits for in-flight requests, in
    /// milliseconds. Default is 10,000.
    pub shutdown_timeout_ms: u64,
    /// Capacity of each worker thread's request queue. Default is 1,024.
    pub queue_depth: usize,
    /// Low-priority threads for tenants that keep overrunning their CPU
    /// limit; 0 turns quarantine off. Default is 1.
    pub quarantine_workers: usize,
    /// Memory all isolates together should stay under, in MiB; above it
    /// idle isolates are evicted. Default is none (no target).
    pub memory_target_mb: Option<u64>,
    /// Largest tenant code file (`main`) in MiB; larger ones are refused
    /// at load time. Default is 10.
    pub max_module_mb: u64,
    /// Where islet keeps deployment state: the runtime version each
    /// runtime tenant was deployed with, and a copy of every runtime
    /// module a tenant was deployed on. Default: `.islet` next to the
    /// config file; none for `islet dev` (nothing is recorded).
    pub state_dir: Option<PathBuf>,
    /// WebAssembly instances that can be live at once (each tenant that
    /// ran on a worker thread holds one there); beyond them, a cold start
    /// gets `503 overloaded`. wasmtime's pooling allocator reserves
    /// address space (not memory) for all of them up front: 4 GiB each
    /// for up to 2,048 instances (compiled code then needs no bounds
    /// checks), the largest `memory_mb` each beyond. Default is 1,000.
    pub wasm_instances: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.parse().expect("default address parses"),
            workers: default_workers(),
            max_body_mb: 100,
            header_timeout_ms: 10_000,
            shutdown_timeout_ms: 10_000,
            queue_depth: 1024,
            quarantine_workers: 1,
            memory_target_mb: None,
            max_module_mb: 10,
            state_dir: None,
            wasm_instances: 1_000,
        }
    }
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Resource limits of a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// CPU time one request may use, in milliseconds. Default is 50.
    pub cpu_ms: u64,
    /// Memory one isolate may use, in MiB. Default is 128.
    pub memory_mb: u64,
    /// Wall-clock time one request may take, in milliseconds. Default is
    /// 30,000.
    pub wall_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            cpu_ms: 50,
            memory_mb: 128,
            wall_ms: 30_000,
        }
    }
}

/// One `[[tenant]]` entry, resolved against the config file's directory.
#[derive(Debug, Clone)]
pub struct TenantConfig {
    /// Unique name; used in logs and metrics.
    pub name: String,
    /// The tenant's code: a `.js` module, a `.wasm` or `.wat` module.
    pub main: PathBuf,
    /// Route patterns that send requests to this tenant.
    pub routes: Vec<RoutePattern>,
    /// Plain-text variables, visible to the tenant as `env`.
    pub vars: BTreeMap<String, String>,
    /// Hosts the tenant may `fetch`; none by default.
    pub allowed_hosts: Vec<String>,
    /// This tenant's limits: the `[limits]` defaults with its overrides.
    pub limits: Limits,
    /// A host directory a WASM tenant may read through WASI, seen by the
    /// guest as `/`. Default is none: no filesystem at all.
    pub dir: Option<DirGrant>,
    /// The language runtime the tenant's `main` runs on (`runtime`), if
    /// any; without one, the engine follows from `main`'s extension.
    pub runtime: Option<RuntimeSpec>,
}

/// A tenant's `runtime`: a name, optionally pinned to a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeSpec {
    /// The runtime's name, a key of `[runtimes]`.
    pub name: String,
    /// `quickjs@1.0.0` pins `1.0.0`; `quickjs@1` pins any `1.x`.
    pub version: Option<String>,
}

impl RuntimeSpec {
    /// Parses `name` or `name@version`.
    pub fn parse(text: &str) -> Result<RuntimeSpec, String> {
        let (name, version) = match text.split_once('@') {
            Some((name, version)) => (name, Some(version)),
            None => (text, None),
        };
        if name.is_empty() || !name.chars().all(is_name_char) {
            return Err(format!(
                "`{text}` is not a runtime name like `quickjs` or `quickjs@1.0.0`"
            ));
        }
        if let Some(v) = version
            && (v.is_empty() || !v.chars().all(is_name_char))
        {
            return Err(format!("`{text}`: `{v}` is not a version like `1.0.0`"));
        }
        Ok(RuntimeSpec {
            name: name.to_owned(),
            version: version.map(str::to_owned),
        })
    }

    /// Whether `version` satisfies the pin: equal, or a dotted extension
    /// of it (`1` accepts `1.2.0`).
    pub fn accepts(&self, version: &str) -> bool {
        match &self.version {
            None => true,
            Some(pin) => {
                version == pin
                    || version
                        .strip_prefix(pin.as_str())
                        .is_some_and(|rest| rest.starts_with('.'))
            }
        }
    }
}

impl fmt::Display for RuntimeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(v) => write!(f, "{}@{v}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// A host directory granted to a WASM tenant (`dir` and `dir_writable`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// The directory, resolved against the config file's directory.
    pub path: PathBuf,
    /// Whether the guest may create, change and remove files in it.
    /// Default is false (read-only).
    pub writable: bool,
}

// The file's shape. Kept private so that the public types can carry
// resolved values (paths, parsed routes, merged limits).

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    admin: RawAdmin,
    #[serde(default)]
    outbound: RawOutbound,
    #[serde(default)]
    tenant: Vec<RawTenant>,
    #[serde(default)]
    runtimes: BTreeMap<String, PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawOutbound {
    ca_file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    listen: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<String>,
    workers: Option<usize>,
    max_body_mb: Option<u64>,
    header_timeout_ms: Option<u64>,
    shutdown_timeout_ms: Option<u64>,
    queue_depth: Option<usize>,
    quarantine_workers: Option<usize>,
    memory_target_mb: Option<u64>,
    max_module_mb: Option<u64>,
    state_dir: Option<PathBuf>,
    wasm_instances: Option<u32>,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    cpu_ms: Option<u64>,
    memory_mb: Option<u64>,
    wall_ms: Option<u64>,
}

impl RawLimits {
    fn over(self, base: Limits) -> Limits {
        Limits {
            cpu_ms: self.cpu_ms.unwrap_or(base.cpu_ms),
            memory_mb: self.memory_mb.unwrap_or(base.memory_mb),
            wall_ms: self.wall_ms.unwrap_or(base.wall_ms),
        }
    }
}

/// Rejects limits of zero, naming the section they are in.
fn check_limits(limits: &Limits, section: &str) -> Result<(), String> {
    for (key, value) in [
        ("cpu_ms", limits.cpu_ms),
        ("memory_mb", limits.memory_mb),
        ("wall_ms", limits.wall_ms),
    ] {
        if value == 0 {
            return Err(format!("`{section}.{key}` must be at least 1"));
        }
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    name: String,
    main: PathBuf,
    #[serde(default)]
    routes: Vec<String>,
    #[serde(default)]
    vars: BTreeMap<String, String>,
    #[serde(default)]
    allowed_hosts: Vec<String>,
    #[serde(default)]
    limits: RawLimits,
    dir: Option<PathBuf>,
    dir_writable: Option<bool>,
    runtime: Option<String>,
}

impl Config {
    /// Reads and validates a configuration file.
    ///
    /// Tenant `main` paths are resolved against the file's directory and
    /// must name readable files; their contents are loaded (and compiled)
    /// later, by [`crate::Host::new`].
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(path, format_args!("cannot read config: {e}")))?;
        Self::parse(&text, path)
    }

    /// Parses configuration text; `path` names it in errors and anchors
    /// relative `main` paths.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|span| {
                    let (line, col) = line_col(text, span.start);
                    format!(":{line}:{col}")
                })
                .unwrap_or_default();
            let message = e.message().replace('\n', " ");
            ConfigError {
                message: format!("{}{at}: {}", path.display(), message.trim()),
            }
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::resolve(raw, path, base)
    }

    fn resolve(raw: RawConfig, path: &Path, base: &Path) -> Result<Config, ConfigError> {
        let err = |problem: String| ConfigError::new(path, problem);

        // The server section.
        let defaults = ServerConfig::default();
        let listen = match raw.server.listen {
            Some(s) => s.parse().map_err(|_| {
                err(format!(
                    "`server.listen`: `{s}` is not an address like `127.0.0.1:8080`"
                ))
            })?,
            None => defaults.listen,
        };
        let workers = raw.server.workers.unwrap_or(defaults.workers);
        if workers == 0 {
            return Err(err("`server.workers` must be at least 1".into()));
        }
        let queue_depth = raw.server.queue_depth.unwrap_or(defaults.queue_depth);
        if queue_depth == 0 {
            return Err(err("`server.queue_depth` must be at least 1".into()));
        }
        let server = ServerConfig {
            listen,
            workers,
            max_body_mb: raw.server.max_body_mb.unwrap_or(defaults.max_body_mb),
            header_timeout_ms: raw
                .server
                .header_timeout_ms
                .unwrap_or(defaults.header_timeout_ms),
            shutdown_timeout_ms: raw
                .server
                .shutdown_timeout_ms
                .unwrap_or(defaults.shutdown_timeout_ms),
            queue_depth,
            quarantine_workers: raw
                .server
                .quarantine_workers
                .unwrap_or(defaults.quarantine_workers),
            memory_target_mb: raw.server.memory_target_mb,
            max_module_mb: raw.server.max_module_mb.unwrap_or(defaults.max_module_mb),
            state_dir: Some(base.join(raw.server.state_dir.unwrap_or_else(|| ".islet".into()))),
            wasm_instances: raw.server.wasm_instances.unwrap_or(defaults.wasm_instances),
        };
        if server.wasm_instances == 0 {
            return Err(err("`server.wasm_instances` must be at least 1".into()));
        }
        if server.max_module_mb == 0 {
            return Err(err("`server.max_module_mb` must be at least 1".into()));
        }
        let outbound = OutboundConfig {
            ca_file: match raw.outbound.ca_file {
                Some(file) => {
                    let file = base.join(file);
                    if !file.is_file() {
                        return Err(err(format!(
                            "`outbound.ca_file`: `{}` does not exist",
                            file.display()
                        )));
                    }
                    Some(file)
                }
                None => None,
            },
        };
        let admin = AdminConfig {
            listen: match raw.admin.listen {
                Some(s) => Some(s.parse().map_err(|_| {
                    err(format!(
                        "`admin.listen`: `{s}` is not an address like `127.0.0.1:9090`"
                    ))
                })?),
                None => None,
            },
        };

        let mut runtimes = BTreeMap::new();
        for (name, file) in raw.runtimes {
            if name.is_empty() || !name.chars().all(is_name_char) {
                return Err(err(format!(
                    "`runtimes.{name}`: a name may hold only letters, digits, `-`, `_` and `.`"
                )));
            }
            let file = base.join(file);
            if !file.is_file() {
                return Err(err(format!(
                    "`runtimes.{name}`: `{}` does not exist",
                    file.display()
                )));
            }
            runtimes.insert(name, file);
        }

        // Default limits, then each tenant with its overrides.
        let limits = raw.limits.over(Limits::default());
        check_limits(&limits, "limits").map_err(err)?;
        let mut names = HashMap::new();
        let mut routes: HashMap<String, String> = HashMap::new();
        let mut tenants = Vec::with_capacity(raw.tenant.len());
        for t in raw.tenant {
            if t.name.is_empty() || !t.name.chars().all(is_name_char) {
                return Err(err(format!(
                    "tenant `{}`: a name may hold only letters, digits, `-`, `_` and `.`",
                    t.name
                )));
            }
            if names.insert(t.name.clone(), ()).is_some() {
                return Err(err(format!("tenant `{}` is defined twice", t.name)));
            }
            let mut parsed = Vec::with_capacity(t.routes.len());
            for r in &t.routes {
                let pattern = RoutePattern::parse(r)
                    .map_err(|e| err(format!("tenant `{}`: route `{r}`: {e}", t.name)))?;
                if let Some(other) = routes.insert(pattern.to_string(), t.name.clone()) {
                    return Err(err(format!(
                        "tenant `{}`: route `{r}` is already used by tenant `{other}`",
                        t.name
                    )));
                }
                parsed.push(pattern);
            }
            let main = base.join(&t.main);
            if !main.is_file() {
                return Err(err(format!(
                    "tenant `{}`: `main` file `{}` does not exist",
                    t.name,
                    main.display()
                )));
            }
            islet_bindings::policy::FetchPolicy::new(&t.allowed_hosts)
                .map_err(|e| err(format!("tenant `{}`: `allowed_hosts`: {e}", t.name)))?;
            let limits = t.limits.over(limits);
            check_limits(&limits, &format!("tenant `{}`: limits", t.name)).map_err(err)?;
            let dir = match (t.dir, t.dir_writable) {
                (Some(dir), writable) => {
                    let path = base.join(&dir);
                    if !path.is_dir() {
                        return Err(err(format!(
                            "tenant `{}`: `dir` `{}` is not a directory",
                            t.name,
                            path.display()
                        )));
                    }
                    Some(DirGrant {
                        path,
                        writable: writable.unwrap_or(false),
                    })
                }
                (None, Some(_)) => {
                    return Err(err(format!(
                        "tenant `{}`: `dir_writable` needs a `dir`",
                        t.name
                    )));
                }
                (None, None) => None,
            };
            let runtime = match t.runtime {
                Some(spec) => {
                    let spec = RuntimeSpec::parse(&spec)
                        .map_err(|e| err(format!("tenant `{}`: `runtime`: {e}", t.name)))?;
                    if !runtimes.contains_key(&spec.name) {
                        return Err(err(format!(
                            "tenant `{}`: `runtime`: no runtime named `{}` in `[runtimes]`",
                            t.name, spec.name
                        )));
                    }
                    if dir.is_some() {
                        return Err(err(format!(
                            "tenant `{}`: `dir` is for WASM modules; a runtime tenant cannot use it",
                            t.name
                        )));
                    }
                    Some(spec)
                }
                None => None,
            };
            tenants.push(TenantConfig {
                name: t.name,
                main,
                routes: parsed,
                vars: t.vars,
                allowed_hosts: t.allowed_hosts,
                limits,
                dir,
                runtime,
            });
        }

        Ok(Config {
            server,
            limits,
            admin,
            outbound,
            tenants,
            runtimes,
        })
    }

    /// The configuration of `islet dev`: one tenant named after the
    /// script, serving every route.
    pub fn single(script: &Path) -> Result<Config, ConfigError> {
        Self::single_on(script, None)
    }

    /// Like [`Config::single`]; with `runtime`, a runtime's name and its
    /// module's path, the script runs on that language runtime.
    pub fn single_on(script: &Path, runtime: Option<(&str, &Path)>) -> Result<Config, ConfigError> {
        if !script.is_file() {
            return Err(ConfigError::new(script, "no such file"));
        }
        if let Some((_, module)) = runtime
            && !module.is_file()
        {
            return Err(ConfigError::new(module, "no such file"));
        }
        let name = script
            .file_stem()
            .and_then(|s| s.to_str())
            .filter(|s| !s.is_empty() && s.chars().all(is_name_char))
            .unwrap_or("dev")
            .to_string();
        let limits = Limits::default();
        Ok(Config {
            server: ServerConfig::default(),
            limits,
            admin: AdminConfig::default(),
            outbound: OutboundConfig::default(),
            tenants: vec![TenantConfig {
                name,
                main: script.to_path_buf(),
                routes: vec![RoutePattern::parse("*/*").expect("catch-all parses")],
                vars: BTreeMap::new(),
                allowed_hosts: Vec::new(),
                limits,
                dir: None,
                runtime: runtime.map(|(name, _)| RuntimeSpec {
                    name: name.to_owned(),
                    version: None,
                }),
            }],
            runtimes: runtime
                .map(|(name, module)| (name.to_owned(), module.to_path_buf()))
                .into_iter()
                .collect(),
        })
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, col)
}
