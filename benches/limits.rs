//! What the limits cost and how well they hold, measured in-process
//! through `islet::Host` (no HTTP), side by side in one run:
//!
//! 1. **CPU-limit overshoot**: how far past `cpu_ms` a runaway request
//!    gets before it is stopped, for V8 and wasmtime (from the CPU charged
//!    to each request; target under 1 ms at p99).
//! 2. **Cost of CPU accounting**: one metered slice (two thread-clock
//!    reads, publishing the slice to the watchdog) next to a whole
//!    hello-world request (target under 2%).
//! 3. **Noisy neighbours**: p99 latency of a well-behaved tenant alone,
//!    and while ten runaway tenants share its host (target under 1.5x).
//!
//! Run with `cargo bench -p islet-benches --bench limits`. Set
//! `ISLET_BENCH_QUICK=1` for a shorter run.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use islet::cpu::{CpuMeter, Interrupt, Metered, Watchdog, WorkerClock};
use islet::{Config, Host};

#[path = "inprocess.rs"]
#[allow(dead_code)] // this bench uses only some of the helpers
mod inprocess;
#[path = "project.rs"]
mod project;

use inprocess::percentile;

const RUNAWAY_JS: &str = "export default { fetch() { while (true) {} } };";
const HELLO_JS: &str = r#"export default { fetch() { return new Response("hello"); } };"#;
const RUNAWAY_WAT: &str = r#"(module (memory (export "memory") 1)
  (func (export "islet_handle") (loop $l (br $l))))"#;

fn main() {
    let quick = std::env::var_os("ISLET_BENCH_QUICK").is_some();
    islet::init_v8();
    let runtime = inprocess::driver();

    println!("## CPU limits (islet-benches/limits.rs)\n");
    let machine = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("{machine} cores; tenants run on 2 worker threads.\n");

    let overshoot_runs = if quick { 20 } else { 150 };
    println!("### Overshoot past `cpu_ms` = 20 ({overshoot_runs} runaway requests each)\n");
    println!("| engine | p50 | p99 | max |");
    println!("|---|---|---|---|");
    for (engine, file, code) in [
        ("v8", "spin.js", RUNAWAY_JS),
        ("wasmtime", "spin.wat", RUNAWAY_WAT),
    ] {
        let mut overshoot = runtime.block_on(overshoots(file, code, overshoot_runs));
        overshoot.sort_by(f64::total_cmp);
        println!(
            "| {engine} | {:.3} ms | {:.3} ms | {:.3} ms |",
            percentile(&overshoot, 0.50),
            percentile(&overshoot, 0.99),
            overshoot.last().copied().unwrap_or(0.0)
        );
    }

    println!("\n### Cost of CPU accounting on a hello-world request\n");
    let slice = metered_slice_cost(if quick { 100_000 } else { 1_000_000 });
    let request = runtime.block_on(hello_cost(if quick { 2_000 } else { 20_000 }));
    println!("| metered slice | hello-world request (in-process, mean) | ratio |");
    println!("|---|---|---|");
    println!(
        "| {:.0} ns | {:.1} µs | {:.2}% |",
        slice.as_nanos(),
        request.as_secs_f64() * 1e6,
        100.0 * slice.as_secs_f64() / request.as_secs_f64()
    );

    println!("\n### A well-behaved tenant's latency next to ten runaway tenants\n");
    let samples = if quick { 200 } else { 400 };
    let (quiet, noisy) = runtime.block_on(noisy_neighbours(samples));
    println!("| | p50 | p99 |");
    println!("|---|---|---|");
    println!(
        "| alone | {:.3} ms | {:.3} ms |",
        percentile(&quiet, 0.5),
        percentile(&quiet, 0.99)
    );
    println!(
        "| with 10 runaway tenants | {:.3} ms | {:.3} ms |",
        percentile(&noisy, 0.5),
        percentile(&noisy, 0.99)
    );
    println!(
        "| ratio | {:.1}x | {:.1}x |",
        percentile(&noisy, 0.5) / percentile(&quiet, 0.5),
        percentile(&noisy, 0.99) / percentile(&quiet, 0.99)
    );
}

/// A host of the given tenants, each routed at `NAME.bench/*`.
fn host(tenants: &[(&str, &str, &str)], cpu_ms: u64) -> (tempfile::TempDir, Host) {
    let tenants: Vec<(&str, &str, &[u8])> = tenants
        .iter()
        .map(|(n, f, c)| (*n, *f, c.as_bytes()))
        .collect();
    let head = format!("[server]\nworkers = 2\n\n[limits]\ncpu_ms = {cpu_ms}\n");
    let dir = project::project(&head, &tenants);
    let config = Config::load(&dir.path().join("islet.toml")).expect("config");
    let host = Host::new(&config).expect("host");
    (dir, host)
}

async fn get(host: &Host, tenant: &str) -> http::StatusCode {
    let request = http::Request::get(format!("http://{tenant}.bench/"))
        .header("host", format!("{tenant}.bench"))
        .body(Full::new(Bytes::new()))
        .expect("request");
    let response = host.handle(request).await;
    let status = response.status();
    let _ = response.into_body().collect_bytes().await;
    status
}

fn cpu_seconds(host: &Host, tenant: &str) -> f64 {
    let prefix = format!("islet_cpu_seconds_total{{tenant=\"{tenant}\"}} ");
    host.metrics()
        .encode()
        .lines()
        .find_map(|l| l.strip_prefix(&prefix).map(|v| v.parse().unwrap_or(0.0)))
        .unwrap_or(0.0)
}

/// Milliseconds past the budget, one runaway request at a time.
async fn overshoots(file: &str, code: &str, runs: usize) -> Vec<f64> {
    let (_dir, host) = host(&[("spin", file, code)], 20);
    let mut out = Vec::with_capacity(runs);
    // The first request also pays the cold start; skip it.
    let _ = get(&host, "spin").await;
    for _ in 0..runs {
        let before = cpu_seconds(&host, "spin");
        let status = get(&host, "spin").await;
        assert_eq!(status, 503, "the runaway request is stopped");
        let charged = cpu_seconds(&host, "spin") - before;
        out.push(charged * 1e3 - 20.0);
    }
    host.shutdown(Duration::from_secs(1));
    out
}

struct NoInterrupt;

impl Interrupt for NoInterrupt {
    fn interrupt(&self) {}
}

/// Mean cost of one metered poll of a ready future, on this thread.
fn metered_slice_cost(iterations: u32) -> Duration {
    let watchdog = Watchdog::start().expect("watchdog");
    let clock = WorkerClock::for_current_thread(&watchdog);
    let interrupt: Arc<dyn Interrupt> = Arc::new(NoInterrupt);
    let meter = CpuMeter::new(Duration::from_secs(3600));
    let mut cx = Context::from_waker(Waker::noop());
    let bare = {
        let started = Instant::now();
        for _ in 0..iterations {
            let future = pin!(std::future::ready(1u8));
            assert!(matches!(future.poll(&mut cx), Poll::Ready(1)));
        }
        started.elapsed()
    };
    let metered = {
        let started = Instant::now();
        for _ in 0..iterations {
            let future = Metered::new(
                std::future::ready(1u8),
                meter.clone(),
                clock.clone(),
                interrupt.clone(),
            );
            let future = pin!(future);
            assert!(matches!(future.poll(&mut cx), Poll::Ready(1)));
        }
        started.elapsed()
    };
    watchdog.stop();
    metered.saturating_sub(bare) / iterations
}

/// Mean time of a hello-world request through `Host::handle`.
async fn hello_cost(requests: u32) -> Duration {
    let (_dir, host) = host(&[("hello", "hello.js", HELLO_JS)], 50);
    for _ in 0..100 {
        get(&host, "hello").await;
    }
    let started = Instant::now();
    for _ in 0..requests {
        get(&host, "hello").await;
    }
    let elapsed = started.elapsed() / requests;
    host.shutdown(Duration::from_secs(1));
    elapsed
}

/// Latencies (ms) of a hello-world tenant alone, then with ten runaway
/// tenants kept busy by their own clients.
async fn noisy_neighbours(samples: usize) -> (Vec<f64>, Vec<f64>) {
    let mut tenants = vec![("hello", "hello.js", HELLO_JS)];
    let names: Vec<String> = (0..10).map(|i| format!("spin{i}")).collect();
    for name in &names {
        tenants.push((name.as_str(), "spin.js", RUNAWAY_JS));
    }
    let (_dir, host) = host(&tenants, 50);

    async fn measure(host: &Host, samples: usize) -> Vec<f64> {
        let mut out = Vec::with_capacity(samples);
        for _ in 0..samples {
            let started = Instant::now();
            assert_eq!(get(host, "hello").await, 200);
            out.push(started.elapsed().as_secs_f64() * 1e3);
        }
        out.sort_by(f64::total_cmp);
        out
    }

    let _ = measure(&host, 50).await;
    let quiet = measure(&host, samples).await;

    let stop = Arc::new(AtomicBool::new(false));
    let mut noise = Vec::new();
    for name in names {
        let (host, stop) = (host.clone(), stop.clone());
        noise.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                get(&host, &name).await;
            }
        }));
    }
    // Let each runaway tenant collect its strikes and move to the
    // quarantine thread.
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline
        && !host
            .metrics()
            .encode()
            .contains(r#"islet_evictions_total{reason="quarantine"} 10"#)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let noisy = measure(&host, samples).await;
    stop.store(true, Ordering::Relaxed);
    for task in noise {
        let _ = task.await;
    }
    host.shutdown(Duration::from_secs(1));
    (quiet, noisy)
}
