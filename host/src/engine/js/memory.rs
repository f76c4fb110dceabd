//! An isolate's memory budget: array buffers through a counting allocator,
//! the heap through V8's near-heap-limit callback. Going over either stops
//! the tenant (its isolate is then dropped) instead of aborting the
//! process.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// An isolate's memory accounting: array buffers through the allocator,
/// the heap through the near-heap-limit callback.
pub(super) struct MemoryGuard {
    pub(super) handle: OnceLock<v8::IsolateHandle>,
    /// Set once the isolate went over its limit; it is then discarded.
    pub(super) over: AtomicBool,
    pub(super) external: AtomicUsize,
    pub(super) external_limit: usize,
}

impl MemoryGuard {
    pub(super) fn overrun(&self) {
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

pub(super) static ARRAY_BUFFER_VTABLE: v8::RustAllocatorVtable<MemoryGuard> =
    v8::RustAllocatorVtable {
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
pub(super) unsafe extern "C" fn near_heap_limit(
    data: *mut c_void,
    current: usize,
    _initial: usize,
) -> usize {
    // SAFETY: `data` is the `MemoryGuard` registered in `instantiate`,
    // which outlives the isolate.
    let guard = unsafe { &*(data as *const MemoryGuard) };
    guard.overrun();
    current + current / 2 + (16 << 20)
}

impl MemoryGuard {
    /// A guard for an isolate of `limit` bytes.
    pub(super) fn new(limit: usize) -> Arc<MemoryGuard> {
        Arc::new(MemoryGuard {
            handle: OnceLock::new(),
            over: AtomicBool::new(false),
            external: AtomicUsize::new(0),
            external_limit: limit,
        })
    }

    /// Whether the isolate went over its limit.
    pub(super) fn is_over(&self) -> bool {
        self.over.load(Ordering::Acquire)
    }

    /// Bytes of array buffers alive.
    pub(super) fn external_bytes(&self) -> usize {
        self.external.load(Ordering::Acquire)
    }
}
