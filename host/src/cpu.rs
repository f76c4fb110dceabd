//! CPU accounting on the worker threads' CPU clocks, and the watchdog
//! that stops a request that overruns its budget.
//!
//! **Slices.** A request's CPU time is the sum of the slices in which its
//! own code ran. The scheduler wraps every request's future in
//! [`Metered`]: each poll of that future is one slice, read on
//! `CLOCK_THREAD_CPUTIME_ID` when it starts and when it ends, and charged
//! to that request's [`CpuMeter`] only. Time spent waiting between polls
//! (for a timer, for the client) costs nothing, and requests that
//! interleave on one thread are charged separately.
//!
//! **The watchdog.** While a slice runs, its worker publishes it in its
//! [`WorkerClock`]. One watchdog thread reads each busy worker's CPU clock
//! from outside (`pthread_getcpuclockid`) and, when a request's charge
//! passes its budget, marks the meter exceeded and calls the isolate's
//! [`Interrupt`]: V8 terminates the running script; wasmtime bumps its
//! epoch so that the store's epoch callback traps. The watchdog sleeps
//! until the earliest budget could run out (between 50 µs and 1 ms). It
//! parks only after 100 ms without any slice, so that a stream of short
//! requests never pays for waking it.
//!
//! **No stray stops.** A slice is published and withdrawn under its
//! worker's lock, and the watchdog interrupts only while holding that same
//! lock, so an interrupt always targets the slice that overran. An
//! interrupt can still land just after the script returned (V8 keeps it
//! pending); engines therefore clear any pending interrupt before they
//! start the next slice.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::Thread;
use std::time::Duration;

/// Reads this thread's CPU clock.
pub fn thread_cpu_now() -> Duration {
    clock_now(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn clock_now(clock: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; `clock_gettime` only
    // writes to it. The clock ids used here are the calling thread's own
    // or another live worker's (see `WorkerClock`).
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Stops the code running in an isolate, from any thread.
pub trait Interrupt: Send + Sync {
    /// Asks the engine to stop the running code as soon as it can.
    fn interrupt(&self);
}

/// An [`Interrupt`] filled in once the isolate exists: the watchdog may
/// need to stop a request while its isolate is still being created.
#[derive(Default)]
pub struct InterruptSlot {
    target: Mutex<Option<Arc<dyn Interrupt>>>,
}

impl InterruptSlot {
    /// An empty slot.
    pub fn new() -> Arc<InterruptSlot> {
        Arc::new(InterruptSlot::default())
    }

    /// Points the slot at an isolate's interrupt.
    pub fn set(&self, target: Arc<dyn Interrupt>) {
        *self.target.lock().expect("interrupt lock") = Some(target);
    }
}

impl Interrupt for InterruptSlot {
    fn interrupt(&self) {
        if let Some(target) = &*self.target.lock().expect("interrupt lock") {
            target.interrupt();
        }
    }
}

/// The CPU budget and charge of one request.
#[derive(Debug)]
pub struct CpuMeter {
    budget: Duration,
    /// Nanoseconds charged by finished slices.
    charged: AtomicU64,
    /// Thread CPU time (ns) at the start of the running slice, or 0.
    slice_start: AtomicU64,
    exceeded: AtomicBool,
}

impl CpuMeter {
    /// A meter with this budget and nothing charged.
    pub fn new(budget: Duration) -> Arc<CpuMeter> {
        Arc::new(CpuMeter {
            budget,
            charged: AtomicU64::new(0),
            slice_start: AtomicU64::new(0),
            exceeded: AtomicBool::new(false),
        })
    }

    /// The budget.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// CPU used so far, including the running slice when called on the
    /// request's own worker thread.
    pub fn used(&self) -> Duration {
        let charged = self.charged.load(Ordering::Acquire);
        let start = self.slice_start.load(Ordering::Acquire);
        let running = if start == 0 {
            0
        } else {
            (thread_cpu_now().as_nanos() as u64).saturating_sub(start)
        };
        Duration::from_nanos(charged + running)
    }

    /// Whether the watchdog (or an engine) found the budget overrun.
    pub fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::Acquire)
    }

    /// Marks the budget overrun; returns whether it was already marked.
    pub fn mark_exceeded(&self) -> bool {
        self.exceeded.swap(true, Ordering::AcqRel)
    }

    /// For engines that check on their own thread (wasm's epoch
    /// callback): whether the budget is spent, marking it if so.
    pub fn check(&self) -> bool {
        if self.exceeded() {
            return true;
        }
        if self.used() > self.budget {
            self.mark_exceeded();
            return true;
        }
        false
    }
}

/// The slice a worker is running, as the watchdog sees it.
struct Slice {
    meter: Arc<CpuMeter>,
    /// Thread CPU time at the slice's start.
    start: Duration,
    interrupt: Arc<dyn Interrupt>,
}

/// One worker thread's CPU clock and running slice.
pub struct WorkerClock {
    clock: libc::clockid_t,
    current: Mutex<Option<Slice>>,
    watchdog: Arc<Watchdog>,
}

impl WorkerClock {
    /// Registers the calling thread with the watchdog. The clock must be
    /// dropped by the time the thread exits.
    pub fn for_current_thread(watchdog: &Arc<Watchdog>) -> Arc<WorkerClock> {
        let mut clock: libc::clockid_t = 0;
        // SAFETY: `pthread_self()` is the calling, live thread, and
        // `clock` is a valid place for the result.
        let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
        assert_eq!(rc, 0, "every Linux thread has a CPU clock");
        let worker = Arc::new(WorkerClock {
            clock,
            current: Mutex::new(None),
            watchdog: watchdog.clone(),
        });
        watchdog
            .workers
            .lock()
            .expect("watchdog lock")
            .push(worker.clone());
        worker
    }

    fn begin(&self, meter: &Arc<CpuMeter>, interrupt: &Arc<dyn Interrupt>) -> Duration {
        let start = thread_cpu_now();
        meter
            .slice_start
            .store(start.as_nanos().max(1) as u64, Ordering::Release);
        *self.current.lock().expect("slice lock") = Some(Slice {
            meter: meter.clone(),
            start,
            interrupt: interrupt.clone(),
        });
        self.watchdog.slice_started();
        start
    }

    fn end(&self, meter: &CpuMeter, start: Duration) {
        *self.current.lock().expect("slice lock") = None;
        self.watchdog.active.fetch_sub(1, Ordering::AcqRel);
        let spent = thread_cpu_now().saturating_sub(start);
        meter
            .charged
            .fetch_add(spent.as_nanos() as u64, Ordering::AcqRel);
        meter.slice_start.store(0, Ordering::Release);
    }

    /// Looks at the running slice from the watchdog thread: interrupts it
    /// if it overran, otherwise returns how much budget it has left.
    fn inspect(&self) -> Option<Duration> {
        let current = self.current.lock().expect("slice lock");
        let slice = current.as_ref()?;
        let now = clock_now(self.clock);
        let used = Duration::from_nanos(slice.meter.charged.load(Ordering::Acquire))
            + now.saturating_sub(slice.start);
        if used > slice.meter.budget {
            if !slice.meter.mark_exceeded() {
                slice.interrupt.interrupt();
            }
            return None;
        }
        Some(slice.meter.budget - used)
    }
}

/// The watchdog thread's shared state.
pub struct Watchdog {
    workers: Mutex<Vec<Arc<WorkerClock>>>,
    /// Slices running now.
    active: AtomicUsize,
    /// Whether the watchdog thread is parked (or about to park).
    parked: AtomicBool,
    thread: Mutex<Option<Thread>>,
    stop: AtomicBool,
}

const MAX_SLEEP: Duration = Duration::from_millis(1);
const MIN_SLEEP: Duration = Duration::from_micros(50);
/// How long the watchdog stays awake without slices before it parks.
const IDLE_BEFORE_PARK: Duration = Duration::from_millis(100);

impl Watchdog {
    /// Starts the watchdog thread.
    pub fn start() -> std::io::Result<Arc<Watchdog>> {
        let watchdog = Arc::new(Watchdog {
            workers: Mutex::new(Vec::new()),
            active: AtomicUsize::new(0),
            parked: AtomicBool::new(false),
            thread: Mutex::new(None),
            stop: AtomicBool::new(false),
        });
        let this = watchdog.clone();
        let handle = std::thread::Builder::new()
            .name("islet-watchdog".into())
            .spawn(move || this.run())?;
        *watchdog.thread.lock().expect("watchdog lock") = Some(handle.thread().clone());
        Ok(watchdog)
    }

    fn slice_started(&self) {
        // SeqCst pairs with `run`: either the watchdog sees this slice
        // before it parks, or this sees it parked and wakes it.
        self.active.fetch_add(1, Ordering::SeqCst);
        if self.parked.load(Ordering::SeqCst)
            && let Some(thread) = &*self.thread.lock().expect("watchdog lock")
        {
            thread.unpark();
        }
    }

    /// Stops the watchdog thread.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = &*self.thread.lock().expect("watchdog lock") {
            thread.unpark();
        }
    }

    fn run(self: Arc<Self>) {
        let mut last_busy = std::time::Instant::now();
        while !self.stop.load(Ordering::Acquire) {
            if self.active.load(Ordering::SeqCst) == 0 {
                if last_busy.elapsed() < IDLE_BEFORE_PARK {
                    std::thread::sleep(MAX_SLEEP);
                    continue;
                }
                self.parked.store(true, Ordering::SeqCst);
                if self.active.load(Ordering::SeqCst) == 0 {
                    std::thread::park();
                }
                self.parked.store(false, Ordering::SeqCst);
                last_busy = std::time::Instant::now();
                continue;
            }
            last_busy = std::time::Instant::now();
            let workers = self.workers.lock().expect("watchdog lock").clone();
            let mut sleep = MAX_SLEEP;
            for worker in &workers {
                if let Some(left) = worker.inspect() {
                    sleep = sleep.min(left);
                }
            }
            std::thread::sleep(sleep.max(MIN_SLEEP));
        }
    }
}

/// A request's future, charged slice by slice to its meter and watched
/// by the watchdog.
pub struct Metered<F> {
    inner: Pin<Box<F>>,
    meter: Arc<CpuMeter>,
    clock: Arc<WorkerClock>,
    interrupt: Arc<dyn Interrupt>,
}

impl<F: Future> Metered<F> {
    /// Wraps `inner`; each poll is one slice on the current thread.
    pub fn new(
        inner: F,
        meter: Arc<CpuMeter>,
        clock: Arc<WorkerClock>,
        interrupt: Arc<dyn Interrupt>,
    ) -> Self {
        Metered {
            inner: Box::pin(inner),
            meter,
            clock,
            interrupt,
        }
    }
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let start = this.clock.begin(&this.meter, &this.interrupt);
        let result = this.inner.as_mut().poll(cx);
        this.clock.end(&this.meter, start);
        result
    }
}
