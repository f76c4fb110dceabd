//! Core WebAssembly tenants on wasmtime, through the islet ABI.
//!
//! A module is compiled once, when its tenant is loaded, and linked
//! against the host functions into an [`InstancePre`]: unknown imports and
//! missing exports fail then, not on the first request. Tenants that run
//! the same module (by content) share the compiled copy, and the compiled
//! code is kept in islet's on-disk cache ([`crate::cache`]), so a restart
//! loads it instead of compiling again. Each worker thread
//! that serves the tenant creates its own [`Store`] and instance from it.
//!
//! A core instance is not re-entrant, so one [`WasmIsolate`] serves one
//! request at a time; concurrent requests to it wait for the store's lock.
//! Host functions that wait (writing the body to a slow client) are async:
//! the instance runs on a fiber and suspends instead of blocking the
//! worker thread.
//!
//! After a trap the instance is discarded (its memory may be half
//! written); the next request starts a fresh one.
//!
//! **Limits.** CPU: the watchdog bumps the engine's epoch when a request
//! overruns its budget; every store's epoch callback then reads its own
//! request's meter and traps only if that request is over. Memory: a
//! `ResourceLimiter` refuses growth past `memory_mb`, so `memory.grow`
//! returns -1 inside the guest as the spec says; if the guest then traps,
//! the request's outcome is `exceeded-memory`.
//!
//! The ABI itself is documented in `bindings/ABI.md` and implemented in
//! [`abi`]; the scoped WASI preview 1 next to it is in [`wasi`]. Tenants
//! on a shared language runtime (QuickJS, Lua) are loaded by [`runtime`]:
//! one initialised, compiled image per runtime, and a snapshot of what
//! each tenant's load changed.

mod abi;
mod runtime;
mod wasi;

pub use self::runtime::{RuntimeInfo, identify as identify_runtime, js_platform_bundle};

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use islet_bindings::abi as spec;
use islet_bindings::policy::FetchPolicy;
use wasmtime::error::Context as _;
use wasmtime::{
    Config, Engine, ExternType, InstanceAllocationStrategy, InstancePre, Linker, Module,
    PoolingAllocationConfig, ResourceLimiter, Store, TypedFunc, UpdateDeadline,
};

use self::abi::{CallState, Failure, GuestError, RuntimeSource};
use self::runtime::{LoadLimits, RuntimeImage, TenantImage};
use self::wasi::Wasi;
use super::{
    EngineKind, HandlerError, Isolate, LocalBoxFuture, Program, ResponseSink, Startup,
    TenantRequest,
};
use crate::cpu::{CpuMeter, Interrupt};
use crate::tenant::Tenant;

/// The shared wasmtime engine and the islet ABI's host functions.
#[derive(Clone)]
pub struct WasmEngine {
    engine: Engine,
    linker: Arc<Linker<HostState>>,
    /// Modules compiled so far, by the SHA-256 of their binary: tenants
    /// that run the same module share one compiled copy.
    compiled: Arc<Mutex<HashMap<Vec<u8>, InstancePre<HostState>>>>,
    /// The largest memory an instance may have.
    max_memory: usize,
    /// Instances that may be live at once.
    slots: u32,
    /// Language runtimes initialised so far, by the SHA-256 of their
    /// module.
    images: Arc<Mutex<HashMap<Vec<u8>, Arc<RuntimeImage>>>>,
}

impl WasmEngine {
    /// Creates the engine and links the ABI, with room for `instances`
    /// live instances whose memories grow to at most `max_memory_mb`.
    ///
    /// Instances come from wasmtime's pooling allocator: their memories
    /// are slots reserved up front (4 GiB of address space each for pools
    /// of up to 2,048, so that compiled code needs no bounds checks;
    /// nothing is committed until used) and reused after an instance ends, and a module's initial
    /// memory is mapped copy-on-write from its image, so instances of one
    /// module, and the tenants of one language runtime, share those pages
    /// until they write them.
    pub fn new(instances: u32, max_memory_mb: u64) -> wasmtime::Result<WasmEngine> {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_core_instances(instances)
            .total_memories(instances)
            .total_tables(instances)
            .total_stacks(instances)
            // Interpreters have large function tables.
            .table_elements(100_000)
            .max_memory_size(usize::try_from(max_memory_mb << 20).unwrap_or(usize::MAX));
        let mut config = Config::new();
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        config.epoch_interruption(true);
        if u64::from(instances) > UNCHECKED_SLOTS {
            // 4 GiB per slot for this many would not reliably find room
            // in a process's 128 TiB of address space: reserve only the
            // memory limit, and let compiled code check bounds.
            let reservation = (max_memory_mb << 20).next_multiple_of(64 << 20);
            config.memory_reservation(reservation);
            config.memory_reservation_for_growth(0);
        }
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        config.memory_init_cow(true);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        abi::define_abi(&mut linker)?;
        abi::define_runtime_abi(&mut linker)?;
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |state: &mut HostState| {
            &mut state.wasi.ctx
        })?;
        Ok(WasmEngine {
            engine,
            linker: Arc::new(linker),
            compiled: Arc::default(),
            max_memory: usize::try_from(max_memory_mb << 20).unwrap_or(usize::MAX),
            slots: instances,
            images: Arc::default(),
        })
    }

    /// Compiles a module (binary, or text when `is_text`) and checks its
    /// shape against the ABI.
    pub fn load(&self, bytes: &[u8], is_text: bool) -> Result<WasmProgram, String> {
        let binary;
        let bytes = if is_text {
            let text = std::str::from_utf8(bytes).map_err(|_| "the .wat file is not UTF-8")?;
            binary = wat::parse_str(text).map_err(|e| e.to_string().replace('\n', " "))?;
            &binary[..]
        } else {
            if !bytes.starts_with(b"\0asm") {
                return Err("not a WebAssembly module (no `\\0asm` header)".into());
            }
            bytes
        };
        let key = islet_bindings::crypto::digest("SHA-256", bytes).expect("SHA-256 is known");
        if let Some(pre) = self.compiled.lock().expect("module cache").get(&key) {
            return Ok(WasmProgram {
                pre: pre.clone(),
                snapshot: None,
                slots: self.slots,
            });
        }
        let module = self.compile(bytes, &key)?;
        check_exports(&module)?;
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(|e| format!("{e:#}"))?;
        self.compiled
            .lock()
            .expect("module cache")
            .insert(key, pre.clone());
        Ok(WasmProgram {
            pre,
            snapshot: None,
            slots: self.slots,
        })
    }

    /// Loads a tenant's source on the language runtime `runtime`:
    /// initialises the runtime once (it is then shared), runs the tenant's
    /// top level once under its CPU and memory limits, and keeps the
    /// result for every cold start.
    pub fn load_on_runtime(
        &self,
        runtime: &crate::runtime::RuntimeModule,
        tenant: &RuntimeTenant<'_>,
    ) -> Result<WasmProgram, String> {
        let RuntimeTenant {
            name: tenant,
            source_name,
            source,
            vars,
            limits,
        } = *tenant;
        let image = self.runtime_image(runtime)?;
        let limits = LoadLimits {
            cpu: std::time::Duration::from_millis(limits.cpu_ms),
            memory_bytes: usize::try_from(limits.memory_mb.saturating_mul(1 << 20))
                .unwrap_or(usize::MAX),
        };
        let source = RuntimeSource {
            name: source_name.into(),
            text: source.into(),
        };
        let snapshot =
            self.snapshot_tenant(&image, tenant, source, Arc::new(vars.clone()), &limits)?;
        tracing::debug!(
            tenant,
            runtime = %runtime.info.name,
            snapshot_bytes = snapshot.bytes(),
            "tenant loaded on a runtime"
        );
        Ok(WasmProgram {
            pre: image.pre.clone(),
            snapshot: Some((image, Arc::new(snapshot))),
            slots: self.slots,
        })
    }
}

impl WasmEngine {
    /// Compiles `bytes` (whose SHA-256 is `digest`), or loads the code
    /// compiled by an earlier run from islet's on-disk cache.
    fn compile(&self, bytes: &[u8], digest: &[u8]) -> Result<Module, String> {
        let path = self.cache_path(digest);
        if let Some(path) = &path
            && let Some(compiled) = crate::cache::load(path, COMPILED_MAGIC)
        {
            // SAFETY: `Module::deserialize` runs the machine code it is
            // given. This is code islet itself compiled and serialised:
            // the cache directory is private to this user, and the file's
            // SHA-256 matched what was written (`cache::load`); the key
            // includes islet's version and the engine's compatibility
            // hash, and wasmtime checks its own header too.
            match unsafe { Module::deserialize(&self.engine, &compiled) } {
                Ok(module) => {
                    tracing::debug!(path = %path.display(), "compiled module loaded from the cache");
                    return Ok(module);
                }
                Err(error) => {
                    tracing::debug!(%error, path = %path.display(), "ignoring a cached module");
                }
            }
        }
        let module = Module::new(&self.engine, bytes).map_err(|e| format!("{e:#}"))?;
        if let Some(path) = &path
            && let Ok(compiled) = module.serialize()
        {
            crate::cache::store(path, COMPILED_MAGIC, &compiled);
        }
        Ok(module)
    }

    /// Where the compiled code of the module with SHA-256 `digest` is
    /// cached for this build of islet and these engine settings.
    fn cache_path(&self, digest: &[u8]) -> Option<std::path::PathBuf> {
        use std::hash::{Hash, Hasher};
        let mut settings = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut settings);
        let settings = settings.finish().to_le_bytes();
        let key = crate::cache::key([
            env!("CARGO_PKG_VERSION").as_bytes(),
            settings.as_slice(),
            digest,
        ]);
        Some(crate::cache::dir()?.join(format!("wasm-{key}.cwasm")))
    }
}

/// Pools up to this many instances reserve 4 GiB of address space per
/// memory, so that compiled code needs no bounds checks; larger pools
/// reserve the memory limit only.
const UNCHECKED_SLOTS: u64 = 2048;

/// The first bytes of a cached compiled module.
const COMPILED_MAGIC: &[u8; 8] = b"ISLETCW1";

fn check_exports(module: &Module) -> Result<(), String> {
    match module.get_export(spec::HANDLER_EXPORT) {
        Some(ExternType::Func(f)) if f.params().len() == 0 && f.results().len() == 0 => {}
        Some(_) => {
            return Err(format!(
                "export `{}` must be a function of type `() -> ()`",
                spec::HANDLER_EXPORT
            ));
        }
        None => {
            return Err(format!(
                "the module does not export `{}`",
                spec::HANDLER_EXPORT
            ));
        }
    }
    match module.get_export(spec::MEMORY_EXPORT) {
        Some(ExternType::Memory(_)) => {}
        _ => {
            return Err(format!(
                "the module does not export a memory named `{}`",
                spec::MEMORY_EXPORT
            ));
        }
    }
    if let Some(init) = module.get_export(spec::INITIALIZE_EXPORT) {
        let ok =
            matches!(&init, ExternType::Func(f) if f.params().len() == 0 && f.results().len() == 0);
        if !ok {
            return Err(format!(
                "export `{}` must be a function of type `() -> ()`",
                spec::INITIALIZE_EXPORT
            ));
        }
    }
    Ok(())
}

/// A tenant to load on a language runtime.
#[derive(Clone, Copy)]
pub struct RuntimeTenant<'a> {
    /// The tenant's name.
    pub name: &'a str,
    /// Its source file's name, for messages.
    pub source_name: &'a str,
    /// Its source.
    pub source: &'a [u8],
    /// Its `vars`.
    pub vars: &'a BTreeMap<String, String>,
    /// Its limits, which its top-level code runs under too.
    pub limits: crate::config::Limits,
}

/// A compiled, linked module, and for a tenant on a language runtime,
/// the snapshot of its loaded source.
pub struct WasmProgram {
    pre: InstancePre<HostState>,
    snapshot: Option<(Arc<RuntimeImage>, Arc<TenantImage>)>,
    /// The engine's instance slots, for messages.
    slots: u32,
}

impl Program for WasmProgram {
    fn engine(&self) -> EngineKind {
        EngineKind::Wasm
    }

    fn instantiate(
        &self,
        tenant: &Tenant,
        startup: &Startup,
    ) -> Result<Rc<dyn Isolate>, HandlerError> {
        let limit_mb = tenant.limits().memory_mb;
        let limit = usize::try_from(limit_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
        let state = HostState::new(
            tenant.name().into(),
            tenant.vars_arc(),
            tenant.fetch_policy().clone(),
            limit,
            tenant.dir(),
        )
        .map_err(HandlerError::Startup)?;
        let engine = self.pre.module().engine();
        let mut store = Store::new(engine, state);
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|ctx| {
            let over = ctx.data().meter.as_ref().is_some_and(|m| m.check());
            if over {
                return Err(CpuExceeded.into());
            }
            Ok(UpdateDeadline::Continue(1))
        });
        let interrupt: Arc<dyn Interrupt> = Arc::new(EpochInterrupt(engine.clone()));
        startup.interrupt.set(interrupt.clone());
        Ok(Rc::new(WasmIsolate {
            interrupt,
            limit_mb,
            pre: self.pre.clone(),
            snapshot: self.snapshot.clone(),
            slots: self.slots,
            inner: tokio::sync::Mutex::new(Inner { store, live: None }),
            memory: std::cell::Cell::new(0),
        }))
    }
}

/// Stops running wasm: every store's epoch callback then checks its own
/// request's meter.
struct EpochInterrupt(Engine);

impl Interrupt for EpochInterrupt {
    fn interrupt(&self) {
        self.0.increment_epoch();
    }
}

/// Refuses memory and table growth past the tenant's limit.
struct MemoryLimiter {
    limit: usize,
    /// Whether a growth was refused during the current request.
    refused: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = desired <= self.limit;
        self.refused |= !ok;
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // A table element is a pointer; count it against the same limit.
        let ok = desired.saturating_mul(8) <= self.limit;
        self.refused |= !ok;
        Ok(ok)
    }
}

/// The request's CPU budget ran out (raised by the epoch callback).
#[derive(Debug)]
struct CpuExceeded;

impl fmt::Display for CpuExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the request exceeded its CPU limit")
    }
}

impl std::error::Error for CpuExceeded {}

/// One instance of a tenant's module, with its store.
pub struct WasmIsolate {
    interrupt: Arc<dyn Interrupt>,
    limit_mb: u64,
    pre: InstancePre<HostState>,
    snapshot: Option<(Arc<RuntimeImage>, Arc<TenantImage>)>,
    slots: u32,
    inner: tokio::sync::Mutex<Inner>,
    /// Linear memory size after the last request.
    memory: std::cell::Cell<usize>,
}

struct Inner {
    store: Store<HostState>,
    /// The instance's memory and handler, once instantiated.
    live: Option<(wasmtime::Memory, TypedFunc<(), ()>)>,
}

impl Isolate for WasmIsolate {
    fn handle(
        self: Rc<Self>,
        request: TenantRequest,
        sink: ResponseSink,
        meter: Arc<CpuMeter>,
    ) -> LocalBoxFuture<Result<(), HandlerError>> {
        Box::pin(async move {
            let mut inner = self.inner.lock().await;
            let inner = &mut *inner;
            let state = inner.store.data_mut();
            state.meter = Some(meter.clone());
            state.limiter.refused = false;

            // Instantiate on first use: instantiation may run the start
            // function, which needs the async machinery of a request.
            let (memory, handler) = match &inner.live {
                Some(live) => live.clone(),
                None => {
                    let started = instantiate(&self.pre, self.snapshot.as_ref(), &mut inner.store);
                    let live = match started.await {
                        Ok(live) => live,
                        Err(error) => return Err(self.classify(error, &meter, &inner.store)),
                    };
                    inner.live = Some(live.clone());
                    live
                }
            };

            let state = inner.store.data_mut();
            state.call = Some(CallState::new(request, sink));
            state.wasi.clock.advance();
            let result = handler.call_async(&mut inner.store, ()).await;
            let state = inner.store.data_mut();
            state.wasi.flush_output();
            let call = state.call.take().expect("call state");
            let failure = state.failure.take();
            self.memory.set(memory.data_size(&inner.store));

            match (result, failure) {
                (Ok(()), None) => call.finish().map_err(|_| HandlerError::ClientGone),
                (Ok(()), Some(failure)) => {
                    if inner.store.data().limiter.refused {
                        // The runtime caught its own out-of-memory error;
                        // its heap is full, so start afresh.
                        inner.live = None;
                        return Err(HandlerError::ExceededMemory {
                            limit_mb: self.limit_mb,
                        });
                    }
                    Err(match failure {
                        Failure::Exception(message) => HandlerError::Exception(message),
                        Failure::NotAResponse(what) => HandlerError::NotAResponse(what),
                        Failure::Stalled => HandlerError::Stalled,
                    })
                }
                (Err(error), failure) => {
                    // The instance may be half-way through anything.
                    inner.live = None;
                    Err(
                        match (self.classify(error, &meter, &inner.store), failure) {
                            // A runtime that reports an error and then traps
                            // (Lua, which cannot unwind) said what went wrong.
                            (HandlerError::Trap(_), Some(Failure::Exception(message))) => {
                                HandlerError::Exception(message)
                            }
                            (classified, _) => classified,
                        },
                    )
                }
            }
        })
    }

    fn interrupt(&self) -> Arc<dyn Interrupt> {
        self.interrupt.clone()
    }

    fn memory_bytes(&self) -> usize {
        self.memory.get()
    }
}

impl WasmIsolate {
    /// Names what stopped the guest: a limit, a misuse of the ABI, or a
    /// trap of its own.
    fn classify(
        &self,
        error: wasmtime::Error,
        meter: &CpuMeter,
        store: &Store<HostState>,
    ) -> HandlerError {
        if error.downcast_ref::<CpuExceeded>().is_some() || meter.exceeded() {
            return HandlerError::ExceededCpu {
                used: meter.used(),
                limit: meter.budget(),
            };
        }
        if error
            .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
            .is_some()
        {
            return HandlerError::NoCapacity(format!(
                "no room for another WebAssembly instance: all {} are live \
                 (raise `server.wasm_instances`, or set `server.memory_target_mb` so that \
                 idle ones are evicted)",
                self.slots
            ));
        }
        if store.data().limiter.refused {
            return HandlerError::ExceededMemory {
                limit_mb: self.limit_mb,
            };
        }
        if let Some(guest) = error.downcast_ref::<GuestError>() {
            return HandlerError::Guest(guest.0.clone());
        }
        HandlerError::Trap(format!("{error:?}"))
    }
}

async fn instantiate(
    pre: &InstancePre<HostState>,
    snapshot: Option<&(Arc<RuntimeImage>, Arc<TenantImage>)>,
    store: &mut Store<HostState>,
) -> wasmtime::Result<(wasmtime::Memory, TypedFunc<(), ()>)> {
    let instance = pre.instantiate_async(&mut *store).await?;
    if let Some((image, tenant)) = snapshot {
        WasmEngine::restore(image, tenant, store, &instance)?;
        let resume = islet_bindings::abi::runtime::RESUME_EXPORT;
        if let Ok(resume) = instance.get_typed_func::<(), ()>(&mut *store, resume) {
            resume.call_async(&mut *store, ()).await?;
        }
    }
    let memory = instance
        .get_memory(&mut *store, spec::MEMORY_EXPORT)
        .context("no memory export")?;
    let handler = instance.get_typed_func::<(), ()>(&mut *store, spec::HANDLER_EXPORT)?;
    if let Ok(init) = instance.get_typed_func::<(), ()>(&mut *store, spec::INITIALIZE_EXPORT) {
        init.call_async(&mut *store, ()).await?;
    }
    Ok((memory, handler))
}

/// Per-store host state.
pub struct HostState {
    tenant: Arc<str>,
    vars: Arc<BTreeMap<String, String>>,
    /// Where `fetch` may go.
    policy: Arc<FetchPolicy>,
    /// Largest outbound response body, in bytes.
    max_fetch_body: usize,
    /// The request being handled.
    call: Option<CallState>,
    /// The running request's CPU meter.
    meter: Option<Arc<CpuMeter>>,
    limiter: MemoryLimiter,
    wasi: Wasi,
    /// Why the last failed call failed (`last_error`).
    last_error: String,
    /// The encoded result of the last `op`.
    op_result: Vec<u8>,
    /// How the guest said the running request (or load) failed.
    failure: Option<Failure>,
    /// For a language runtime while it initialises or loads: its source.
    source: Option<RuntimeSource>,
}

impl HostState {
    fn new(
        tenant: Arc<str>,
        vars: Arc<BTreeMap<String, String>>,
        policy: Arc<FetchPolicy>,
        memory_limit: usize,
        dir: Option<&crate::config::DirGrant>,
    ) -> Result<HostState, String> {
        let wasi = Wasi::new(&tenant, dir)?;
        Ok(HostState {
            tenant,
            vars,
            policy,
            max_fetch_body: memory_limit,
            call: None,
            meter: None,
            limiter: MemoryLimiter {
                limit: memory_limit,
                refused: false,
            },
            wasi,
            last_error: String::new(),
            op_result: Vec::new(),
            failure: None,
            source: None,
        })
    }
}
