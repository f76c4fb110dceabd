//! The scheduler: worker threads that own isolates.
//!
//! There is a fixed set of worker threads (`server.workers`). Each runs a
//! single-threaded tokio executor with a `LocalSet`, and owns the isolates
//! homed on it outright: they are created, run and dropped on that thread
//! only, which is what V8 requires (an isolate is not `Send`).
//!
//! **Homes.** The first request for a tenant picks its home thread: the
//! one with the fewest tenants homed on it. Every later request for that
//! tenant goes to the same thread, so requests to one isolate interleave
//! on one thread (while one awaits, another runs) but never run in
//! parallel inside it.
//!
//! **Queues.** The front hands a request to its tenant's home thread
//! through a bounded queue (`server.queue_depth`). When the queue is full
//! the request fails at once with `overloaded`: memory never grows without
//! bound under load.
//!
//! **Failures stay local.** A request that throws or traps fails alone.
//! An isolate whose state can no longer be trusted (a wasm instance after
//! a trap) is dropped, and the tenant's next request starts a fresh one.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::engine::{
    Failure, HandlerError, Isolate, ResponseSink, ResponseSource, TenantRequest, response_channel,
};
use crate::outcome::Outcome;
use crate::tenant::Tenant;

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

/// The worker threads and the tenants' homes on them.
pub struct Scheduler {
    workers: Vec<Worker>,
    /// Tenant id → index of its home worker.
    homes: Mutex<HashMap<usize, usize>>,
    /// Tenants homed on each worker.
    load: Mutex<Vec<usize>>,
    stop: watch::Sender<bool>,
}

impl Scheduler {
    /// Starts `workers` threads, each with a queue of `queue_depth`.
    pub fn start(workers: usize, queue_depth: usize) -> std::io::Result<Scheduler> {
        let (stop, _) = watch::channel(false);
        let mut list = Vec::with_capacity(workers);
        for index in 0..workers {
            let (tx, rx) = mpsc::channel(queue_depth);
            let stop_rx = stop.subscribe();
            let thread = std::thread::Builder::new()
                .name(format!("islet-worker-{index}"))
                .spawn(move || worker_main(index, rx, stop_rx))?;
            list.push(Worker {
                queue: tx,
                thread: Mutex::new(Some(thread)),
            });
        }
        Ok(Scheduler {
            workers: list,
            homes: Mutex::new(HashMap::new()),
            load: Mutex::new(vec![0; workers]),
            stop,
        })
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// The home worker of a tenant, choosing one on first use.
    fn home(&self, tenant: &Tenant) -> usize {
        let mut homes = self.homes.lock().expect("homes lock");
        *homes.entry(tenant.id()).or_insert_with(|| {
            let mut load = self.load.lock().expect("load lock");
            let (index, _) = load
                .iter()
                .enumerate()
                .min_by_key(|(_, n)| **n)
                .expect("at least one worker");
            load[index] += 1;
            index
        })
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
                tracing::warn!("a worker thread did not stop in time; leaving it behind");
            }
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The isolates homed on one worker thread.
struct WorkerState {
    index: usize,
    isolates: RefCell<HashMap<usize, Rc<dyn Isolate>>>,
}

impl WorkerState {
    fn isolate(&self, tenant: &Tenant) -> Result<Rc<dyn Isolate>, HandlerError> {
        if let Some(isolate) = self.isolates.borrow().get(&tenant.id()) {
            return Ok(isolate.clone());
        }
        let started = Instant::now();
        let isolate = tenant.program().instantiate(tenant)?;
        tracing::debug!(
            tenant = tenant.name(),
            engine = tenant.engine().as_str(),
            worker = self.index,
            micros = started.elapsed().as_micros() as u64,
            "isolate created"
        );
        self.isolates
            .borrow_mut()
            .insert(tenant.id(), isolate.clone());
        Ok(isolate)
    }

    /// Drops the tenant's isolate if it is still `isolate`.
    fn discard(&self, tenant: &Tenant, isolate: &Rc<dyn Isolate>) {
        let mut isolates = self.isolates.borrow_mut();
        if isolates
            .get(&tenant.id())
            .is_some_and(|current| Rc::ptr_eq(current, isolate))
        {
            isolates.remove(&tenant.id());
            tracing::debug!(
                tenant = tenant.name(),
                worker = self.index,
                "isolate discarded"
            );
        }
    }
}

fn worker_main(index: usize, mut queue: mpsc::Receiver<Job>, mut stop: watch::Receiver<bool>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a worker thread's runtime starts");
    let local = tokio::task::LocalSet::new();
    let state = Rc::new(WorkerState {
        index,
        isolates: RefCell::new(HashMap::new()),
    });
    let worker = state.clone();
    local.block_on(&runtime, async move {
        let mut tasks = JoinSet::new();
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
    state.isolates.borrow_mut().clear();
}

/// Runs one request on its tenant's isolate and reports a failure.
async fn run(worker: Rc<WorkerState>, job: Job) {
    let Job {
        tenant,
        request,
        sink,
    } = job;
    let isolate = match worker.isolate(&tenant) {
        Ok(isolate) => isolate,
        Err(error) => {
            // Debug-format the message: stacks stay on one log line.
            tracing::warn!(tenant = tenant.name(), error = ?error.to_string(), "tenant failed to start");
            sink.fail(Failure::new(error.outcome(), error.to_string()));
            return;
        }
    };
    let result = isolate.clone().handle(request, sink.clone()).await;
    let Err(error) = result else {
        return;
    };
    if error.poisons_isolate() {
        worker.discard(&tenant, &isolate);
    }
    if error != HandlerError::ClientGone {
        tracing::warn!(tenant = tenant.name(), error = ?error.to_string(), "tenant failed");
    }
    sink.fail(Failure::new(error.outcome(), error.to_string()));
}
