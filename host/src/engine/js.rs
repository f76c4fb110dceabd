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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Once, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use tokio::sync::mpsc;

use super::{
    EngineKind, HandlerError, Isolate, LocalBoxFuture, Program, ResponseHead, ResponseSink,
    SinkError, Startup, TenantRequest,
};
use crate::cpu::{CpuMeter, Interrupt};
use crate::outbound::{self, OutboundRequest, OutboundResponse, RedirectMode};
use crate::tenant::Tenant;
use islet_bindings::policy::FetchPolicy;

static V8_INIT: Once = Once::new();

/// Initialises V8's platform once per process. Safe to call many times.
///
/// The platform is the unprotected variant (no memory protection keys),
/// so threads created before this call, such as an embedding server's
/// own threads, may still run JavaScript.
pub fn init_v8() {
    V8_INIT.call_once(|| {
        // No `SharedArrayBuffer` anywhere: with per-context enabling and no
        // callback to enable it, V8 installs it in no context.
        v8::V8::set_flags_from_string("--enable-sharedarraybuffer-per-context");
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
        let mut isolate = v8::Isolate::new(v8::CreateParams::default());
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
        let guard = Arc::new(MemoryGuard {
            handle: OnceLock::new(),
            over: AtomicBool::new(false),
            external: AtomicUsize::new(0),
            external_limit: limit,
        });

        // Heap and array buffers are each capped at the tenant's limit.
        // SAFETY: the vtable's functions uphold the allocator contract
        // (see `ab_allocate`); the handle is an `Arc` reference that the
        // vtable's `drop` releases when V8 drops the allocator.
        let allocator =
            unsafe { v8::new_rust_allocator(Arc::into_raw(guard.clone()), &ARRAY_BUFFER_VTABLE) };
        let params = v8::CreateParams::default()
            .heap_limits(0, limit)
            .array_buffer_allocator(allocator)
            .allow_atomics_wait(false);
        let mut isolate = v8::Isolate::new(params);
        let handle = isolate.thread_safe_handle();
        let _ = guard.handle.set(handle.clone());
        let interrupt: Arc<dyn Interrupt> = Arc::new(V8Interrupt(handle));
        startup.interrupt.set(interrupt.clone());
        // SAFETY: `guard` outlives the isolate: `JsIsolate` holds it and
        // drops the isolate first.
        isolate.add_near_heap_limit_callback(
            near_heap_limit,
            Arc::as_ptr(&guard) as *mut MemoryGuard as *mut c_void,
        );
        isolate.set_microtasks_policy(v8::MicrotasksPolicy::Explicit);
        isolate.set_promise_reject_callback(on_promise_reject);
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
            v8::tc_scope!(let tc, scope);
            setup(tc, context, tenant, &self.file_name, &self.source)
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
    /// Where host events for the request whose slice is running go.
    current: Option<mpsc::UnboundedSender<Event>>,
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
}

/// Stops an isolate's running script from any thread.
struct V8Interrupt(v8::IsolateHandle);

impl Interrupt for V8Interrupt {
    fn interrupt(&self) {
        self.0.terminate_execution();
    }
}

/// An isolate's memory accounting: array buffers through the allocator,
/// the heap through the near-heap-limit callback.
struct MemoryGuard {
    handle: OnceLock<v8::IsolateHandle>,
    /// Set once the isolate went over its limit; it is then discarded.
    over: AtomicBool,
    external: AtomicUsize,
    external_limit: usize,
}

impl MemoryGuard {
    fn overrun(&self) {
        self.over.store(true, Ordering::Release);
        if let Some(handle) = self.handle.get() {
            handle.terminate_execution();
        }
    }

    fn reserve(&self, len: usize) -> bool {
        let before = self.external.fetch_add(len, Ordering::AcqRel);
        if before.saturating_add(len) > self.external_limit {
            self.external.fetch_sub(len, Ordering::AcqRel);
            self.overrun();
            return false;
        }
        true
    }

    fn release(&self, len: usize) {
        self.external.fetch_sub(len, Ordering::AcqRel);
    }
}

static ARRAY_BUFFER_VTABLE: v8::RustAllocatorVtable<MemoryGuard> = v8::RustAllocatorVtable {
    allocate: ab_allocate,
    allocate_uninitialized: ab_allocate_uninitialized,
    free: ab_free,
    drop: ab_drop,
};

/// Allocates zeroed array buffer memory within the isolate's budget; a
/// null return makes V8 throw a `RangeError`.
unsafe extern "C" fn ab_allocate(guard: &MemoryGuard, len: usize) -> *mut c_void {
    if !guard.reserve(len) {
        return std::ptr::null_mut();
    }
    // SAFETY: plain C allocation; a zero size still returns a unique
    // pointer because of `max(1)`.
    let ptr = unsafe { libc::calloc(len.max(1), 1) };
    if ptr.is_null() {
        guard.release(len);
    }
    ptr
}

unsafe extern "C" fn ab_allocate_uninitialized(guard: &MemoryGuard, len: usize) -> *mut c_void {
    if !guard.reserve(len) {
        return std::ptr::null_mut();
    }
    // SAFETY: as in `ab_allocate`.
    let ptr = unsafe { libc::malloc(len.max(1)) };
    if ptr.is_null() {
        guard.release(len);
    }
    ptr
}

unsafe extern "C" fn ab_free(guard: &MemoryGuard, data: *mut c_void, len: usize) {
    // SAFETY: V8 frees only what `ab_allocate*` returned, once.
    unsafe { libc::free(data) };
    guard.release(len);
}

unsafe extern "C" fn ab_drop(guard: *const MemoryGuard) {
    // SAFETY: the pointer came from `Arc::into_raw` in `instantiate`, and
    // V8 calls this once, when it drops the allocator.
    drop(unsafe { Arc::from_raw(guard) });
}

/// Called by V8 when the heap nears its limit: stop the tenant and give
/// V8 room to unwind, instead of letting it abort the process.
unsafe extern "C" fn near_heap_limit(data: *mut c_void, current: usize, _initial: usize) -> usize {
    // SAFETY: `data` is the `MemoryGuard` registered in `instantiate`,
    // which outlives the isolate.
    let guard = unsafe { &*(data as *const MemoryGuard) };
    guard.overrun();
    current + current / 2 + (16 << 20)
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
    Done(ResponseHead, Bytes),
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
        events: &mpsc::UnboundedSender<Event>,
        f: impl FnOnce(&mut TryCatch<'_, '_, '_, '_>, &JsState) -> Result<R, HandlerError>,
    ) -> Result<R, HandlerError> {
        let state = self.state.borrow();
        let state = state.as_ref().expect("a running JsIsolate has its state");
        let result = self.with_isolate(|isolate| {
            // A termination meant for an earlier slice must not hit this
            // one (V8 keeps a late one pending).
            isolate.cancel_terminate_execution();
            let host_state = host(isolate);
            host_state.current = Some(events.clone());
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
            result
        });
        self.update_memory();
        self.check_stops(meter, result)
    }

    /// Replaces `result` with the limit that stopped the code, if any.
    fn check_stops<R>(
        &self,
        meter: &CpuMeter,
        result: Result<R, HandlerError>,
    ) -> Result<R, HandlerError> {
        if self.guard.over.load(Ordering::Acquire) {
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
        let heap = self.with_isolate(|isolate| isolate.get_heap_statistics().total_heap_size());
        self.memory
            .set(heap + self.guard.external.load(Ordering::Acquire));
    }

    /// The first slice: build the request, call `fetch`.
    fn start(
        &self,
        request: TenantRequest,
        meter: &CpuMeter,
        events: &mpsc::UnboundedSender<Event>,
    ) -> Result<(Progress, v8::Global<v8::Value>), HandlerError> {
        self.slice(meter, events, |tc, state| {
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
            let body = bytes_to_uint8array(tc, &request.body).into();
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
        events: &mpsc::UnboundedSender<Event>,
    ) -> Result<Option<v8::Global<v8::Promise>>, HandlerError> {
        self.slice(meter, events, |tc, state| {
            let hook = v8::Local::new(tc, &state.wait_until);
            let undefined = v8::undefined(tc).into();
            let ctx = v8::Local::new(tc, ctx);
            let promise = hook
                .call(tc, undefined, &[ctx])
                .ok_or_else(|| HandlerError::Exception(exception_text(tc)))?;
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
        events: &mpsc::UnboundedSender<Event>,
    ) -> Result<bool, HandlerError> {
        self.deliver_event(event, meter, events)?;
        Ok(self.settled(promise))
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
        events: &mpsc::UnboundedSender<Event>,
    ) -> Result<Progress, HandlerError> {
        self.slice(meter, events, |tc, state| {
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
        events: &mpsc::UnboundedSender<Event>,
    ) -> Result<(), HandlerError> {
        self.slice(meter, events, |tc, state| {
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
            // Each pending timer of this request holds a clone of `tx`:
            // when only ours is left and nothing is queued, nothing can
            // wake the handler any more.
            let (tx, mut events) = mpsc::unbounded_channel();

            let (mut progress, ctx) = self.start(request, &meter, &tx)?;
            let (head, body) = loop {
                let promise = match progress {
                    Progress::Done(head, body) => break (head, body),
                    Progress::Pending(promise) => promise,
                };
                if events.is_empty() && tx.strong_count() == 1 {
                    return Err(HandlerError::Stalled);
                }
                let event = events.recv().await.ok_or(HandlerError::Stalled)?;
                progress = self.deliver(event, &promise, &meter, &tx)?;
            };

            let sent = match sink.send_head(head) {
                Ok(()) => sink.send_chunk(body).await,
                Err(e) => Err(e),
            };
            sink.finish();
            match sent {
                Ok(()) => {}
                Err(SinkError::Closed) => return Err(HandlerError::ClientGone),
                Err(SinkError::HeadAlreadySent) => {
                    unreachable!("the JS engine sends one head per request")
                }
            }

            // Work passed to `ctx.waitUntil` goes on after the response,
            // under the same limits.
            if let Some(wait) = self.wait_until(&ctx, &meter, &tx)? {
                while !self.settled(&wait) {
                    if events.is_empty() && tx.strong_count() == 1 {
                        return Err(HandlerError::Stalled);
                    }
                    let Some(event) = events.recv().await else {
                        break;
                    };
                    if self.pump(event, &wait, &meter, &tx)? {
                        break;
                    }
                }
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
    tenant: &Tenant,
    file_name: &str,
    source: &str,
) -> Result<JsState, String> {
    let undefined: v8::Local<v8::Value> = v8::undefined(tc).into();

    // The platform layer: files of `(ops, platform) => void`, in order.
    let ops = make_ops(tc);
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
    let hooks = platform
        .get(tc, hooks_key)
        .and_then(|h| h.try_cast::<v8::Object>().ok())
        .ok_or("the platform layer set no hooks")?;
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
    })
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
) -> Result<(ResponseHead, Bytes), String> {
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
    for i in (0..flat.length()).step_by(2) {
        let name = flat
            .get_index(scope, i)
            .map(|n| n.to_rust_string_lossy(scope));
        let value = flat
            .get_index(scope, i + 1)
            .map(|v| v.to_rust_string_lossy(scope));
        let (Some(name), Some(value)) = (name, value) else {
            continue;
        };
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid response header name `{name}`"))?;
        let value = HeaderValue::from_str(&value)
            .map_err(|_| format!("invalid value for response header `{name}`"))?;
        headers.append(name, value);
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
    Ok((ResponseHead { status, headers }, body))
}

// ---- Native operations for the platform layer --------------------------

fn make_ops<'s>(scope: &mut v8::PinScope<'s, '_>) -> v8::Local<'s, v8::Object> {
    let ops = v8::Object::new(scope);
    let add = |scope: &mut v8::PinScope<'s, '_>, name: &str, f: v8::Local<v8::Function>| {
        let key = v8_str(scope, name).into();
        ops.create_data_property(scope, key, f.into());
    };
    let f = v8::Function::new(scope, op_utf8_encode).expect("op");
    add(scope, "utf8Encode", f);
    let f = v8::Function::new(scope, op_utf8_decode).expect("op");
    add(scope, "utf8Decode", f);
    let f = v8::Function::new(scope, op_log).expect("op");
    add(scope, "log", f);
    let f = v8::Function::new(scope, op_timer_start).expect("op");
    add(scope, "timerStart", f);
    let f = v8::Function::new(scope, op_timer_cancel).expect("op");
    add(scope, "timerCancel", f);
    let f = v8::Function::new(scope, op_fetch_start).expect("op");
    add(scope, "fetchStart", f);
    let f = v8::Function::new(scope, op_fetch_cancel).expect("op");
    add(scope, "fetchCancel", f);
    let f = v8::Function::new(scope, op_now).expect("op");
    add(scope, "now", f);
    let f = v8::Function::new(scope, op_url_parse).expect("op");
    add(scope, "urlParse", f);
    let f = v8::Function::new(scope, op_url_set).expect("op");
    add(scope, "urlSet", f);
    let f = v8::Function::new(scope, op_random_fill).expect("op");
    add(scope, "randomFill", f);
    let f = v8::Function::new(scope, op_digest).expect("op");
    add(scope, "digest", f);
    let f = v8::Function::new(scope, op_hmac_sign).expect("op");
    add(scope, "hmacSign", f);
    let f = v8::Function::new(scope, op_hmac_verify).expect("op");
    add(scope, "hmacVerify", f);
    ops
}

fn throw_type_error(scope: &mut v8::PinScope, message: &str) {
    let message = v8_str(scope, message);
    let error = v8::Exception::type_error(scope, message);
    scope.throw_exception(error);
}

/// The bytes of an `ArrayBufferView` argument, copied.
fn bytes_arg(scope: &mut v8::PinScope, value: v8::Local<v8::Value>, op: &str) -> Option<Vec<u8>> {
    match value.try_cast::<v8::ArrayBufferView>() {
        Ok(view) => {
            let mut bytes = vec![0; view.byte_length()];
            view.copy_contents(&mut bytes);
            Some(bytes)
        }
        Err(_) => {
            throw_type_error(scope, &format!("{op} expects bytes"));
            None
        }
    }
}

fn string_array<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    items: &[String],
) -> v8::Local<'s, v8::Value> {
    let values: Vec<v8::Local<v8::Value>> = items.iter().map(|s| v8_str(scope, s).into()).collect();
    v8::Array::new_with_elements(scope, &values).into()
}

/// `fetchStart(method, url, flatHeaders, body, redirect) -> id`: sends an
/// outbound request for the running request; its result arrives as an
/// event. Throws a `TypeError` when the tenant's policy refuses the URL.
fn op_fetch_start(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let method = args.get(0).to_rust_string_lossy(scope);
    let url = args.get(1).to_rust_string_lossy(scope);
    let mut headers = Vec::new();
    if let Ok(flat) = args.get(2).try_cast::<v8::Array>() {
        for i in (0..flat.length()).step_by(2) {
            let name = flat
                .get_index(scope, i)
                .map(|v| v.to_rust_string_lossy(scope));
            let value = flat
                .get_index(scope, i + 1)
                .map(|v| v.to_rust_string_lossy(scope));
            if let (Some(name), Some(value)) = (name, value) {
                headers.push((name, value));
            }
        }
    }
    let Some(body) = bytes_arg(scope, args.get(3), "fetchStart") else {
        return;
    };
    let redirect = match args.get(4).to_rust_string_lossy(scope).as_str() {
        "manual" => RedirectMode::Manual,
        "error" => RedirectMode::Error,
        _ => RedirectMode::Follow,
    };
    let Ok(method) = http::Method::from_bytes(method.as_bytes()) else {
        throw_type_error(scope, &format!("`{method}` is not a valid HTTP method"));
        return;
    };

    // The policy answers now, so that a denied fetch rejects at once.
    let parsed = match url::Url::parse(&url) {
        Ok(parsed) => parsed,
        Err(e) => {
            throw_type_error(scope, &format!("invalid URL `{url}`: {e}"));
            return;
        }
    };
    let host_state = host(scope);
    if let Err(denied) = host_state.policy.check(&parsed) {
        throw_type_error(scope, &denied.to_string());
        return;
    }
    let Some(events) = host_state.current.clone() else {
        throw_type_error(scope, "fetch can only be called while handling a request");
        return;
    };
    let id = host_state.next_fetch;
    host_state.next_fetch = host_state.next_fetch.wrapping_add(1).max(1);
    let policy = host_state.policy.clone();
    let max_body = host_state.max_fetch_body;
    let request = OutboundRequest {
        method,
        url,
        headers,
        body: Bytes::from(body),
        redirect,
    };
    let task = tokio::task::spawn_local(async move {
        let result = outbound::fetch(&policy, request, max_body).await;
        let _ = events.send(Event::Fetch(id, result));
    });
    host_state.fetches.insert(id, task.abort_handle());
    rv.set(v8::Integer::new_from_unsigned(scope, id).into());
}

/// `fetchCancel(id)`.
fn op_fetch_cancel(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    if let Some(id) = args.get(0).uint32_value(scope)
        && let Some(task) = host(scope).fetches.remove(&id)
    {
        task.abort();
    }
}

/// `now() -> ms`: the frozen clock.
fn op_now(
    scope: &mut v8::PinScope,
    _args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let now = host(scope).now_ms;
    rv.set(v8::Number::new(scope, now).into());
}

/// `urlParse(input, base?) -> components | null`.
fn op_url_parse(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let input = args.get(0).to_rust_string_lossy(scope);
    let base = args.get(1);
    let base = (!base.is_undefined()).then(|| base.to_rust_string_lossy(scope));
    match islet_bindings::url::parse(&input, base.as_deref()) {
        Some(parts) => rv.set(string_array(scope, &parts)),
        None => rv.set_null(),
    }
}

/// `urlSet(href, component, value) -> components | null`.
fn op_url_set(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let href = args.get(0).to_rust_string_lossy(scope);
    let component = args.get(1).to_rust_string_lossy(scope);
    let value = args.get(2).to_rust_string_lossy(scope);
    match islet_bindings::url::set(&href, &component, &value) {
        Some(parts) => rv.set(string_array(scope, &parts)),
        None => rv.set_null(),
    }
}

/// `randomFill(u8) -> u8`: fills the view in place.
fn op_random_fill(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let Ok(view) = args.get(0).try_cast::<v8::Uint8Array>() else {
        throw_type_error(scope, "randomFill expects a Uint8Array");
        return;
    };
    let mut bytes = vec![0; view.byte_length()];
    islet_bindings::crypto::random_fill(&mut bytes);
    let fresh = bytes_to_uint8array(scope, &bytes);
    // Copy into the caller's view through JS's own `set`.
    let set_key = v8_str(scope, "set").into();
    if let Some(set) = view
        .get(scope, set_key)
        .and_then(|f| f.try_cast::<v8::Function>().ok())
    {
        set.call(scope, view.into(), &[fresh.into()]);
    }
    rv.set(view.into());
}

/// `digest(hash, bytes) -> u8`.
fn op_digest(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let hash = args.get(0).to_rust_string_lossy(scope);
    let Some(data) = bytes_arg(scope, args.get(1), "digest") else {
        return;
    };
    match islet_bindings::crypto::digest(&hash, &data) {
        Ok(out) => rv.set(bytes_to_uint8array(scope, &out).into()),
        Err(e) => throw_type_error(scope, &e.to_string()),
    }
}

/// `hmacSign(hash, key, data) -> u8`.
fn op_hmac_sign(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let hash = args.get(0).to_rust_string_lossy(scope);
    let (Some(key), Some(data)) = (
        bytes_arg(scope, args.get(1), "hmacSign"),
        bytes_arg(scope, args.get(2), "hmacSign"),
    ) else {
        return;
    };
    match islet_bindings::crypto::hmac_sign(&hash, &key, &data) {
        Ok(tag) => rv.set(bytes_to_uint8array(scope, &tag).into()),
        Err(e) => throw_type_error(scope, &e.to_string()),
    }
}

/// `hmacVerify(hash, key, data, tag) -> bool`.
fn op_hmac_verify(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let hash = args.get(0).to_rust_string_lossy(scope);
    let (Some(key), Some(data), Some(tag)) = (
        bytes_arg(scope, args.get(1), "hmacVerify"),
        bytes_arg(scope, args.get(2), "hmacVerify"),
        bytes_arg(scope, args.get(3), "hmacVerify"),
    ) else {
        return;
    };
    match islet_bindings::crypto::hmac_verify(&hash, &key, &data, &tag) {
        Ok(ok) => rv.set_bool(ok),
        Err(e) => throw_type_error(scope, &e.to_string()),
    }
}

/// `timerStart(ms, id?) -> id`: after `ms`, fires the timer as an event
/// of the request that started it. A timer started outside a request
/// (at module top level) never fires.
fn op_timer_start(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let ms = args.get(0).number_value(scope).unwrap_or(0.0);
    let ms = if ms.is_finite() {
        ms.clamp(0.0, 1e9)
    } else {
        0.0
    };
    let reuse = args.get(1).uint32_value(scope).filter(|id| *id != 0);
    let host = host(scope);
    let id = reuse.unwrap_or_else(|| {
        let id = host.next_timer;
        host.next_timer = host.next_timer.wrapping_add(1).max(1);
        id
    });
    if let Some(events) = host.current.clone() {
        let delay = Duration::from_micros((ms * 1000.0) as u64);
        let task = tokio::task::spawn_local(async move {
            tokio::time::sleep(delay).await;
            let _ = events.send(Event::Timer(id));
        });
        if let Some(old) = host.timers.insert(id, task.abort_handle()) {
            old.abort();
        }
    }
    rv.set(v8::Integer::new_from_unsigned(scope, id).into());
}

/// `timerCancel(id)`.
fn op_timer_cancel(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    if let Some(id) = args.get(0).uint32_value(scope)
        && let Some(timer) = host(scope).timers.remove(&id)
    {
        timer.abort();
    }
}

fn op_utf8_encode(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let text = args.get(0).to_rust_string_lossy(scope);
    rv.set(bytes_to_uint8array(scope, text.as_bytes()).into());
}

fn op_utf8_decode(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let Some(bytes) = bytes_arg(scope, args.get(0), "utf8Decode") else {
        return;
    };
    if args.get(1).is_true() {
        match islet_bindings::text::utf8_decode_strict(&bytes) {
            Some(text) => rv.set(v8_str(scope, text).into()),
            None => rv.set_null(),
        }
        return;
    }
    let text = islet_bindings::text::utf8_decode_lossy(&bytes);
    rv.set(v8_str(scope, &text).into());
}

fn op_log(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let level = args.get(0).int32_value(scope).unwrap_or(1);
    let message = args.get(1).to_rust_string_lossy(scope);
    let tenant = host(scope).tenant.clone();
    islet_bindings::log::tenant_log(
        &tenant,
        islet_bindings::log::Level::from_i32(level),
        &message,
    );
}
