//! Helpers for the benches that drive `islet::Host` in-process (not the
//! macro runner, which starts the binary).

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use islet::Host;

/// The runtime the in-process benches drive their hosts from: one thread,
/// so the host's two workers have the machine's cores.
pub fn driver() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Milliseconds for one GET of `path` to tenant `t{i}` (routed at
/// `t{i}.bench/*`); the response must be a 200.
pub async fn timed(host: &Host, i: usize, path: &str) -> f64 {
    let request = http::Request::get(format!("http://t{i}.bench{path}"))
        .header("host", format!("t{i}.bench"))
        .body(Full::new(Bytes::new()))
        .expect("request");
    let started = Instant::now();
    let response = host.handle(request).await;
    assert_eq!(response.status(), 200);
    let _ = response.into_body().collect_bytes().await;
    started.elapsed().as_secs_f64() * 1e3
}

/// Cold and warm latencies (ms, sorted): each of `tenants` tenants is
/// started by one request and then asked again.
pub async fn cold_and_warm(host: &Host, tenants: usize) -> (Vec<f64>, Vec<f64>) {
    let mut cold = Vec::with_capacity(tenants);
    let mut warm = Vec::with_capacity(tenants);
    for i in 0..tenants {
        cold.push(timed(host, i, "/todos").await);
        warm.push(timed(host, i, "/todos").await);
    }
    cold.sort_by(f64::total_cmp);
    warm.sort_by(f64::total_cmp);
    (cold, warm)
}

/// The value at quantile `p` of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// This process's resident set size in bytes.
pub fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// This process's private memory in bytes: anonymous pages, which
/// excludes pages shared copy-on-write from a module's memory image (RSS
/// counts those once per instance that maps them).
pub fn private_memory() -> usize {
    let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
    rollup
        .lines()
        .find_map(|l| l.strip_prefix("Anonymous:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Stops a host and gives its threads a moment to exit.
pub fn stop(host: Host) {
    host.shutdown(Duration::from_secs(1));
}
