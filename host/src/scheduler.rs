//! The scheduler: worker threads that own isolates, and the limits on
//! what tenant code may use.
//!
//! **Threads.** There is a fixed set of worker threads (`server.workers`).
//! Each runs a single-threaded tokio executor with a `LocalSet` and owns
//! the isolates homed on it outright: they are created, run, measured and
//! dropped on that thread only, which is what V8 requires (an isolate is
//! not `Send`) and costs wasmtime nothing.
//!
//! **Homes.** The first request for a tenant picks its home thread: the
//! one with the fewest tenants homed on it. Every later request for the
//! tenant goes to the same thread, so requests to one isolate interleave
//! on one thread (while one awaits, another runs) but never run in
//! parallel inside it. A home is kept for the tenant's lifetime, also
//! after its isolate is evicted, so that a tenant never has two isolates.
//!
//! **Queues.** The front hands a request to its tenant's home thread
//! through a bounded queue (`server.queue_depth`). When the queue is full
//! the request fails at once with `overloaded`: memory never grows without
//! bound under load.
//!
//! **CPU.** Each request gets a [`CpuMeter`] with its tenant's `cpu_ms`;
//! its future (including a cold start it causes) is wrapped in
//! [`Metered`], so only the slices in which its own code runs are charged,
//! and the watchdog stops it when the budget runs out (see [`crate::cpu`]).
//! A wall-clock limit (`wall_ms`) bounds a request that waits forever.
//!
//! **Quarantine.** A thread cannot preempt a script it is running, so a
//! tenant that keeps burning its whole CPU budget delays every request
//! queued behind it on its thread. After [`QUARANTINE_STRIKES`] requests
//! stopped for CPU, a tenant is moved to a quarantine thread
//! (`server.quarantine_workers`, run at a low OS priority): its isolate is
//! dropped and its next request cold-starts there. Well-behaved tenants
//! never share a thread with it again, and the OS gives them the CPU
//! first. A tenant stays quarantined until the host restarts.
//!
//! **Memory.** Isolates enforce their own `memory_mb`; one that outgrows
//! it is dropped. Each worker publishes the memory its isolates hold.
//! When the process-wide sum is over `server.memory_target_mb`, workers
//! evict idle isolates (no request in flight), highest score first, where
//!
//! ```text
//! score = bytes held × seconds since last use
//! ```
//!
//! so large isolates that have been idle long go first, and a small one
//! used a moment ago goes last. Evicted tenants cold-start on their next
//! request.
//!
//! **Failures stay local.** A request that throws or traps fails alone.
//! An isolate whose state can no longer be trusted (a wasm instance after
//! a trap, a request abandoned at its wall-clock limit) is dropped.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::cpu::{CpuMeter, InterruptSlot, Metered, Watchdog, WorkerClock};
use crate::engine::{
    Failure, HandlerError, Isolate, ResponseSink, ResponseSource, Startup, TenantRequest,
    response_channel,
};
use crate::metrics::{EvictionReason, Metrics};
use crate::outcome::Outcome;
use crate::tenant::Tenant;

/// Stack size of worker threads: V8 takes about 1 MiB for JavaScript,
/// and the rest is for the host's own frames.
const WORKER_STACK: usize = 8 << 20;

/// Requests stopped for CPU before a tenant is quarantined.
pub const QUARANTINE_STRIKES: u32 = 3;

/// The `nice` value of quarantine threads.
const QUARANTINE_NICE: libc::c_int = 15;

/// How often an idle worker rechecks the memory target.
const MEMORY_TICK: Duration = Duration::from_millis(250);

/// Scheduler settings.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Number of worker threads for tenants in good standing.
    pub workers: usize,
    /// Number of low-priority threads for quarantined tenants; 0 turns
    /// quarantine off.
    pub quarantine_workers: usize,
    /// Capacity of each worker's queue.
    pub queue_depth: usize,
    /// Process-wide memory target for isolates, in bytes.
    pub memory_target: Option<usize>,
}

/// A request on its way to a worker thread.
struct Job {
    tenant: Arc<Tenant>,
    request: TenantRequest,
    sink: ResponseSink,
}

struct Worker {
    queue: mpsc::Sender<Job>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// State shared by the dispatcher and every worker.
struct Shared {
    /// Tenant id → index of its home worker.
    homes: Mutex<HashMap<usize, usize>>,
    /// Tenants homed on each worker.
    load: Mutex<Vec<usize>>,
    /// Workers `0..normal` serve tenants in good standing; the rest are
    /// quarantine threads.
    normal: usize,
    /// Bytes held by each worker's isolates.
    memory: Vec<AtomicUsize>,
    memory_target: Option<usize>,
    metrics: Arc<Metrics>,
    watchdog: Arc<Watchdog>,
}

impl Shared {
    /// The worker in `range` with the fewest tenants, now with one more.
    fn least_loaded(&self, range: std::ops::Range<usize>) -> usize {
        let mut load = self.load.lock().expect("load lock");
        let index = range
            .min_by_key(|i| load[*i])
            .expect("at least one worker in range");
        load[index] += 1;
        index
    }

    /// Re-homes a tenant on a quarantine thread; false if there is none
    /// or it is there already.
    fn quarantine(&self, tenant: &Tenant) -> bool {
        if self.normal == self.memory.len() {
            return false;
        }
        let mut homes = self.homes.lock().expect("homes lock");
        let Some(home) = homes.get(&tenant.id()).copied() else {
            return false;
        };
        if home >= self.normal {
            return false;
        }
        let to = self.least_loaded(self.normal..self.memory.len());
        self.load.lock().expect("load lock")[home] -= 1;
        homes.insert(tenant.id(), to);
        true
    }

    fn home_of(&self, tenant: &Tenant) -> Option<usize> {
        self.homes
            .lock()
            .expect("homes lock")
            .get(&tenant.id())
            .copied()
    }

    fn total_memory(&self) -> usize {
        self.memory.iter().map(|m| m.load(Ordering::Acquire)).sum()
    }
}

/// The worker threads and the tenants' homes on them.
pub struct Scheduler {
    workers: Vec<Worker>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
}

impl Scheduler {
    /// Starts the worker threads and the CPU watchdog.
    pub fn start(config: &SchedulerConfig, metrics: Arc<Metrics>) -> std::io::Result<Scheduler> {
        let (stop, _) = watch::channel(false);
        let total = config.workers + config.quarantine_workers;
        let shared = Arc::new(Shared {
            homes: Mutex::new(HashMap::new()),
            load: Mutex::new(vec![0; total]),
            normal: config.workers,
            memory: (0..total).map(|_| AtomicUsize::new(0)).collect(),
            memory_target: config.memory_target,
            metrics,
            watchdog: Watchdog::start()?,
        });
        let mut workers = Vec::with_capacity(total);
        for index in 0..total {
            let (tx, rx) = mpsc::channel(config.queue_depth);
            let stop_rx = stop.subscribe();
            let shared = shared.clone();
            let name = if index < config.workers {
                format!("islet-worker-{index}")
            } else {
                format!("islet-quarantine-{}", index - config.workers)
            };
            let thread = std::thread::Builder::new()
                .name(name)
                .stack_size(WORKER_STACK)
                .spawn(move || worker_main(index, shared, rx, stop_rx))?;
            workers.push(Worker {
                queue: tx,
                thread: Mutex::new(Some(thread)),
            });
        }
        Ok(Scheduler {
            workers,
            shared,
            stop,
        })
    }

    /// Number of worker threads, quarantine threads included.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Bytes held by all isolates, as last published by the workers.
    pub fn isolate_memory(&self) -> usize {
        self.shared.total_memory()
    }

    /// The home worker of a tenant, choosing one on first use.
    fn home(&self, tenant: &Tenant) -> usize {
        let mut homes = self.shared.homes.lock().expect("homes lock");
        *homes
            .entry(tenant.id())
            .or_insert_with(|| self.shared.least_loaded(0..self.shared.normal))
    }

    /// Queues a request on its tenant's home thread. Fails at once with
    /// `overloaded` when that thread's queue is full.
    pub fn dispatch(
        &self,
        tenant: &Arc<Tenant>,
        request: TenantRequest,
    ) -> Result<ResponseSource, Failure> {
        let worker = &self.workers[self.home(tenant)];
        let (sink, source) = response_channel();
        let job = Job {
            tenant: tenant.clone(),
            request,
            sink,
        };
        match worker.queue.try_send(job) {
            Ok(()) => Ok(source),
            Err(mpsc::error::TrySendError::Full(_)) => Err(Failure::new(
                Outcome::Overloaded,
                format!(
                    "the worker thread of tenant `{}` has a full queue",
                    tenant.name()
                ),
            )),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Failure::new(
                Outcome::ShuttingDown,
                "the host is shutting down",
            )),
        }
    }

    /// Stops the workers: queued requests fail with `shutting-down`,
    /// running ones get up to `grace` to finish, then the threads exit.
    pub fn shutdown(&self, grace: Duration) {
        let _ = self.stop.send(true);
        let deadline = Instant::now() + grace;
        for worker in &self.workers {
            let Some(thread) = worker.thread.lock().expect("thread lock").take() else {
                continue;
            };
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if thread.is_finished() {
                let _ = thread.join();
            } else {
                tracing::error!("a worker thread did not stop in time; leaving it behind");
            }
        }
        self.shared.watchdog.stop();
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.shared.watchdog.stop();
    }
}

/// A live isolate on a worker, with what eviction needs to know.
struct Entry {
    tenant: Arc<Tenant>,
    isolate: Rc<dyn Isolate>,
    last_used: Instant,
    in_flight: usize,
    bytes: usize,
}

/// The isolates homed on one worker thread.
struct WorkerState {
    index: usize,
    shared: Arc<Shared>,
    clock: Arc<WorkerClock>,
    isolates: RefCell<HashMap<usize, Entry>>,
    /// Requests stopped for CPU, by tenant id.
    strikes: RefCell<HashMap<usize, u32>>,
}

impl WorkerState {
    /// The tenant's isolate, created (and charged to `startup.meter`) if
    /// there is none.
    fn isolate(
        &self,
        tenant: &Arc<Tenant>,
        startup: &Startup,
    ) -> Result<Rc<dyn Isolate>, HandlerError> {
        if let Some(entry) = self.isolates.borrow_mut().get_mut(&tenant.id()) {
            entry.in_flight += 1;
            return Ok(entry.isolate.clone());
        }
        let started = Instant::now();
        let isolate = tenant.program().instantiate(tenant, startup)?;
        let elapsed = started.elapsed();
        let bytes = isolate.memory_bytes();
        let metrics = &self.shared.metrics;
        metrics.cold_start(tenant.engine(), elapsed.as_secs_f64());
        metrics.memory_changed(tenant.engine(), 0, bytes);
        tracing::debug!(
            tenant = tenant.name(),
            engine = tenant.engine().as_str(),
            worker = self.index,
            micros = elapsed.as_micros() as u64,
            bytes,
            "isolate created"
        );
        self.isolates.borrow_mut().insert(
            tenant.id(),
            Entry {
                tenant: tenant.clone(),
                isolate: isolate.clone(),
                last_used: Instant::now(),
                in_flight: 1,
                bytes,
            },
        );
        self.publish_memory();
        Ok(isolate)
    }

    /// Books the end of a request on `isolate` and refreshes its memory.
    fn finished(&self, tenant: &Tenant, isolate: &Rc<dyn Isolate>) {
        let mut isolates = self.isolates.borrow_mut();
        let Some(entry) = isolates.get_mut(&tenant.id()) else {
            return;
        };
        if !Rc::ptr_eq(&entry.isolate, isolate) {
            return;
        }
        entry.in_flight -= 1;
        entry.last_used = Instant::now();
        let bytes = isolate.memory_bytes();
        self.shared
            .metrics
            .memory_changed(tenant.engine(), entry.bytes, bytes);
        entry.bytes = bytes;

        // Requests queued here before the tenant was quarantined may have
        // started a stray isolate; drop it once it is idle.
        let idle = entry.in_flight == 0;
        drop(isolates);
        if idle && self.shared.home_of(tenant) != Some(self.index) {
            self.discard(tenant, isolate, EvictionReason::Quarantine);
        }
    }

    /// Drops the tenant's isolate if it is still `isolate`.
    fn discard(&self, tenant: &Tenant, isolate: &Rc<dyn Isolate>, reason: EvictionReason) {
        let removed = {
            let mut isolates = self.isolates.borrow_mut();
            match isolates.get(&tenant.id()) {
                Some(entry) if Rc::ptr_eq(&entry.isolate, isolate) => isolates.remove(&tenant.id()),
                _ => None,
            }
        };
        if let Some(entry) = removed {
            self.dropped(entry, reason);
        }
    }

    fn dropped(&self, entry: Entry, reason: EvictionReason) {
        tracing::debug!(
            tenant = entry.tenant.name(),
            worker = self.index,
            bytes = entry.bytes,
            reason = ?reason,
            "isolate evicted"
        );
        self.shared
            .metrics
            .isolate_dropped(entry.tenant.engine(), entry.bytes, Some(reason));
        // The isolate itself goes when the last request holding it ends.
        drop(entry);
        self.publish_memory();
    }

    /// Counts a request stopped for CPU; quarantines the tenant at
    /// [`QUARANTINE_STRIKES`].
    fn strike(&self, tenant: &Tenant, isolate: &Rc<dyn Isolate>) {
        let strikes = {
            let mut strikes = self.strikes.borrow_mut();
            let count = strikes.entry(tenant.id()).or_default();
            *count += 1;
            *count
        };
        if strikes < QUARANTINE_STRIKES || !self.shared.quarantine(tenant) {
            return;
        }
        self.strikes.borrow_mut().remove(&tenant.id());
        tracing::warn!(
            tenant = tenant.name(),
            "tenant `{}` moved to a quarantine thread after {strikes} requests over its CPU limit",
            tenant.name()
        );
        self.discard(tenant, isolate, EvictionReason::Quarantine);
    }

    fn publish_memory(&self) {
        let total = self.isolates.borrow().values().map(|e| e.bytes).sum();
        self.shared.memory[self.index].store(total, Ordering::Release);
    }

    /// Evicts idle isolates while the process is over its memory target.
    fn enforce_memory_target(&self) {
        let Some(target) = self.shared.memory_target else {
            return;
        };
        self.publish_memory();
        if self.shared.total_memory() <= target {
            return;
        }
        let now = Instant::now();
        let mut candidates: Vec<(f64, usize)> = self
            .isolates
            .borrow()
            .iter()
            .filter(|(_, e)| e.in_flight == 0)
            .map(|(id, e)| {
                let idle = now.duration_since(e.last_used).as_secs_f64().max(1e-3);
                (e.bytes as f64 * idle, *id)
            })
            .collect();
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (_, id) in candidates {
            if self.shared.total_memory() <= target {
                break;
            }
            let entry = self.isolates.borrow_mut().remove(&id);
            if let Some(entry) = entry {
                self.dropped(entry, EvictionReason::MemoryTarget);
            }
        }
    }
}

fn worker_main(
    index: usize,
    shared: Arc<Shared>,
    mut queue: mpsc::Receiver<Job>,
    mut stop: watch::Receiver<bool>,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a worker thread's runtime starts");
    let local = tokio::task::LocalSet::new();
    let clock = WorkerClock::for_current_thread(&shared.watchdog);
    if index >= shared.normal {
        // SAFETY: `setpriority` only reads its arguments; the id is this
        // thread's own.
        let rc = unsafe {
            libc::setpriority(
                libc::PRIO_PROCESS,
                libc::gettid() as libc::id_t,
                QUARANTINE_NICE,
            )
        };
        if rc != 0 {
            tracing::debug!("cannot lower the priority of a quarantine thread");
        }
    }
    let state = Rc::new(WorkerState {
        index,
        shared,
        clock,
        isolates: RefCell::new(HashMap::new()),
        strikes: RefCell::new(HashMap::new()),
    });
    let worker = state.clone();
    local.block_on(&runtime, async move {
        let mut tasks = JoinSet::new();
        let mut tick = tokio::time::interval(MEMORY_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                job = queue.recv() => match job {
                    Some(job) => {
                        tasks.spawn_local(run(worker.clone(), job));
                    }
                    None => break,
                },
                _ = stop.changed() => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = tick.tick() => worker.enforce_memory_target(),
            }
        }

        // Refuse what is still queued; let running requests finish.
        queue.close();
        while let Ok(job) = queue.try_recv() {
            job.sink.fail(Failure::new(
                Outcome::ShuttingDown,
                "the host is shutting down",
            ));
        }
        while tasks.join_next().await.is_some() {}
    });
    // Isolates are dropped here, on their own thread.
    let entries: Vec<Entry> = state
        .isolates
        .borrow_mut()
        .drain()
        .map(|(_, e)| e)
        .collect();
    for entry in entries {
        state
            .shared
            .metrics
            .isolate_dropped(entry.tenant.engine(), entry.bytes, None);
    }
}

/// Runs one request under its limits and reports how it ended.
async fn run(worker: Rc<WorkerState>, job: Job) {
    let Job {
        tenant,
        request,
        sink,
    } = job;
    let limits = tenant.limits();
    let meter = CpuMeter::new(Duration::from_millis(limits.cpu_ms));
    let interrupt = InterruptSlot::new();
    let used: Rc<RefCell<Option<Rc<dyn Isolate>>>> = Rc::default();
    let reply = sink.clone();

    // Get (or cold-start) the isolate and handle the request, as one
    // metered future.
    let work = {
        let (worker, tenant, meter, interrupt, used) = (
            worker.clone(),
            tenant.clone(),
            meter.clone(),
            interrupt.clone(),
            used.clone(),
        );
        async move {
            let startup = Startup {
                meter: meter.clone(),
                interrupt: interrupt.clone(),
            };
            let isolate = worker.isolate(&tenant, &startup)?;
            interrupt.set(isolate.interrupt());
            *used.borrow_mut() = Some(isolate.clone());
            isolate.handle(request, sink, meter).await
        }
    };
    let metered = Metered::new(work, meter.clone(), worker.clock.clone(), interrupt);
    let wall = Duration::from_millis(limits.wall_ms);
    let result = match tokio::time::timeout(wall, metered).await {
        Ok(result) => result,
        Err(_) => Err(HandlerError::ExceededWall { limit: wall }),
    };

    // Book the request.
    worker
        .shared
        .metrics
        .cpu(tenant.name(), meter.used().as_secs_f64());
    let isolate = used.borrow_mut().take();
    if let Some(isolate) = &isolate {
        worker.finished(&tenant, isolate);
    }

    if let Err(error) = result {
        if let Some(isolate) = &isolate
            && error.poisons_isolate()
        {
            let reason = match error {
                HandlerError::ExceededMemory { .. } => EvictionReason::ExceededMemory,
                _ => EvictionReason::Failed,
            };
            worker.discard(&tenant, isolate, reason);
        }
        if matches!(error, HandlerError::ExceededCpu { .. })
            && let Some(isolate) = &isolate
        {
            worker.strike(&tenant, isolate);
        }
        if error != HandlerError::ClientGone {
            // Debug-format the message: stacks stay on one log line.
            tracing::warn!(
                tenant = tenant.name(),
                error = ?format!("tenant `{}` {}", tenant.name(), error),
                "tenant failed"
            );
        }
        reply.fail(Failure::new(error.outcome(), error.to_string()));
    }
    worker.enforce_memory_target();
}
