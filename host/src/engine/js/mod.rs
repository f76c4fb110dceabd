//! JavaScript module workers on V8.
//!
//! A tenant is an ES module whose default export has a `fetch(request,
//! env, ctx)` method. Each tenant gets its own isolate, so tenants never
//! share globals or heaps.
//!
//! **Several isolates on one thread.** `v8::Isolate::new` enters the new
//! isolate on its thread, and V8 keeps entered isolates on a per-thread
//! stack. A worker thread hosts many tenants, so an isolate here is exited
//! right after creation and entered again around every use
//! ([`JsIsolate::with_isolate`]). Entering and exiting always pair up
//! within one synchronous call, never across an `.await`, so the stack is
//! balanced whenever another isolate runs. The isolate is entered once
//! more just before it is dropped, which is what `OwnedIsolate`'s drop
//! expects.
//!
//! **Microtasks** run only at explicit checkpoints (`Explicit` policy), so
//! the host decides when continuations run and which request pays for
//! them.
//!
//! **The platform layer** is the engine-neutral JS file from
//! `islet-bindings`, evaluated in each new context with the native
//! operations below; its hooks build the `Request` and read the
//! `Response` without tenant code being able to reach them.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::c_void;
use std::mem::ManuallyDrop;
use std::rc::Rc;
use std::sync::{Arc, Once};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use tokio::sync::mpsc;

use self::memory::MemoryGuard;
use self::ops::{string_array, string_pairs};
use super::{
    EngineKind, HandlerError, Isolate, LocalBoxFuture, Program, RequestBody, ResponseHead,
    ResponseSink, SinkError, Startup, TenantRequest,
};
use crate::cpu::{CpuMeter, Interrupt};
use crate::outbound::OutboundResponse;
use crate::tenant::Tenant;
use islet_bindings::policy::FetchPolicy;

mod memory;
mod ops;
mod snapshot;

pub use self::snapshot::set_snapshot_enabled;

static V8_INIT: Once = Once::new();

/// The V8 flags islet runs with (they are part of the snapshot's cache key).
const V8_FLAGS: &str = "--enable-sharedarraybuffer-per-context";

/// Initialises V8's platform once per process. Safe to call many times.
///
/// The platform is the unprotected variant (no memory protection keys),
/// so threads created before this call, such as an embedding server's
/// own threads, may still run JavaScript.
pub fn init_v8() {
    V8_INIT.call_once(|| {
        // No `SharedArrayBuffer` anywhere: with per-context enabling and no
        // callback to enable it, V8 installs it in no context.
        v8::V8::set_flags_from_string(V8_FLAGS);
        let platform = v8::new_unprotected_default_platform(0, false).make_shared();
        v8::V8::initialize_platform(platform);
        v8::V8::initialize();
    });
}

/// A JavaScript tenant's module source, checked for syntax at load time.
pub struct JsProgram {
    /// The name positions in stack traces refer to, e.g. `worker.js`.
    file_name: String,
    source: String,
}

impl JsProgram {
    /// Checks that `source` is an ES module that compiles and imports
    /// nothing; the error names the file, line and column.
    pub fn load(file_name: &str, source: String) -> Result<JsProgram, String> {
        init_v8();
        // A scratch isolate from the same snapshot as tenant isolates:
        // V8 aborts when isolates from different snapshots live at once
        // (their read-only heaps differ), and tenants may be running.
        let mut params = v8::CreateParams::default();
        if let Some(blob) = snapshot::blob() {
            params = params
                .snapshot_blob(v8::StartupData::from(blob))
                .external_references(std::borrow::Cow::Owned(ops::external_references()));
        }
        let mut isolate = v8::Isolate::new(params);
        let checked = {
            v8::scope!(let scope, &mut isolate);
            let context = v8::Context::new(scope, Default::default());
            let scope = &mut v8::ContextScope::new(scope, context);
            v8::tc_scope!(let tc, scope);
            compile_module(tc, file_name, &source).map(|_| ())
        };
        drop(isolate);
        checked?;
        Ok(JsProgram {
            file_name: file_name.to_string(),
            source,
        })
    }
}

impl Program for JsProgram {
    fn engine(&self) -> EngineKind {
        EngineKind::Js
    }

    fn instantiate(
        &self,
        tenant: &Tenant,
        startup: &Startup,
    ) -> Result<Rc<dyn Isolate>, HandlerError> {
        init_v8();
        let limit_mb = tenant.limits().memory_mb;
        let limit = usize::try_from(limit_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
        let guard = MemoryGuard::new(limit);

        // Heap and array buffers are each capped at the tenant's limit.
        // SAFETY: the vtable's functions uphold the allocator contract
        // (see `ab_allocate`); the handle is an `Arc` reference that the
        // vtable's `drop` releases when V8 drops the allocator.
        let allocator = unsafe {
            v8::new_rust_allocator(Arc::into_raw(guard.clone()), &memory::ARRAY_BUFFER_VTABLE)
        };
        let mut params = v8::CreateParams::default()
            .heap_limits(0, limit)
            .array_buffer_allocator(allocator)
            .allow_atomics_wait(false);
        let blob = snapshot::blob();
        if let Some(blob) = blob {
            params = params
                .snapshot_blob(v8::StartupData::from(blob))
                .external_references(std::borrow::Cow::Owned(ops::external_references()));
        }
        let mut isolate = v8::Isolate::new(params);
        let handle = isolate.thread_safe_handle();
        let _ = guard.handle.set(handle.clone());
        let interrupt: Arc<dyn Interrupt> = Arc::new(V8Interrupt(handle));
        startup.interrupt.set(interrupt.clone());
        // SAFETY: `guard` outlives the isolate: `JsIsolate` holds it and
        // drops the isolate first.
        isolate.add_near_heap_limit_callback(
            memory::near_heap_limit,
            Arc::as_ptr(&guard) as *mut MemoryGuard as *mut c_void,
        );
        isolate.set_microtasks_policy(v8::MicrotasksPolicy::Explicit);
        isolate.set_promise_reject_callback(on_promise_reject);
        isolate.set_allow_wasm_code_generation_callback(no_wasm_from_bytes);
        isolate.set_slot(JsHost {
            tenant: tenant.name().to_string(),
            now_ms: epoch_ms(),
            rejections: Vec::new(),
            current: None,
            timers: HashMap::new(),
            next_timer: 1,
            policy: tenant.fetch_policy().clone(),
            max_fetch_body: limit,
            fetches: HashMap::new(),
            next_fetch: 1,
        });

        let state = {
            v8::scope!(let scope, &mut isolate);
            let context = v8::Context::new(scope, Default::default());
            context.set_allow_generation_from_strings(false);
            let scope = &mut v8::ContextScope::new(scope, context);
            let hooks = blob.and_then(|_| snapshot::hooks(scope));
            v8::tc_scope!(let tc, scope);
            setup(tc, context, hooks, tenant, &self.file_name, &self.source)
        };

        // Leave the isolate so that the thread's other isolates can enter.
        // SAFETY: `isolate` was entered by `Isolate::new` on this thread
        // and nothing entered since; no scope is alive.
        unsafe { isolate.exit() };
        let js = JsIsolate {
            isolate: RefCell::new(ManuallyDrop::new(isolate)),
            state: RefCell::new(None),
            guard,
            limit_mb,
            interrupt,
            memory: Cell::new(0),
        };
        let state = js.check_stops(&startup.meter, state.map_err(HandlerError::Startup))?;
        *js.state.borrow_mut() = Some(state);
        js.update_memory();
        Ok(Rc::new(js))
    }
}

/// Host state of one isolate, kept in an isolate slot so that native
/// operations can reach it.
struct JsHost {
    tenant: String,
    /// The frozen clock: ms since the epoch when the current slice began.
    now_ms: f64,
    /// Promises rejected with no handler during the current slice.
    rejections: Vec<(v8::Global<v8::Promise>, String)>,
    /// The request whose slice is running.
    current: Option<RequestLink>,
    /// Pending timers, so that `clearTimeout` can cancel them.
    timers: HashMap<u32, tokio::task::AbortHandle>,
    next_timer: u32,
    /// Where the tenant may fetch, and how large a response it may read.
    policy: Arc<FetchPolicy>,
    max_fetch_body: usize,
    /// Outbound requests in flight, so that an abort can cancel them.
    fetches: HashMap<u32, tokio::task::AbortHandle>,
    next_fetch: u32,
}

/// A host event for one request, delivered in its own slice.
enum Event {
    Timer(u32),
    Fetch(u32, Result<OutboundResponse, String>),
    /// A response body chunk was taken by the client (or dropped).
    Written(u32, bool),
    /// A request body chunk: bytes, `None` at the end, or why it failed.
    BodyChunk(u32, Option<Result<Bytes, String>>),
}

/// A streamed request body, read one chunk at a time by `bodyRead`.
type BodyReceiver = Rc<RefCell<Option<mpsc::Receiver<Result<Bytes, String>>>>>;

/// What native operations need of the request whose slice is running.
#[derive(Clone)]
struct RequestLink {
    /// Host events for the request; pending timers and fetches hold
    /// clones, so when only the request's own is left, nothing can wake
    /// it any more.
    events: mpsc::UnboundedSender<Event>,
    /// Where its response goes.
    sink: ResponseSink,
    /// Its body, when the host streams it.
    body: BodyReceiver,
    /// Whether it called `ctx.waitUntil`.
    waits: Rc<Cell<bool>>,
}

impl RequestLink {
    fn idle(&self) -> bool {
        self.events.strong_count() == 1
    }
}

/// Stops an isolate's running script from any thread.
struct V8Interrupt(v8::IsolateHandle);

impl Interrupt for V8Interrupt {
    fn interrupt(&self) {
        self.0.terminate_execution();
    }
}

/// Handles into a tenant's context, created once per isolate.
struct JsState {
    context: v8::Global<v8::Context>,
    handler: v8::Global<v8::Object>,
    fetch: v8::Global<v8::Function>,
    env: v8::Global<v8::Object>,
    make_request: v8::Global<v8::Function>,
    make_context: v8::Global<v8::Function>,
    wait_until: v8::Global<v8::Function>,
    read_response: v8::Global<v8::Function>,
    fire_timer: v8::Global<v8::Function>,
    fetch_done: v8::Global<v8::Function>,
    fetch_failed: v8::Global<v8::Function>,
    pump_body: v8::Global<v8::Function>,
    body_written: v8::Global<v8::Function>,
    body_chunk: v8::Global<v8::Function>,
}

/// A live V8 isolate running one tenant.
pub struct JsIsolate {
    isolate: RefCell<ManuallyDrop<v8::OwnedIsolate>>,
    /// Dropped before the isolate, while it is entered.
    state: RefCell<Option<JsState>>,
    guard: Arc<MemoryGuard>,
    limit_mb: u64,
    interrupt: Arc<dyn Interrupt>,
    /// Heap plus array buffers, after the last slice.
    memory: Cell<usize>,
}

/// Where a request stands after a slice.
enum Progress {
    /// The handler's promise is still pending.
    Pending(v8::Global<v8::Promise>),
    /// The response, read.
    Done(ResponseHead, BodyOut),
}

/// A response body: whole, or a stream the platform layer pumps.
enum BodyOut {
    Bytes(Bytes),
    Stream(v8::Global<v8::Object>),
}

type TryCatch<'s, 'a, 'b, 'c> = v8::PinnedRef<'s, v8::TryCatch<'a, 'b, v8::HandleScope<'c>>>;

impl JsIsolate {
    /// Runs `f` with the isolate entered on this thread.
    fn with_isolate<R>(&self, f: impl FnOnce(&mut v8::OwnedIsolate) -> R) -> R {
        let mut isolate = self.isolate.borrow_mut();
        // SAFETY: isolates are only used on the thread that created them
        // (`JsIsolate` is not `Send`), and the enter below is paired with
        // the exit before this function returns, so the thread's stack of
        // entered isolates is balanced again.
        unsafe { isolate.enter() };
        let result = f(&mut isolate);
        // SAFETY: this isolate is the one entered above; every scope that
        // `f` opened has been dropped.
        unsafe { isolate.exit() };
        result
    }

    /// Runs one slice of a request: `f` in the tenant's context, then the
    /// microtasks it released. Host events raised meanwhile go to
    /// `events`. A stop by a limit overrides whatever `f` returned.
    fn slice<R>(
        &self,
        meter: &CpuMeter,
        link: &RequestLink,
        f: impl FnOnce(&mut TryCatch<'_, '_, '_, '_>, &JsState) -> Result<R, HandlerError>,
    ) -> Result<R, HandlerError> {
        let state = self.state.borrow();
        let state = state.as_ref().expect("a running JsIsolate has its state");
        let result = self.with_isolate(|isolate| {
            // A termination meant for an earlier slice must not hit this
            // one (V8 keeps a late one pending).
            isolate.cancel_terminate_execution();
            let host_state = host(isolate);
            host_state.current = Some(link.clone());
            host_state.now_ms = epoch_ms();
            let result = {
                v8::scope!(let scope, &mut **isolate);
                let context = v8::Local::new(scope, &state.context);
                let scope = &mut v8::ContextScope::new(scope, context);
                v8::tc_scope!(let tc, scope);
                let result = f(tc, state);
                report_rejections(tc);
                result
            };
            host(isolate).current = None;
            // Read the heap size while the isolate is entered anyway.
            self.record_memory(isolate);
            result
        });
        self.check_stops(meter, result)
    }

    /// Replaces `result` with the limit that stopped the code, if any.
    fn check_stops<R>(
        &self,
        meter: &CpuMeter,
        result: Result<R, HandlerError>,
    ) -> Result<R, HandlerError> {
        if self.guard.is_over() {
            return Err(HandlerError::ExceededMemory {
                limit_mb: self.limit_mb,
            });
        }
        if meter.exceeded() {
            return Err(HandlerError::ExceededCpu {
                used: meter.used(),
                limit: meter.budget(),
            });
        }
        result
    }

    fn update_memory(&self) {
        self.with_isolate(|isolate| self.record_memory(isolate));
    }

    /// Records heap plus array-buffer bytes; `isolate` must be entered.
    fn record_memory(&self, isolate: &mut v8::OwnedIsolate) {
        let heap = isolate.get_heap_statistics().total_heap_size();
        self.memory.set(heap + self.guard.external_bytes());
    }

    /// The first slice: build the request, call `fetch`.
    fn start(
        &self,
        request: TenantRequest,
        meter: &CpuMeter,
        link: &RequestLink,
    ) -> Result<(Progress, v8::Global<v8::Value>), HandlerError> {
        self.slice(meter, link, |tc, state| {
            let undefined: v8::Local<v8::Value> = v8::undefined(tc).into();

            // Build the arguments of `fetch`.
            let method = v8_str(tc, request.method.as_str()).into();
            let url = v8_str(tc, &request.url).into();
            let headers = v8::Array::new(tc, (request.headers.len() * 2) as i32);
            for (i, (name, value)) in request.headers.iter().enumerate() {
                let name = v8_str(tc, name.as_str());
                let value = v8_str(tc, &String::from_utf8_lossy(value.as_bytes()));
                headers.set_index(tc, (2 * i) as u32, name.into());
                headers.set_index(tc, (2 * i + 1) as u32, value.into());
            }
            let body = match request.body {
                RequestBody::Full(bytes) => bytes_to_uint8array(tc, &bytes).into(),
                RequestBody::Stream(chunks) => {
                    *link.body.borrow_mut() = Some(chunks);
                    v8::Boolean::new(tc, true).into()
                }
            };
            let make_request = v8::Local::new(tc, &state.make_request);
            let req = make_request
                .call(tc, undefined, &[method, url, headers.into(), body])
                .ok_or_else(|| HandlerError::Exception(exception_text(tc)))?;
            let make_context = v8::Local::new(tc, &state.make_context);
            let ctx = make_context
                .call(tc, undefined, &[])
                .ok_or_else(|| HandlerError::Exception(exception_text(tc)))?;
            let env = v8::Local::new(tc, &state.env).into();

            // Call the handler and let its microtasks run.
            let fetch = v8::Local::new(tc, &state.fetch);
            let handler = v8::Local::new(tc, &state.handler);
            let returned = fetch.call(tc, handler.into(), &[req, env, ctx]);
            let Some(returned) = returned else {
                return Err(HandlerError::Exception(exception_text(tc)));
            };
            tc.perform_microtask_checkpoint();
            let ctx = v8::Global::new(tc, ctx);
            let progress = match returned.try_cast::<v8::Promise>() {
                Ok(promise) => progress(tc, state, promise),
                Err(_) => read_response(tc, state, returned),
            }?;
            Ok((progress, ctx))
        })
    }

    /// The promise for the request's `ctx.waitUntil` work, if any.
    fn wait_until(
        &self,
        ctx: &v8::Global<v8::Value>,
        meter: &CpuMeter,
        link: &RequestLink,
    ) -> Result<Option<v8::Global<v8::Promise>>, HandlerError> {
        self.slice(meter, link, |tc, state| {
            let hook = v8::Local::new(tc, &state.wait_until);
            let undefined = v8::undefined(tc).into();
            let ctx = v8::Local::new(tc, ctx);
            let promise = hook
                .call(tc, undefined, &[ctx])
                .ok_or_else(|| HandlerError::Exception(exception_text(tc)))?;
            tc.perform_microtask_checkpoint();
            Ok(promise
                .try_cast::<v8::Promise>()
                .ok()
                .map(|p| v8::Global::new(tc, p)))
        })
    }

    /// Delivers one event after the response went out; returns whether
    /// `promise` has settled.
    fn pump(
        &self,
        event: Event,
        promise: &v8::Global<v8::Promise>,
        meter: &CpuMeter,
        link: &RequestLink,
    ) -> Result<bool, HandlerError> {
        self.deliver_event(event, meter, link)?;
        Ok(self.settled(promise))
    }

    /// Delivers the request's events until `promise` settles; a rejection
    /// is the tenant's exception.
    async fn run_until(
        &self,
        promise: &v8::Global<v8::Promise>,
        events: &mut mpsc::UnboundedReceiver<Event>,
        meter: &CpuMeter,
        link: &RequestLink,
    ) -> Result<(), HandlerError> {
        while !self.settled(promise) {
            if events.is_empty() && link.idle() {
                return Err(HandlerError::Stalled);
            }
            let Some(event) = events.recv().await else {
                break;
            };
            if self.pump(event, promise, meter, link)? {
                break;
            }
        }
        self.slice(meter, link, |tc, _| {
            let promise = v8::Local::new(tc, promise);
            if promise.state() == v8::PromiseState::Rejected {
                promise.mark_as_handled();
                let reason = promise.result(tc);
                return Err(HandlerError::Exception(value_text(tc, reason)));
            }
            Ok(())
        })
    }

    /// Starts streaming a response body; the promise settles when the
    /// stream has been written out.
    fn pump_body(
        &self,
        stream: &v8::Global<v8::Object>,
        meter: &CpuMeter,
        link: &RequestLink,
    ) -> Result<v8::Global<v8::Promise>, HandlerError> {
        self.slice(meter, link, |tc, state| {
            let pump = v8::Local::new(tc, &state.pump_body);
            let undefined = v8::undefined(tc).into();
            let stream = v8::Local::new(tc, stream).into();
            let promise = pump
                .call(tc, undefined, &[stream])
                .and_then(|p| p.try_cast::<v8::Promise>().ok())
                .ok_or_else(|| HandlerError::Exception(exception_text(tc)))?;
            tc.perform_microtask_checkpoint();
            Ok(v8::Global::new(tc, promise))
        })
    }

    fn settled(&self, promise: &v8::Global<v8::Promise>) -> bool {
        self.with_isolate(|isolate| {
            v8::scope!(let scope, &mut **isolate);
            v8::Local::new(scope, promise).state() != v8::PromiseState::Pending
        })
    }

    /// A later slice: deliver one host event, then see whether the
    /// handler's promise settled.
    fn deliver(
        &self,
        event: Event,
        promise: &v8::Global<v8::Promise>,
        meter: &CpuMeter,
        link: &RequestLink,
    ) -> Result<Progress, HandlerError> {
        self.slice(meter, link, |tc, state| {
            fire_event(tc, state, event);
            let promise = v8::Local::new(tc, promise);
            progress(tc, state, promise)
        })
    }

    /// Runs one host event's callback and the microtasks it releases.
    fn deliver_event(
        &self,
        event: Event,
        meter: &CpuMeter,
        link: &RequestLink,
    ) -> Result<(), HandlerError> {
        self.slice(meter, link, |tc, state| {
            fire_event(tc, state, event);
            Ok(())
        })
    }
}

/// Calls the JS side of a host event, then runs the microtasks it
/// released. An exception in a callback is the tenant's, logged.
fn fire_event(tc: &mut TryCatch<'_, '_, '_, '_>, state: &JsState, event: Event) {
    let undefined = v8::undefined(tc).into();
    let called = match event {
        Event::Timer(id) => {
            host(tc).timers.remove(&id);
            let fire = v8::Local::new(tc, &state.fire_timer);
            let id = v8::Integer::new_from_unsigned(tc, id).into();
            fire.call(tc, undefined, &[id])
        }
        Event::Written(id, accepted) => {
            let written = v8::Local::new(tc, &state.body_written);
            let id = v8::Integer::new_from_unsigned(tc, id).into();
            let accepted = v8::Boolean::new(tc, accepted).into();
            written.call(tc, undefined, &[id, accepted])
        }
        Event::BodyChunk(id, chunk) => {
            let hook = v8::Local::new(tc, &state.body_chunk);
            let id = v8::Integer::new_from_unsigned(tc, id).into();
            let null: v8::Local<v8::Value> = v8::null(tc).into();
            let (chunk, error) = match chunk {
                Some(Ok(bytes)) => (bytes_to_uint8array(tc, &bytes).into(), undefined),
                None => (null, undefined),
                Some(Err(reason)) => (null, v8_str(tc, &reason).into()),
            };
            hook.call(tc, undefined, &[id, chunk, error])
        }
        Event::Fetch(id, result) => {
            host(tc).fetches.remove(&id);
            let id = v8::Integer::new_from_unsigned(tc, id).into();
            match result {
                Ok(response) => {
                    let args = fetch_response_args(tc, id, &response);
                    let done = v8::Local::new(tc, &state.fetch_done);
                    done.call(tc, undefined, &args)
                }
                Err(message) => {
                    let message = v8_str(tc, &message).into();
                    let failed = v8::Local::new(tc, &state.fetch_failed);
                    failed.call(tc, undefined, &[id, message])
                }
            }
        }
    };
    if called.is_none() && !tc.has_terminated() {
        let error = exception_text(tc);
        let tenant = host(tc).tenant.clone();
        tracing::warn!(tenant, error = ?error, "uncaught exception in a callback");
    }
    tc.perform_microtask_checkpoint();
}

fn epoch_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_millis() as f64)
}

/// WebAssembly compiled from bytes at run time is code the tenant did not
/// deploy: refuse it, as `eval` is refused.
unsafe extern "C" fn no_wasm_from_bytes(
    _context: v8::Local<v8::Context>,
    _source: v8::Local<v8::String>,
) -> bool {
    false
}

/// Notes promises rejected without a handler; handlers attached later in
/// the same slice take them off the list again.
extern "C" fn on_promise_reject(message: v8::PromiseRejectMessage) {
    v8::callback_scope!(unsafe scope, &message);
    v8::scope!(let scope, scope);
    let promise = message.get_promise();
    match message.get_event() {
        v8::PromiseRejectEvent::PromiseRejectWithNoHandler => {
            let reason = message
                .get_value()
                .map(|v| value_text(scope, v))
                .unwrap_or_default();
            let promise = v8::Global::new(scope, promise);
            host(scope).rejections.push((promise, reason));
        }
        v8::PromiseRejectEvent::PromiseHandlerAddedAfterReject => {
            host(scope).rejections.retain(|(p, _)| *p != promise);
        }
        _ => {}
    }
}

/// Logs the promises still rejected without a handler at a slice's end.
fn report_rejections(tc: &mut TryCatch<'_, '_, '_, '_>) {
    let rejections = std::mem::take(&mut host(tc).rejections);
    for (promise, reason) in rejections {
        let promise = v8::Local::new(tc, &promise);
        if promise.has_handler() {
            continue;
        }
        let tenant = host(tc).tenant.clone();
        tracing::warn!(tenant, reason = ?reason, "unhandled promise rejection");
    }
}

/// The arguments of `hooks.fetchDone`.
fn fetch_response_args<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    id: v8::Local<'s, v8::Value>,
    response: &OutboundResponse,
) -> [v8::Local<'s, v8::Value>; 7] {
    let flat: Vec<String> = response
        .headers
        .iter()
        .flat_map(|(k, v)| [k.clone(), v.clone()])
        .collect();
    [
        id,
        v8::Integer::new(scope, i32::from(response.status)).into(),
        v8_str(scope, &response.status_text).into(),
        string_array(scope, &flat),
        bytes_to_uint8array(scope, &response.body).into(),
        v8_str(scope, &response.url).into(),
        v8::Boolean::new(scope, response.redirected).into(),
    ]
}

fn host(isolate: &mut v8::Isolate) -> &mut JsHost {
    isolate
        .get_slot_mut::<JsHost>()
        .expect("every islet isolate has a JsHost slot")
}

/// Where the handler's promise stands.
fn progress(
    tc: &mut TryCatch<'_, '_, '_, '_>,
    state: &JsState,
    promise: v8::Local<v8::Promise>,
) -> Result<Progress, HandlerError> {
    match promise.state() {
        v8::PromiseState::Fulfilled => {
            let value = promise.result(tc);
            read_response(tc, state, value)
        }
        v8::PromiseState::Rejected => {
            promise.mark_as_handled();
            let reason = promise.result(tc);
            Err(HandlerError::Exception(value_text(tc, reason)))
        }
        v8::PromiseState::Pending => Ok(Progress::Pending(v8::Global::new(tc, promise))),
    }
}

/// Reads the handler's result through the platform layer.
fn read_response(
    tc: &mut TryCatch<'_, '_, '_, '_>,
    state: &JsState,
    value: v8::Local<v8::Value>,
) -> Result<Progress, HandlerError> {
    let read = v8::Local::new(tc, &state.read_response);
    let undefined = v8::undefined(tc).into();
    let parts = read
        .call(tc, undefined, &[value])
        .ok_or_else(|| HandlerError::NotAResponse(exception_text(tc)))?;
    let (head, body) = read_parts(tc, parts).map_err(HandlerError::NotAResponse)?;
    Ok(Progress::Done(head, body))
}

impl Isolate for JsIsolate {
    fn handle(
        self: Rc<Self>,
        request: TenantRequest,
        sink: ResponseSink,
        meter: Arc<CpuMeter>,
    ) -> LocalBoxFuture<Result<(), HandlerError>> {
        Box::pin(async move {
            let (events_tx, mut events) = mpsc::unbounded_channel();
            let link = RequestLink {
                events: events_tx,
                sink: sink.clone(),
                body: Rc::default(),
                waits: Rc::default(),
            };

            // Run the handler until its response is known.
            let (mut progress, ctx) = self.start(request, &meter, &link)?;
            let (head, body) = loop {
                let promise = match progress {
                    Progress::Done(head, body) => break (head, body),
                    Progress::Pending(promise) => promise,
                };
                if events.is_empty() && link.idle() {
                    return Err(HandlerError::Stalled);
                }
                let event = events.recv().await.ok_or(HandlerError::Stalled)?;
                progress = self.deliver(event, &promise, &meter, &link)?;
            };

            // Send it: whole, or pumped from its stream chunk by chunk.
            match sink.send_head(head) {
                Ok(()) => {}
                Err(SinkError::Closed) => return Err(HandlerError::ClientGone),
                Err(SinkError::HeadAlreadySent) => {
                    unreachable!("the JS engine sends one head per request")
                }
            }
            match body {
                BodyOut::Bytes(bytes) => {
                    if sink.send_chunk(bytes).await.is_err() {
                        return Err(HandlerError::ClientGone);
                    }
                }
                BodyOut::Stream(stream) => {
                    let pumped = self.pump_body(&stream, &meter, &link)?;
                    self.run_until(&pumped, &mut events, &meter, &link).await?;
                }
            }
            sink.finish();

            // Work passed to `ctx.waitUntil` goes on after the response,
            // under the same limits.
            if link.waits.get()
                && let Some(wait) = self.wait_until(&ctx, &meter, &link)?
            {
                self.run_until(&wait, &mut events, &meter, &link).await?;
            }
            Ok(())
        })
    }

    fn interrupt(&self) -> Arc<dyn Interrupt> {
        self.interrupt.clone()
    }

    fn memory_bytes(&self) -> usize {
        self.memory.get()
    }
}

impl Drop for JsIsolate {
    fn drop(&mut self) {
        let isolate = self.isolate.get_mut();
        // SAFETY: we are on the isolate's thread (it is not `Send`). The
        // isolate must be the entered one for its handles to be released
        // and for `OwnedIsolate::drop`, which exits it again.
        unsafe { isolate.enter() };
        let host_state = host(isolate);
        for (_, task) in host_state.timers.drain().chain(host_state.fetches.drain()) {
            task.abort();
        }
        self.state.get_mut().take();
        // SAFETY: the isolate is not used after this point.
        unsafe { ManuallyDrop::drop(isolate) };
    }
}

/// Evaluates the platform layer and the tenant's module in a fresh
/// context, and finds the handler.
fn setup(
    tc: &mut TryCatch<'_, '_, '_, '_>,
    context: v8::Local<v8::Context>,
    snapshot_hooks: Option<v8::Local<v8::Object>>,
    tenant: &Tenant,
    file_name: &str,
    source: &str,
) -> Result<JsState, String> {
    let undefined: v8::Local<v8::Value> = v8::undefined(tc).into();

    // The platform layer: from the snapshot, or evaluated now.
    let hooks = match snapshot_hooks {
        Some(hooks) => hooks,
        None => evaluate_platform(tc)?,
    };
    let hook = |tc: &mut TryCatch<'_, '_, '_, '_>, name: &str| {
        let key = v8_str(tc, name).into();
        hooks
            .get(tc, key)
            .and_then(|f| f.try_cast::<v8::Function>().ok())
            .map(|f| v8::Global::new(tc, f))
            .ok_or_else(|| format!("platform layer has no `{name}` hook"))
    };
    let make_request = hook(tc, "makeRequest")?;
    let make_context = hook(tc, "makeContext")?;
    let wait_until = hook(tc, "waitUntilPromise")?;
    let read_response = hook(tc, "readResponse")?;
    let fire_timer = hook(tc, "fireTimer")?;
    let fetch_done = hook(tc, "fetchDone")?;
    let fetch_failed = hook(tc, "fetchFailed")?;
    let pump_body = hook(tc, "pumpBody")?;
    let body_written = hook(tc, "bodyWritten")?;
    let body_chunk = hook(tc, "bodyChunk")?;

    // Per-context state (the clock's origin) starts now, not when the
    // snapshot was made.
    let init = hook(tc, "initContext")?;
    let init = v8::Local::new(tc, &init);
    init.call(tc, undefined, &[])
        .ok_or_else(|| format!("platform layer failed: {}", exception_text(tc)))?;

    // `env`: the tenant's vars, frozen.
    let env = v8::Object::new(tc);
    for (key, value) in tenant.vars() {
        let key = v8_str(tc, key).into();
        let value = v8_str(tc, value).into();
        env.create_data_property(tc, key, value);
    }
    env.set_integrity_level(tc, v8::IntegrityLevel::Frozen);

    // The tenant's module.
    let module = compile_module(tc, file_name, source)?;
    if module.instantiate_module(tc, no_imports) != Some(true) {
        return Err(exception_text(tc));
    }
    let evaluated = module.evaluate(tc).ok_or_else(|| exception_text(tc))?;
    tc.perform_microtask_checkpoint();
    if let Ok(promise) = evaluated.try_cast::<v8::Promise>() {
        match promise.state() {
            v8::PromiseState::Fulfilled => {}
            v8::PromiseState::Rejected => {
                promise.mark_as_handled();
                let reason = promise.result(tc);
                return Err(value_text(tc, reason));
            }
            v8::PromiseState::Pending => {
                return Err("the module's top-level await never settled".into());
            }
        }
    }

    // `export default { fetch }`.
    let namespace = module
        .get_module_namespace()
        .try_cast::<v8::Object>()
        .map_err(|_| "the module has no namespace".to_string())?;
    let default_key = v8_str(tc, "default").into();
    let handler = namespace
        .get(tc, default_key)
        .and_then(|d| d.try_cast::<v8::Object>().ok())
        .ok_or("the module has no default export; expected `export default { fetch }`")?;
    let fetch_key = v8_str(tc, "fetch").into();
    let fetch = handler
        .get(tc, fetch_key)
        .and_then(|f| f.try_cast::<v8::Function>().ok())
        .ok_or("the default export has no `fetch` method")?;

    Ok(JsState {
        context: v8::Global::new(tc, context),
        handler: v8::Global::new(tc, handler),
        fetch: v8::Global::new(tc, fetch),
        env: v8::Global::new(tc, env),
        make_request,
        make_context,
        wait_until,
        read_response,
        fire_timer,
        fetch_done,
        fetch_failed,
        pump_body,
        body_written,
        body_chunk,
    })
}

/// Evaluates the platform layer's files, `(ops, platform) => void` each,
/// in order, and returns `platform.hooks`.
fn evaluate_platform<'s>(
    tc: &mut v8::PinnedRef<'s, v8::TryCatch<'_, '_, v8::HandleScope<'_>>>,
) -> Result<v8::Local<'s, v8::Object>, String> {
    let undefined: v8::Local<v8::Value> = v8::undefined(tc).into();
    let ops = ops::make_ops(tc);
    let platform = v8::Object::new(tc);
    for (name, source) in islet_bindings::js::PLATFORM {
        let code = v8_str(tc, source);
        let name_value = v8_str(tc, name).into();
        let origin = script_origin(tc, name_value, false);
        let file = v8::Script::compile(tc, code, Some(&origin))
            .and_then(|script| script.run(tc))
            .and_then(|f| f.try_cast::<v8::Function>().ok())
            .ok_or_else(|| format!("platform layer `{name}` failed: {}", exception_text(tc)))?;
        if file
            .call(tc, undefined, &[ops.into(), platform.into()])
            .is_none()
        {
            return Err(format!(
                "platform layer `{name}` failed: {}",
                exception_text(tc)
            ));
        }
    }
    let hooks_key = v8_str(tc, "hooks").into();
    platform
        .get(tc, hooks_key)
        .and_then(|h| h.try_cast::<v8::Object>().ok())
        .ok_or_else(|| "the platform layer set no hooks".to_string())
}

/// Compiles `source` as a module that must import nothing.
fn compile_module<'s>(
    tc: &mut v8::PinnedRef<'s, v8::TryCatch<'_, '_, v8::HandleScope<'_>>>,
    file_name: &str,
    source: &str,
) -> Result<v8::Local<'s, v8::Module>, String> {
    let code = v8::String::new(tc, source).ok_or("the module is too large")?;
    let name = v8_str(tc, file_name).into();
    let origin = script_origin(tc, name, true);
    let mut source = v8::script_compiler::Source::new(code, Some(&origin));
    let module =
        v8::script_compiler::compile_module(tc, &mut source).ok_or_else(|| exception_text(tc))?;
    let requests = module.get_module_requests();
    if requests.length() > 0 {
        let first = requests
            .get(tc, 0)
            .and_then(|r| r.try_cast::<v8::ModuleRequest>().ok())
            .map(|r| r.get_specifier().to_rust_string_lossy(tc))
            .unwrap_or_default();
        return Err(format!(
            "{file_name}: imports are not supported (found `import \"{first}\"`); \
             bundle the worker into one module"
        ));
    }
    Ok(module)
}

/// Module resolution: islet modules are single files, checked by
/// [`compile_module`], so V8 never asks.
fn no_imports<'s>(
    _context: v8::Local<'s, v8::Context>,
    _specifier: v8::Local<'s, v8::String>,
    _attributes: v8::Local<'s, v8::FixedArray>,
    _referrer: v8::Local<'s, v8::Module>,
) -> Option<v8::Local<'s, v8::Module>> {
    None
}

fn script_origin<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    name: v8::Local<'s, v8::Value>,
    is_module: bool,
) -> v8::ScriptOrigin<'s> {
    v8::ScriptOrigin::new(
        scope, name, 0, 0, false, 0, None, false, false, is_module, None,
    )
}

fn v8_str<'s>(scope: &mut v8::PinScope<'s, '_>, s: &str) -> v8::Local<'s, v8::String> {
    // Only strings over V8's maximum length (~512 MiB) fail.
    v8::String::new(scope, s).unwrap_or_else(|| v8::String::empty(scope))
}

fn bytes_to_uint8array<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    bytes: &[u8],
) -> v8::Local<'s, v8::Uint8Array> {
    let store = v8::ArrayBuffer::new_backing_store_from_vec(bytes.to_vec()).make_shared();
    let buffer = v8::ArrayBuffer::with_backing_store(scope, &store);
    v8::Uint8Array::new(scope, buffer, 0, bytes.len()).expect("a fresh buffer fits its view")
}

/// The caught exception as text: its stack if it has one, or its message
/// with the position it was thrown at.
fn exception_text(tc: &mut TryCatch<'_, '_, '_, '_>) -> String {
    if tc.has_terminated() {
        return "execution terminated".into();
    }
    let Some(exception) = tc.exception() else {
        return "unknown error".into();
    };
    let mut text = value_text(tc, exception);
    // Syntax errors have no stack; add where they are.
    if !text.contains('\n')
        && let Some(message) = tc.message()
    {
        let file = message
            .get_script_resource_name(tc)
            .map(|n| n.to_rust_string_lossy(tc))
            .unwrap_or_default();
        let line = message.get_line_number(tc).unwrap_or(0);
        let column = message.get_start_column() + 1;
        text = format!("{file}:{line}:{column}: {text}");
    }
    text
}

fn value_text(scope: &mut v8::PinScope<'_, '_>, value: v8::Local<v8::Value>) -> String {
    if let Ok(object) = value.try_cast::<v8::Object>() {
        let key = v8_str(scope, "stack").into();
        if let Some(stack) = object.get(scope, key).filter(|s| s.is_string()) {
            return stack.to_rust_string_lossy(scope);
        }
    }
    value.to_rust_string_lossy(scope)
}

/// Reads `[status, flatHeaders, bytes]` from the platform layer.
fn read_parts(
    scope: &mut v8::PinScope<'_, '_>,
    parts: v8::Local<v8::Value>,
) -> Result<(ResponseHead, BodyOut), String> {
    let parts = parts
        .try_cast::<v8::Array>()
        .map_err(|_| "platform layer returned no parts".to_string())?;
    let status = parts
        .get_index(scope, 0)
        .and_then(|s| s.uint32_value(scope))
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or("the response status is not a valid HTTP status")?;
    let flat = parts
        .get_index(scope, 1)
        .and_then(|h| h.try_cast::<v8::Array>().ok())
        .ok_or("the response headers are missing")?;
    let mut headers = HeaderMap::new();
    for (name, value) in string_pairs(scope, flat) {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid response header name `{name}`"))?;
        let value = HeaderValue::from_str(&value)
            .map_err(|_| format!("invalid value for response header `{name}`"))?;
        headers.append(name, value);
    }
    if let Some(stream) = parts
        .get_index(scope, 3)
        .and_then(|s| s.try_cast::<v8::Object>().ok())
    {
        return Ok((
            ResponseHead { status, headers },
            BodyOut::Stream(v8::Global::new(scope, stream)),
        ));
    }
    let body: Bytes = parts
        .get_index(scope, 2)
        .and_then(|b| b.try_cast::<v8::ArrayBufferView>().ok())
        .map(|view| {
            let mut bytes = vec![0; view.byte_length()];
            view.copy_contents(&mut bytes);
            Bytes::from(bytes)
        })
        .unwrap_or_default();
    // The whole body is known: let the client see its length.
    let bodyless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if !bodyless && !headers.contains_key(http::header::CONTENT_LENGTH) {
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    let body = BodyOut::Bytes(body);
    Ok((ResponseHead { status, headers }, body))
}
