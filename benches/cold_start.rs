//! JavaScript cold starts, with and without the V8 start-up snapshot,
//! side by side in one run: the time from a request's arrival at
//! `islet::Host` to its response, for tenants that have no isolate yet
//! (isolate + context creation, platform layer, module evaluation, the
//! request itself). A warm request is shown for scale.
//!
//! Run with `cargo bench -p islet-benches --bench cold_start`. Set
//! `ISLET_BENCH_QUICK=1` for a shorter run.

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use islet::{Config, Host};

const HELLO_JS: &str = r#"export default { fetch(request) { return new Response("hello " + new URL(request.url).pathname); } };"#;

fn main() {
    let quick = std::env::var_os("ISLET_BENCH_QUICK").is_some();
    let tenants = if quick { 50 } else { 300 };
    islet::init_v8();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");

    println!("## JavaScript cold start (islet-benches/cold_start.rs)\n");
    println!("{tenants} tenants per mode, each started by its first request; 2 worker threads.\n");
    println!("| platform layer | cold p50 | cold p99 | warm p50 |");
    println!("|---|---|---|---|");
    for (label, snapshot) in [
        ("from the snapshot", true),
        ("evaluated per isolate", false),
    ] {
        islet::engine::js::set_snapshot_enabled(snapshot);
        let (cold, warm) = runtime.block_on(measure(tenants));
        println!(
            "| {label} | {:.2} ms | {:.2} ms | {:.3} ms |",
            percentile(&cold, 0.5),
            percentile(&cold, 0.99),
            percentile(&warm, 0.5)
        );
    }
    islet::engine::js::set_snapshot_enabled(true);
}

async fn measure(tenants: usize) -> (Vec<f64>, Vec<f64>) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("hello.js"), HELLO_JS).expect("write tenant");
    let mut toml = String::from("[server]\nworkers = 2\n");
    for i in 0..tenants {
        toml.push_str(&format!(
            "\n[[tenant]]\nname = \"t{i}\"\nmain = \"hello.js\"\nroutes = [\"t{i}.bench/*\"]\n"
        ));
    }
    let path = dir.path().join("islet.toml");
    std::fs::write(&path, toml).expect("write config");
    let config = Config::load(Path::new(&path)).expect("config");
    let host = Host::new(&config).expect("host");

    let mut cold = Vec::with_capacity(tenants);
    let mut warm = Vec::with_capacity(tenants);
    for i in 0..tenants {
        cold.push(timed(&host, i).await);
        warm.push(timed(&host, i).await);
    }
    cold.sort_by(f64::total_cmp);
    warm.sort_by(f64::total_cmp);
    host.shutdown(Duration::from_secs(1));
    (cold, warm)
}

/// Milliseconds for one request to tenant `i`.
async fn timed(host: &Host, i: usize) -> f64 {
    let request = http::Request::get(format!("http://t{i}.bench/x"))
        .header("host", format!("t{i}.bench"))
        .body(Full::new(Bytes::new()))
        .expect("request");
    let started = Instant::now();
    let response = host.handle(request).await;
    assert_eq!(response.status(), 200);
    let _ = response.into_body().collect_bytes().await;
    started.elapsed().as_secs_f64() * 1e3
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}
