//! Criterion micro-benchmarks of the request path without HTTP, through
//! `islet::Host::handle`:
//!
//! - `cold/js`: a JavaScript tenant's first request: a V8 isolate and
//!   context from the start-up snapshot, the module's evaluation, the
//!   request.
//! - `cold/wasm`: a WASM tenant's first request: instantiation from the
//!   module compiled at load (a pooling-allocator slot, the memory image
//!   mapped copy-on-write), the WASI context, the request.
//! - `warm/js`, `warm/wasm`: a request to a live isolate: the scheduler's
//!   queue, the tenant's home worker thread, the handler, the response
//!   channel back.
//!
//! Run with `cargo bench -p islet-benches --bench dispatch`. For the cold
//! cases each measured batch gets hosts with as many fresh tenants as it
//! has iterations (set up untimed).

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use islet::{Config, Host};

#[path = "inprocess.rs"]
#[allow(dead_code)] // this bench uses only some of the helpers
mod inprocess;
#[path = "project.rs"]
#[allow(dead_code)] // this bench uses only `project`
mod project;

const HELLO_JS: &str = r#"export default { fetch() { return new Response("hello"); } };"#;
const HELLO_WAT: &str = include_str!("../examples/hello-wat/hello.wat");
/// Fresh tenants per host in the cold cases.
const BATCH: usize = 500;

const KINDS: [(&str, &str, &str); 2] = [
    ("js", "hello.js", HELLO_JS),
    ("wasm", "hello.wat", HELLO_WAT),
];

/// A host with `n` tenants running `code` from `file`, routed at
/// `t{i}.bench`.
fn host(n: usize, file: &str, code: &str) -> (tempfile::TempDir, Host) {
    let names: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
    let refs: Vec<(&str, &str, &[u8])> = names
        .iter()
        .map(|name| (name.as_str(), file, code.as_bytes()))
        .collect();
    let dir = project::project("[server]\nworkers = 2\n", &refs);
    let config = Config::load(&dir.path().join("islet.toml")).expect("config");
    let host = Host::new(&config).expect("host");
    (dir, host)
}

fn cold(c: &mut Criterion) {
    islet::init_v8();
    let driver = inprocess::driver();
    let mut group = c.benchmark_group("cold");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    for (label, file, code) in KINDS {
        group.bench_function(label, |b| {
            b.iter_custom(|iters| {
                // Hosts of at most BATCH fresh tenants (the wasm pool's
                // default is 1,000 instances).
                let mut elapsed = Duration::ZERO;
                let mut left = iters as usize;
                while left > 0 {
                    let n = left.min(BATCH);
                    let (_dir, host) = host(n, file, code);
                    elapsed += driver.block_on(async {
                        let started = Instant::now();
                        for i in 0..n {
                            inprocess::timed(&host, i, "/").await;
                        }
                        started.elapsed()
                    });
                    inprocess::stop(host);
                    left -= n;
                }
                elapsed
            })
        });
    }
    group.finish();
}

fn warm(c: &mut Criterion) {
    islet::init_v8();
    let driver = inprocess::driver();
    let mut group = c.benchmark_group("warm");
    for (label, file, code) in KINDS {
        let (_dir, host) = host(1, file, code);
        driver.block_on(inprocess::timed(&host, 0, "/"));
        group.bench_function(label, |b| {
            b.iter_custom(|iters| {
                driver.block_on(async {
                    let started = Instant::now();
                    for _ in 0..iters {
                        inprocess::timed(&host, 0, "/").await;
                    }
                    started.elapsed()
                })
            })
        });
        inprocess::stop(host);
    }
    group.finish();
}

criterion_group!(benches, cold, warm);
criterion_main!(benches);
