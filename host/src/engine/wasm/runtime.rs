//! Language runtimes: one compiled interpreter, many tenants.
//!
//! A runtime is an islet ABI module with two more exports (see
//! `bindings/ABI.md`, "Runtimes"). Loading a tenant that runs on one
//! takes three steps, each done once and kept:
//!
//! 1. **The runtime image** (once per runtime version and islet build).
//!    The runtime's `islet_runtime_init` runs (it sets up the interpreter
//!    and, for JavaScript, evaluates the Web Platform layer) and Wizer
//!    snapshots the result into a new module whose data segments hold the
//!    initialised heap. Wizer's instrumentation pass then exports every
//!    global, so the host can read and restore them. The image is
//!    compiled once and shared by every tenant of the runtime; wasmtime
//!    maps its heap copy-on-write into each instance, so tenants share
//!    the interpreter's pages until they write them. Image and compiled
//!    code are kept in islet's private cache ([`crate::cache`]).
//! 2. **The tenant snapshot** (once per tenant load). An instance of the
//!    image runs `islet_runtime_load`, which parses and evaluates the
//!    tenant's source. The host then keeps what that changed: the runs of
//!    bytes of linear memory that differ from a fresh instance (compared
//!    page by page), the memory's size, and the globals that moved.
//! 3. **A cold start** instantiates the image (copy-on-write) and writes
//!    the tenant's bytes back: no parsing, no top-level code.
//!
//! Why not a Wizer snapshot per tenant? Each would be a different module,
//! and wasmtime compiles code per module: every tenant would pay a full
//! Cranelift compile of the interpreter (seconds for QuickJS) and hold
//! its own copy of the machine code. Restoring a page delta on top of one
//! shared image keeps one compiled interpreter for all tenants.

use std::sync::Arc;
use std::time::Duration;

use islet_bindings::abi::{self as spec, runtime as rt};
use wasmtime::{Instance, InstancePre, Mutability, Store, Val};
use wasmtime_wizer::Wizer;

use super::abi::{Failure, RuntimeSource};
use super::{HostState, WasmEngine};
use crate::runtime::RuntimeModule;

/// What a runtime module says it is, from its `islet_runtime` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeInfo {
    /// The runtime's name, e.g. `quickjs`.
    pub name: String,
    /// Its version, e.g. `1.0.0`.
    pub version: String,
    /// The platform layer it wants while it initialises: `js` for the JS
    /// Web Platform layer of `islet-bindings`, or none.
    pub platform: Option<String>,
}

/// Reads a runtime module's `islet_runtime` custom section.
pub fn identify(bytes: &[u8]) -> Result<RuntimeInfo, String> {
    if !bytes.starts_with(b"\0asm") {
        return Err("not a WebAssembly module (no `\\0asm` header)".into());
    }
    let mut section = None;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| format!("not a valid WebAssembly module: {e}"))?;
        if let wasmparser::Payload::CustomSection(reader) = payload
            && reader.name() == rt::SECTION
        {
            section = Some(reader.data().to_vec());
        }
    }
    let section = section.ok_or_else(|| {
        format!(
            "not an islet runtime: the module has no `{}` custom section",
            rt::SECTION
        )
    })?;
    let text = String::from_utf8_lossy(&section);
    let mut info = RuntimeInfo {
        name: String::new(),
        version: String::new(),
        platform: None,
    };
    for line in text.lines().map(|l| l.trim_end_matches('\0').trim()) {
        match line.split_once('=') {
            Some(("name", v)) => info.name = v.to_owned(),
            Some(("version", v)) => info.version = v.to_owned(),
            Some(("platform", v)) if !v.is_empty() => info.platform = Some(v.to_owned()),
            _ => {}
        }
    }
    let valid = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if !valid(&info.name) || !valid(&info.version) {
        return Err(format!(
            "the `{}` section must name the runtime and its version (`name=...`, `version=...`)",
            rt::SECTION
        ));
    }
    Ok(info)
}

/// A runtime, initialised and compiled: what every tenant of it shares.
pub(super) struct RuntimeImage {
    pub(super) pre: InstancePre<HostState>,
    /// The image's exported mutable globals (all of them, after Wizer's
    /// instrumentation), by name.
    globals: Vec<String>,
    /// A fresh instance's state, read when the first tenant loads.
    baseline: std::sync::OnceLock<Baseline>,
}

/// A fresh instance of a runtime image, for comparison.
pub(super) struct Baseline {
    memory: Vec<u8>,
    /// By index into [`RuntimeImage::globals`].
    globals: Vec<Option<Val>>,
}

/// What loading one tenant's source changed in a fresh runtime instance.
pub(super) struct TenantImage {
    /// Linear memory size in bytes.
    memory_size: usize,
    /// Changed runs of bytes: offset and contents.
    runs: Vec<(usize, Box<[u8]>)>,
    /// Changed globals: index into [`RuntimeImage::globals`] and value.
    globals: Vec<(usize, Val)>,
}

impl TenantImage {
    /// Bytes of memory this tenant's snapshot holds.
    pub(super) fn bytes(&self) -> usize {
        self.runs.iter().map(|(_, r)| r.len()).sum()
    }
}

/// Pages compared at once when taking a tenant snapshot.
const PAGE: usize = 4096;

/// Changed bytes closer than this are kept as one run.
const RUN_GAP: usize = 16;

/// The first bytes of a cached runtime image.
const IMAGE_MAGIC: &[u8; 8] = b"ISLETRI1";

/// Limits on a runtime's initialisation and on a tenant's load.
pub(super) struct LoadLimits {
    /// CPU time (of the loading thread) the code may use.
    pub(super) cpu: Duration,
    /// Linear memory it may grow to.
    pub(super) memory_bytes: usize,
}

impl WasmEngine {
    /// The initialised, compiled image of a runtime module, made once
    /// per module (by digest) and then shared.
    pub(super) fn runtime_image(
        &self,
        runtime: &RuntimeModule,
    ) -> Result<Arc<RuntimeImage>, String> {
        let (bytes, info) = (&runtime.bytes[..], &runtime.info);
        let digest = runtime.digest.as_bytes();
        if let Some(image) = self.images.lock().expect("runtime images").get(digest) {
            return Ok(image.clone());
        }
        let platform = match info.platform.as_deref() {
            None => String::new(),
            Some("js") => js_platform_bundle(),
            Some(other) => return Err(format!("unknown platform layer `{other}`")),
        };
        let cache = crate::cache::dir().map(|dir| {
            let key = crate::cache::key([
                env!("CARGO_PKG_VERSION").as_bytes(),
                digest,
                platform.as_bytes(),
            ]);
            dir.join(format!("runtime-{}-{key}.wasm", info.name))
        });
        let cached = cache
            .as_deref()
            .and_then(|path| crate::cache::load(path, IMAGE_MAGIC));
        let image = match cached {
            Some(image) => image,
            None => {
                let limits = LoadLimits {
                    cpu: Duration::from_secs(30),
                    memory_bytes: self.max_memory,
                };
                let source = RuntimeSource {
                    name: format!(
                        "islet:platform-{}",
                        info.platform.as_deref().unwrap_or("none")
                    )
                    .into(),
                    text: platform.into_bytes().into(),
                };
                let initialised = self
                    .preinitialise(bytes, source, &limits)
                    .map_err(|e| format!("runtime `{}` failed to initialise: {e}", info.name))?;
                let (_, instrumented) = Wizer::new()
                    .instrument(&initialised)
                    .map_err(|e| format!("{e:#}"))?;
                if let Some(path) = &cache {
                    crate::cache::store(path, IMAGE_MAGIC, &instrumented);
                }
                instrumented
            }
        };
        let image_digest =
            islet_bindings::crypto::digest("SHA-256", &image).expect("SHA-256 is known");
        let module = self.compile(&image, &image_digest)?;
        super::check_exports(&module)?;
        if module.get_export(rt::LOAD_EXPORT).is_none() {
            return Err(format!(
                "not an islet runtime: no `{}` export",
                rt::LOAD_EXPORT
            ));
        }
        let globals = module
            .exports()
            .filter_map(|export| match export.ty() {
                wasmtime::ExternType::Global(g) if g.mutability() == Mutability::Var => {
                    Some(export.name().to_owned())
                }
                _ => None,
            })
            .collect();
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(|e| format!("{e:#}"))?;
        let image = Arc::new(RuntimeImage {
            pre,
            globals,
            baseline: std::sync::OnceLock::new(),
        });
        self.images
            .lock()
            .expect("runtime images")
            .insert(digest.to_vec(), image.clone());
        Ok(image)
    }

    /// Runs the runtime's `islet_runtime_init` and returns Wizer's
    /// snapshot of the result.
    fn preinitialise(
        &self,
        bytes: &[u8],
        source: RuntimeSource,
        limits: &LoadLimits,
    ) -> Result<Vec<u8>, String> {
        let mut wizer = Wizer::new();
        wizer.init_func(rt::INIT_EXPORT);
        let (cx, instrumented) = wizer.instrument(bytes).map_err(|e| format!("{e:#}"))?;
        let module =
            wasmtime::Module::new(&self.engine, &instrumented).map_err(|e| format!("{e:#}"))?;
        let mut store = self.load_store("runtime", source, limits, Default::default())?;
        let linker = self.linker.clone();
        run_loading(&self.engine, move || async move {
            let result: wasmtime::Result<Instance> = async {
                let instance = linker.instantiate_async(&mut store, &module).await?;
                for name in [spec::INITIALIZE_EXPORT, rt::INIT_EXPORT] {
                    if let Ok(f) = instance.get_typed_func::<(), ()>(&mut store, name) {
                        f.call_async(&mut store, ()).await?;
                    }
                }
                Ok(instance)
            }
            .await;
            let instance = load_outcome(&store, result.map_err(|e| format!("{e:#}")))?;
            let mut state = Snapshotter {
                store: &mut store,
                instance,
            };
            wizer
                .snapshot(&cx, &mut state)
                .await
                .map_err(|e| format!("{e:#}"))
        })
    }

    /// Loads a tenant's source into a fresh instance of `image` and keeps
    /// what that changed.
    pub(super) fn snapshot_tenant(
        &self,
        image: &Arc<RuntimeImage>,
        tenant: &str,
        source: RuntimeSource,
        vars: Arc<std::collections::BTreeMap<String, String>>,
        limits: &LoadLimits,
    ) -> Result<TenantImage, String> {
        let baseline = self.baseline(image, tenant, limits)?;
        let mut store = self.load_store(tenant, source, limits, vars)?;
        let image = image.clone();
        run_loading(&self.engine, move || async move {
            let instance = image
                .pre
                .instantiate_async(&mut store)
                .await
                .map_err(|e| format!("{e:#}"))?;
            let load = instance
                .get_typed_func::<(), ()>(&mut store, rt::LOAD_EXPORT)
                .map_err(|e| format!("{e:#}"))?;
            let result = load.call_async(&mut store, ()).await;
            load_outcome(&store, result.map_err(|e| format!("{e:#}")))?;
            Ok(diff(&image, baseline, &mut store, instance))
        })
    }

    /// A fresh instance's memory and globals: what tenant snapshots are
    /// taken against. Read once per image.
    fn baseline<'a>(
        &self,
        image: &'a RuntimeImage,
        tenant: &str,
        limits: &LoadLimits,
    ) -> Result<&'a Baseline, String> {
        if let Some(baseline) = image.baseline.get() {
            return Ok(baseline);
        }
        let empty = RuntimeSource {
            name: "".into(),
            text: Arc::from(&b""[..]),
        };
        let mut store = self.load_store(tenant, empty, limits, Default::default())?;
        let pre = image.pre.clone();
        let names = image.globals.clone();
        let baseline = run_loading(&self.engine, move || async move {
            let instance = pre
                .instantiate_async(&mut store)
                .await
                .map_err(|e| format!("{e:#}"))?;
            let memory = instance
                .get_memory(&mut store, spec::MEMORY_EXPORT)
                .ok_or("the runtime has no memory")?
                .data(&store)
                .to_vec();
            let globals = names
                .iter()
                .map(|name| {
                    let global = instance.get_global(&mut store, name)?;
                    Some(global.get(&mut store))
                })
                .collect();
            Ok(Baseline { memory, globals })
        })?;
        Ok(image.baseline.get_or_init(|| baseline))
    }

    /// A store for loading code: no request, the given source, limits
    /// enforced by [`run_loading`]'s ticker.
    fn load_store(
        &self,
        tenant: &str,
        source: RuntimeSource,
        limits: &LoadLimits,
        vars: Arc<std::collections::BTreeMap<String, String>>,
    ) -> Result<Store<HostState>, String> {
        let mut state = HostState::new(
            tenant.into(),
            vars,
            Arc::new(islet_bindings::policy::FetchPolicy::default()),
            limits.memory_bytes,
            None,
        )?;
        state.source = Some(source);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        let budget = limits.cpu;
        let start = crate::cpu::thread_cpu_now();
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if crate::cpu::thread_cpu_now().saturating_sub(start) > budget {
                return Err(super::CpuExceeded.into());
            }
            Ok(wasmtime::UpdateDeadline::Continue(1))
        });
        Ok(store)
    }

    /// Writes a tenant's snapshot into a fresh instance of its runtime.
    pub(super) fn restore(
        image: &RuntimeImage,
        tenant: &TenantImage,
        store: &mut Store<HostState>,
        instance: &Instance,
    ) -> wasmtime::Result<()> {
        let memory = instance
            .get_memory(&mut *store, spec::MEMORY_EXPORT)
            .ok_or_else(|| wasmtime::Error::msg("the runtime has no memory"))?;
        let grow = tenant.memory_size.saturating_sub(memory.data_size(&*store));
        if grow > 0 {
            memory.grow(&mut *store, grow.div_ceil(65536) as u64)?;
        }
        let data = memory.data_mut(&mut *store);
        for (offset, run) in &tenant.runs {
            data[*offset..*offset + run.len()].copy_from_slice(run);
        }
        for (index, value) in &tenant.globals {
            let name = &image.globals[*index];
            if let Some(global) = instance.get_global(&mut *store, name) {
                global.set(&mut *store, *value)?;
            }
        }
        Ok(())
    }
}

/// Wizer's view of an instance: its exported globals and memories.
struct Snapshotter<'a> {
    store: &'a mut Store<HostState>,
    instance: Instance,
}

impl wasmtime_wizer::InstanceState for Snapshotter<'_> {
    async fn global_get(
        &mut self,
        name: &str,
        _: wasmtime_wizer::ValType,
    ) -> wasmtime_wizer::SnapshotVal {
        use wasmtime_wizer::SnapshotVal as S;
        let global = self
            .instance
            .get_global(&mut *self.store, name)
            .expect("Wizer exported the global");
        match global.get(&mut *self.store) {
            Val::I32(x) => S::I32(x),
            Val::I64(x) => S::I64(x),
            Val::F32(x) => S::F32(x),
            Val::F64(x) => S::F64(x),
            Val::V128(x) => S::V128(x.as_u128()),
            // Wizer refuses reference-typed globals before this point.
            _ => S::I32(0),
        }
    }

    async fn memory_contents(&mut self, name: &str, contents: impl FnOnce(&[u8]) + Send) {
        let memory = self
            .instance
            .get_memory(&mut *self.store, name)
            .expect("Wizer exported the memory");
        contents(memory.data(&*self.store))
    }
}

/// What a load's result and the guest's `fail` calls say, together.
fn load_outcome<T>(store: &Store<HostState>, result: Result<T, String>) -> Result<T, String> {
    let state = store.data();
    if state.limiter.refused {
        return Err(format!(
            "it outgrew its memory limit of {} MiB while loading",
            state.limiter.limit >> 20
        ));
    }
    if let Some(failure) = &state.failure {
        return Err(match failure {
            Failure::Exception(m) | Failure::NotAResponse(m) => m.clone(),
            Failure::Stalled => "its top-level code never finished".into(),
        });
    }
    result.map_err(|e| {
        if e.contains(&super::CpuExceeded.to_string()) {
            "its top-level code exceeded the CPU limit while loading".into()
        } else {
            e
        }
    })
}

/// The bytes and globals in which `loaded` differs from `baseline`.
fn diff(
    image: &RuntimeImage,
    baseline: &Baseline,
    store: &mut Store<HostState>,
    loaded: Instance,
) -> TenantImage {
    let memory = loaded
        .get_memory(&mut *store, spec::MEMORY_EXPORT)
        .expect("checked export");
    let new = memory.data(&*store);
    let old = &baseline.memory[..];
    let mut runs = Vec::new();
    for (i, page) in new.chunks(PAGE).enumerate() {
        let offset = i * PAGE;
        let zeros = [0u8; PAGE];
        let before = old
            .get(offset..offset + page.len())
            .unwrap_or(&zeros[..page.len()]);
        if before != page {
            changed_runs(offset, before, page, &mut runs);
        }
    }
    let memory_size = new.len();
    let mut globals = Vec::new();
    for (index, name) in image.globals.iter().enumerate() {
        let (Some(Some(before)), Some(now)) = (
            baseline.globals.get(index),
            loaded.get_global(&mut *store, name),
        ) else {
            continue;
        };
        let now = now.get(&mut *store);
        if !same(before, &now) {
            globals.push((index, now));
        }
    }
    TenantImage {
        memory_size,
        runs,
        globals,
    }
}

/// Appends the runs of bytes in which `after` differs from `before`
/// (one page at `offset`); runs closer than [`RUN_GAP`] are merged.
fn changed_runs(offset: usize, before: &[u8], after: &[u8], runs: &mut Vec<(usize, Box<[u8]>)>) {
    let mut i = 0;
    while i < after.len() {
        if before[i] == after[i] {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i + 1;
        let mut j = end;
        while j < after.len() && j - end < RUN_GAP {
            if before[j] != after[j] {
                end = j + 1;
            }
            j += 1;
        }
        runs.push((offset + start, Box::from(&after[start..end])));
        i = end;
    }
}

fn same(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::I32(a), Val::I32(b)) => a == b,
        (Val::I64(a), Val::I64(b)) => a == b,
        (Val::F32(a), Val::F32(b)) => a == b,
        (Val::F64(a), Val::F64(b)) => a == b,
        (Val::V128(a), Val::V128(b)) => a.as_u128() == b.as_u128(),
        _ => false,
    }
}

/// The JS platform layer as one script whose value is the array of its
/// files' functions, in order: what a runtime whose platform is `js` is
/// given while it initialises.
pub fn js_platform_bundle() -> String {
    let mut bundle = String::from("[\n");
    for (name, source) in islet_bindings::js::PLATFORM {
        bundle.push_str(&format!("// {name}\n"));
        bundle.push_str(source.trim_end().trim_end_matches(';'));
        bundle.push_str(",\n");
    }
    bundle.push(']');
    bundle
}

/// Runs loading code on a thread of its own, with a current-thread tokio
/// runtime (callers may be inside one already) and a ticker that bumps
/// the engine's epoch so the store's CPU budget is checked.
fn run_loading<F, Fut, T>(engine: &wasmtime::Engine, work: F) -> Result<T, String>
where
    F: FnOnce() -> Fut + Send,
    Fut: std::future::Future<Output = Result<T, String>>,
    T: Send,
{
    let (done, ticks) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|scope| {
        let ticker = scope.spawn(move || {
            // Wakes every 5 ms, and at once when `done` is dropped.
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                ticks.recv_timeout(Duration::from_millis(5))
            {
                engine.increment_epoch();
            }
        });
        let result = scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                runtime.block_on(work())
            })
            .join()
            .unwrap_or_else(|_| Err("the loading thread panicked".into()));
        drop(done);
        let _ = ticker.join();
        result
    })
}
