//! Core WebAssembly tenants on wasmtime, through the islet ABI.
//!
//! A module is compiled once, when its tenant is loaded, and linked
//! against the host functions into an [`InstancePre`]: unknown imports and
//! missing exports fail then, not on the first request. Each worker thread
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
//! The ABI itself is documented in `bindings/ABI.md`.

use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use islet_bindings::abi::{self, code, import};
use wasmtime::bail;
use wasmtime::error::Context as _;
use wasmtime::{
    Caller, Config, Engine, Extern, ExternType, InstancePre, Linker, Module, ResourceLimiter,
    Store, TypedFunc, UpdateDeadline,
};

use super::{
    EngineKind, HandlerError, Isolate, LocalBoxFuture, Program, RequestBody, ResponseHead,
    ResponseSink, SinkError, Startup, TenantRequest,
};
use crate::cpu::{CpuMeter, Interrupt};
use crate::tenant::Tenant;

/// The shared wasmtime engine and the islet ABI's host functions.
#[derive(Clone)]
pub struct WasmEngine {
    engine: Engine,
    linker: Arc<Linker<HostState>>,
}

impl WasmEngine {
    /// Creates the engine and links the ABI.
    pub fn new() -> wasmtime::Result<WasmEngine> {
        let mut config = Config::new();
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        config.epoch_interruption(true);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        define_abi(&mut linker)?;
        Ok(WasmEngine {
            engine,
            linker: Arc::new(linker),
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
        let module = Module::new(&self.engine, bytes).map_err(|e| format!("{e:#}"))?;
        check_exports(&module)?;
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(|e| format!("{e:#}"))?;
        Ok(WasmProgram { pre })
    }
}

fn check_exports(module: &Module) -> Result<(), String> {
    match module.get_export(abi::HANDLER_EXPORT) {
        Some(ExternType::Func(f)) if f.params().len() == 0 && f.results().len() == 0 => {}
        Some(_) => {
            return Err(format!(
                "export `{}` must be a function of type `() -> ()`",
                abi::HANDLER_EXPORT
            ));
        }
        None => {
            return Err(format!(
                "the module does not export `{}`",
                abi::HANDLER_EXPORT
            ));
        }
    }
    match module.get_export(abi::MEMORY_EXPORT) {
        Some(ExternType::Memory(_)) => {}
        _ => {
            return Err(format!(
                "the module does not export a memory named `{}`",
                abi::MEMORY_EXPORT
            ));
        }
    }
    if let Some(init) = module.get_export(abi::INITIALIZE_EXPORT) {
        let ok =
            matches!(&init, ExternType::Func(f) if f.params().len() == 0 && f.results().len() == 0);
        if !ok {
            return Err(format!(
                "export `{}` must be a function of type `() -> ()`",
                abi::INITIALIZE_EXPORT
            ));
        }
    }
    Ok(())
}

/// A compiled, linked module.
pub struct WasmProgram {
    pre: InstancePre<HostState>,
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
        let state = HostState {
            tenant: tenant.name().into(),
            vars: tenant.vars_arc(),
            call: None,
            meter: None,
            limiter: MemoryLimiter {
                limit: usize::try_from(limit_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
                refused: false,
            },
        };
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
                    let live = match instantiate(&self.pre, &mut inner.store).await {
                        Ok(live) => live,
                        Err(error) => return Err(self.classify(error, &meter, &inner.store)),
                    };
                    inner.live = Some(live.clone());
                    live
                }
            };

            inner.store.data_mut().call = Some(CallState {
                request,
                pending: Bytes::new(),
                status: StatusCode::OK,
                headers: HeaderMap::new(),
                sink,
                head_sent: false,
            });
            let result = handler.call_async(&mut inner.store, ()).await;
            let call = inner.store.data_mut().call.take().expect("call state");
            self.memory.set(memory.data_size(&inner.store));

            match result {
                Ok(()) if call.head_sent => {
                    call.sink.finish();
                    Ok(())
                }
                Ok(()) => {
                    let head = ResponseHead {
                        status: call.status,
                        headers: call.headers,
                    };
                    match call.sink.send_head(head) {
                        Ok(()) => {
                            call.sink.finish();
                            Ok(())
                        }
                        Err(_) => Err(HandlerError::ClientGone),
                    }
                }
                Err(error) => {
                    // The instance may be half-way through anything.
                    inner.live = None;
                    Err(self.classify(error, &meter, &inner.store))
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
    store: &mut Store<HostState>,
) -> wasmtime::Result<(wasmtime::Memory, TypedFunc<(), ()>)> {
    let instance = pre.instantiate_async(&mut *store).await?;
    let memory = instance
        .get_memory(&mut *store, abi::MEMORY_EXPORT)
        .context("no memory export")?;
    let handler = instance.get_typed_func::<(), ()>(&mut *store, abi::HANDLER_EXPORT)?;
    if let Ok(init) = instance.get_typed_func::<(), ()>(&mut *store, abi::INITIALIZE_EXPORT) {
        init.call_async(&mut *store, ()).await?;
    }
    Ok((memory, handler))
}

/// The guest broke the ABI's rules; fails the request.
#[derive(Debug)]
struct GuestError(String);

impl fmt::Display for GuestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GuestError {}

/// Per-store host state.
pub struct HostState {
    tenant: Arc<str>,
    vars: Arc<BTreeMap<String, String>>,
    call: Option<CallState>,
    /// The running request's CPU meter.
    meter: Option<Arc<CpuMeter>>,
    limiter: MemoryLimiter,
}

/// The request being handled and the response being built.
struct CallState {
    request: TenantRequest,
    /// Body bytes received but not yet read by the guest.
    pending: Bytes,
    status: StatusCode,
    headers: HeaderMap,
    sink: ResponseSink,
    head_sent: bool,
}

impl CallState {
    fn head(&mut self) -> ResponseHead {
        ResponseHead {
            status: self.status,
            headers: std::mem::take(&mut self.headers),
        }
    }
}

fn call_state<'a>(
    caller: &'a mut Caller<'_, HostState>,
    f: &str,
) -> wasmtime::Result<&'a mut CallState> {
    caller
        .data_mut()
        .call
        .as_mut()
        .ok_or_else(|| GuestError(format!("`{f}` called outside of a request")).into())
}

fn memory(caller: &mut Caller<'_, HostState>) -> wasmtime::Result<wasmtime::Memory> {
    match caller.get_export(abi::MEMORY_EXPORT) {
        Some(Extern::Memory(m)) => Ok(m),
        _ => bail!(GuestError("the module has no memory export".into())),
    }
}

/// Copies guest bytes out, checking bounds.
fn read_guest(
    caller: &mut Caller<'_, HostState>,
    f: &str,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<Vec<u8>> {
    let mem = memory(caller)?;
    let (start, len) = (ptr as u32 as usize, len as u32 as usize);
    mem.data(&caller)
        .get(start..start.saturating_add(len))
        .map(<[u8]>::to_vec)
        .ok_or_else(|| {
            GuestError(format!(
                "`{f}` was given an out-of-bounds buffer (ptr={start}, len={len})"
            ))
            .into()
        })
}

fn read_guest_str(
    caller: &mut Caller<'_, HostState>,
    f: &str,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<Option<String>> {
    Ok(String::from_utf8(read_guest(caller, f, ptr, len)?).ok())
}

/// Copies `value` into the guest's `(buf, cap)`; returns the full length.
fn write_guest(
    caller: &mut Caller<'_, HostState>,
    f: &str,
    buf: i32,
    cap: i32,
    value: &[u8],
) -> wasmtime::Result<i32> {
    let mem = memory(caller)?;
    let (start, cap) = (buf as u32 as usize, cap as u32 as usize);
    let n = value.len().min(cap);
    let dest = mem
        .data_mut(&mut *caller)
        .get_mut(start..start.saturating_add(cap))
        .ok_or_else(|| {
            GuestError(format!(
                "`{f}` was given an out-of-bounds buffer (ptr={start}, len={cap})"
            ))
        })?;
    dest[..n].copy_from_slice(&value[..n]);
    i32::try_from(value.len()).map_err(|_| GuestError(format!("`{f}`: value too large")).into())
}

fn define_abi(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let m = abi::IMPORT_MODULE;

    linker.func_wrap(
        m,
        import::REQUEST_METHOD,
        |mut caller: Caller<'_, HostState>, buf: i32, cap: i32| {
            let f = import::REQUEST_METHOD;
            let method = call_state(&mut caller, f)?
                .request
                .method
                .as_str()
                .to_owned();
            write_guest(&mut caller, f, buf, cap, method.as_bytes())
        },
    )?;

    linker.func_wrap(
        m,
        import::REQUEST_URL,
        |mut caller: Caller<'_, HostState>, buf: i32, cap: i32| {
            let f = import::REQUEST_URL;
            let url = call_state(&mut caller, f)?.request.url.clone();
            write_guest(&mut caller, f, buf, cap, url.as_bytes())
        },
    )?;

    linker.func_wrap(
        m,
        import::REQUEST_HEADERS,
        |mut caller: Caller<'_, HostState>, buf: i32, cap: i32| {
            let f = import::REQUEST_HEADERS;
            let mut text = Vec::new();
            for (name, value) in &call_state(&mut caller, f)?.request.headers {
                text.extend_from_slice(name.as_str().as_bytes());
                text.extend_from_slice(b": ");
                text.extend_from_slice(value.as_bytes());
                text.push(b'\n');
            }
            write_guest(&mut caller, f, buf, cap, &text)
        },
    )?;

    linker.func_wrap(
        m,
        import::REQUEST_HEADER,
        |mut caller: Caller<'_, HostState>, name: i32, name_len: i32, buf: i32, cap: i32| {
            let f = import::REQUEST_HEADER;
            let Some(name) = read_guest_str(&mut caller, f, name, name_len)? else {
                return Ok(code::ABSENT);
            };
            let headers = &call_state(&mut caller, f)?.request.headers;
            let values: Vec<&[u8]> = headers
                .get_all(name.to_ascii_lowercase().as_str())
                .iter()
                .map(HeaderValue::as_bytes)
                .collect();
            if values.is_empty() {
                return Ok(code::ABSENT);
            }
            let joined = values.join(&b", "[..]);
            write_guest(&mut caller, f, buf, cap, &joined)
        },
    )?;

    linker.func_wrap_async(
        m,
        import::REQUEST_BODY_READ,
        |mut caller: Caller<'_, HostState>, (buf, cap): (i32, i32)| {
            Box::new(async move {
                let f = import::REQUEST_BODY_READ;
                // Refill from the request body when the guest has read
                // everything received so far; a streamed body waits here.
                let call = call_state(&mut caller, f)?;
                if call.pending.is_empty() {
                    call.pending = match &mut call.request.body {
                        RequestBody::Full(bytes) => std::mem::take(bytes),
                        RequestBody::Stream(chunks) => match chunks.recv().await {
                            Some(Ok(chunk)) => chunk,
                            Some(Err(reason)) => bail!("the request body failed: {reason}"),
                            None => Bytes::new(),
                        },
                    };
                }
                let n = call.pending.len().min(cap as u32 as usize);
                let chunk = call.pending.split_to(n);
                write_guest(&mut caller, f, buf, n as i32, &chunk)?;
                Ok(n as i32)
            })
        },
    )?;

    linker.func_wrap(
        m,
        import::RESPONSE_SET_STATUS,
        |mut caller: Caller<'_, HostState>, status: i32| {
            let call = call_state(&mut caller, import::RESPONSE_SET_STATUS)?;
            if call.head_sent {
                return Ok(code::HEAD_SENT);
            }
            match u16::try_from(status)
                .ok()
                .and_then(|s| StatusCode::from_u16(s).ok())
            {
                Some(s) => {
                    call.status = s;
                    Ok(0)
                }
                None => Ok(code::INVALID),
            }
        },
    )?;

    linker.func_wrap(
        m,
        import::RESPONSE_ADD_HEADER,
        |mut caller: Caller<'_, HostState>,
         name: i32,
         name_len: i32,
         value: i32,
         value_len: i32| {
            let f = import::RESPONSE_ADD_HEADER;
            let name = read_guest(&mut caller, f, name, name_len)?;
            let value = read_guest(&mut caller, f, value, value_len)?;
            let call = call_state(&mut caller, f)?;
            if call.head_sent {
                return Ok(code::HEAD_SENT);
            }
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(&name),
                HeaderValue::from_bytes(&value),
            ) else {
                return Ok(code::INVALID);
            };
            call.headers.append(name, value);
            Ok(0)
        },
    )?;

    linker.func_wrap_async(
        m,
        import::RESPONSE_WRITE,
        |mut caller: Caller<'_, HostState>, (buf, len): (i32, i32)| {
            Box::new(async move {
                let f = import::RESPONSE_WRITE;
                let chunk = Bytes::from(read_guest(&mut caller, f, buf, len)?);
                let call = call_state(&mut caller, f)?;
                let sink = call.sink.clone();
                if !call.head_sent {
                    call.head_sent = true;
                    let head = call.head();
                    if let Err(SinkError::Closed) = sink.send_head(head) {
                        return Ok(code::CLOSED);
                    }
                }
                match sink.send_chunk(chunk).await {
                    Ok(()) => Ok(0),
                    Err(_) => Ok(code::CLOSED),
                }
            })
        },
    )?;

    linker.func_wrap(
        m,
        import::ENV_GET,
        |mut caller: Caller<'_, HostState>, name: i32, name_len: i32, buf: i32, cap: i32| {
            let f = import::ENV_GET;
            let Some(name) = read_guest_str(&mut caller, f, name, name_len)? else {
                return Ok(code::ABSENT);
            };
            let Some(value) = caller.data().vars.get(&name).cloned() else {
                return Ok(code::ABSENT);
            };
            write_guest(&mut caller, f, buf, cap, value.as_bytes())
        },
    )?;

    linker.func_wrap(
        m,
        import::LOG,
        |mut caller: Caller<'_, HostState>, level: i32, msg: i32, len: i32| {
            let bytes = read_guest(&mut caller, import::LOG, msg, len)?;
            let text = islet_bindings::text::utf8_decode_lossy(&bytes);
            let level = islet_bindings::log::Level::from_i32(level);
            islet_bindings::log::tenant_log(&caller.data().tenant, level, &text);
            Ok(())
        },
    )?;

    Ok(())
}
