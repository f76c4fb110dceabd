//! Shared language runtimes against their alternatives: the same
//! JavaScript worker
//!
//! - (a) on the shared QuickJS runtime (`runtime = "quickjs"`): one
//!   compiled interpreter, its initialised heap mapped copy-on-write, the
//!   tenant's own pages restored from its load-time snapshot;
//! - (b) shipped as a self-contained module with its own interpreter
//!   (`quickjs-standalone.wasm`: the same runtime and the same source in
//!   one plain module, which initialises the interpreter and parses the
//!   source on its first request);
//! - (c) on V8, an isolate per tenant from the start-up snapshot.
//!
//! For each: what a tenant ships, the time to load it (at deploy), cold
//! start p50/p99, a warm request, and resident memory per tenant after
//! every tenant served a request. Then the resident memory of 1,000 idle
//! runtime tenants. Targets (issue #6): tenant code under 100 KB, idle
//! memory under 1 MB, cold start under 1 ms.
//!
//! Run with `cargo bench -p islet-benches --bench runtimes`
//! (`ISLET_BENCH_QUICK=1` for a shorter run). It builds the runtimes with
//! `sdk/runtimes/build.sh` first (see the README for the toolchain).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use islet::{Config, Host};

#[path = "inprocess.rs"]
mod inprocess;
#[path = "project.rs"]
#[allow(dead_code)] // this bench uses only `project_with`
mod project;

use inprocess::percentile;

/// A small JSON API, the kind of tenant a runtime is for.
const WORKER: &str = r#"const todos = [
  { id: 1, title: "write the worker", done: true },
  { id: 2, title: "deploy it", done: false },
];
export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/todos") {
      return Response.json({ todos, open: todos.filter((t) => !t.done).length });
    }
    return new Response("not found", { status: 404 });
  },
};
"#;

fn main() {
    let quick = std::env::var_os("ISLET_BENCH_QUICK").is_some();
    let tenants = if quick { 50 } else { 300 };
    let idle = if quick { 200 } else { 1000 };
    islet::init_v8();
    let runtime = inprocess::driver();
    let built = build_runtimes();
    let quickjs = built.join("quickjs.wasm");
    let standalone = std::fs::read(built.join("quickjs-standalone.wasm")).expect("standalone");
    let runtimes = format!(
        "[server]\nworkers = 2\n[runtimes]\nquickjs = \"{}\"\n",
        quickjs.display()
    );

    println!("## Shared runtimes: one JS worker three ways (islet-benches/runtimes.rs)\n");
    println!(
        "{tenants} tenants per row, each loaded at start-up and started by its first request; \
         2 worker threads. Memory: growth over the tenants' first requests, per tenant, of \
         this process's RSS and of its private (anonymous) memory; RSS counts a page of \
         the runtime's shared image once per instance that maps it, private memory does \
         not count it.\n"
    );
    println!(
        "| tenant | ships | load per tenant | cold p50 | cold p99 | warm p50 | RSS per tenant | private per tenant |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let rows: [(&str, &str, &[u8], &str, &str); 3] = [
        (
            "(a) QuickJS runtime tenant",
            "worker.js",
            WORKER.as_bytes(),
            "runtime = \"quickjs\"",
            &runtimes,
        ),
        (
            "(b) self-contained QuickJS module",
            "worker.wasm",
            &standalone,
            "",
            "[server]\nworkers = 2\n",
        ),
        (
            "(c) V8 isolate",
            "worker.js",
            WORKER.as_bytes(),
            "",
            "[server]\nworkers = 2\n",
        ),
    ];
    for (label, file, code, extra, head) in rows {
        let m = runtime.block_on(measure(head, file, code, extra, tenants));
        println!(
            "| {label} | {:.1} KB | {:.2} ms | {:.3} ms | {:.3} ms | {:.3} ms | {} | {} |",
            code.len() as f64 / 1e3,
            m.load_ms,
            percentile(&m.cold, 0.5),
            percentile(&m.cold, 0.99),
            percentile(&m.warm, 0.5),
            kib(m.rss_per_tenant),
            kib(m.private_per_tenant),
        );
    }

    let m = runtime.block_on(measure(
        &runtimes,
        "worker.js",
        WORKER.as_bytes(),
        "runtime = \"quickjs\"",
        idle,
    ));
    println!(
        "\n{idle} idle QuickJS runtime tenants (each served one request): {} resident for \
         all of them, {} per tenant ({} private); loading them took {:.2} ms per tenant.",
        kib(m.rss_all),
        kib(m.rss_per_tenant),
        kib(m.private_per_tenant),
        m.load_ms
    );
}

struct Measured {
    load_ms: f64,
    cold: Vec<f64>,
    warm: Vec<f64>,
    rss_all: usize,
    rss_per_tenant: usize,
    private_per_tenant: usize,
}

async fn measure(head: &str, file: &str, code: &[u8], extra: &str, tenants: usize) -> Measured {
    let names: Vec<String> = (0..tenants).map(|i| format!("t{i}")).collect();
    let refs: Vec<(&str, &str, &[u8])> = names.iter().map(|n| (n.as_str(), file, code)).collect();
    let dir = project::project_with(head, &refs, extra);
    let config = Config::load(&dir.path().join("islet.toml")).expect("config");
    let started = Instant::now();
    let host = Host::new(&config).expect("host");
    let load_ms = started.elapsed().as_secs_f64() * 1e3 / tenants as f64;
    let before = inprocess::rss();
    let private_before = inprocess::private_memory();
    let (cold, warm) = inprocess::cold_and_warm(&host, tenants).await;
    let rss_all = inprocess::rss().saturating_sub(before);
    let private = inprocess::private_memory().saturating_sub(private_before);
    inprocess::stop(host);
    Measured {
        load_ms,
        cold,
        warm,
        rss_all,
        rss_per_tenant: rss_all / tenants,
        private_per_tenant: private / tenants,
    }
}

fn kib(bytes: usize) -> String {
    format!("{:.0} KiB", bytes as f64 / 1024.0)
}

/// Builds the runtimes and the self-contained module with
/// `sdk/runtimes/build.sh`; returns their directory.
fn build_runtimes() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = root.join("target/bench-runtimes");
    std::fs::create_dir_all(&out).expect("output directory");
    let embedded = out.join("embedded.c");
    let mut c = String::from("#include <stddef.h>\n");
    for (name, bytes) in [
        (
            "platform",
            islet::engine::wasm::js_platform_bundle().into_bytes(),
        ),
        ("source", WORKER.as_bytes().to_vec()),
    ] {
        write!(c, "const char islet_embedded_{name}[] = {{").unwrap();
        for (i, b) in bytes.iter().enumerate() {
            if i % 24 == 0 {
                c.push('\n');
            }
            write!(c, "{b},").unwrap();
        }
        writeln!(
            c,
            "0}};\nconst size_t islet_embedded_{name}_len = {};",
            bytes.len()
        )
        .unwrap();
    }
    if std::fs::read_to_string(&embedded).ok().as_deref() != Some(c.as_str()) {
        std::fs::write(&embedded, c).expect("write embedded.c");
    }
    let built = std::process::Command::new("bash")
        .arg(root.join("sdk/runtimes/build.sh"))
        .arg(&out)
        .arg(&embedded)
        .status()
        .expect("run sdk/runtimes/build.sh");
    assert!(
        built.success(),
        "sdk/runtimes/build.sh failed (see the README for the toolchain)"
    );
    out
}
