//! The macro benchmark runner: starts real `islet serve` processes and
//! drives them over HTTP with `wrk`, reporting throughput and latency side
//! by side with a bare hyper server measured in the same run.
//!
//! ```text
//! cargo run --release -p islet-benches --bin islet-bench -- [SCENARIO...]
//! ```
//!
//! Scenarios: `hello`, `switching`, `cold`, `density`, `limits`, and
//! `profile` (where the time of the hello and switching cases goes, with
//! `perf`); `all` (the default) runs each. `ISLET_BENCH_SECONDS` sets the length of each wrk
//! run (default 5).
//!
//! Needs `wrk` on the PATH. The server runs on core 0 and `wrk` on core 1
//! (`taskset`) when the machine has two or more cores. A progress bar goes
//! to standard error; the results are printed as markdown and written to
//! `benches/results/latest.md`, with SVG charts next to it.
//!
//! Peers: the same JS worker also runs on Deno and workerd when they are
//! found, in `benches/peers/node_modules/.bin` (`npm ci --prefix
//! benches/peers`) or on the PATH; missing peers are reported as such.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use charts::Chart;

mod charts;
mod hyper_server;
mod progress;
#[path = "../project.rs"]
mod project;

/// A scenario's results: a markdown section and its charts (file stem,
/// chart).
struct Section {
    markdown: String,
    charts: Vec<(&'static str, Chart)>,
}

/// The scenarios, with how many measurements (progress steps) each makes.
const SCENARIOS: [(&str, usize); 6] = [
    ("hello", 6),
    ("switching", 3),
    ("cold", 4),
    ("density", 12),
    ("limits", 4),
    ("profile", 2),
];

const HELLO_JS: &str = r#"export default { fetch() { return new Response("hello world"); } };"#;
const HELLO_WAT: &str = r#"(module
  (import "islet" "response_write" (func $write (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "hello world")
  (func (export "islet_handle") (drop (call $write (i32.const 0) (i32.const 11)))))"#;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("hyper-server") {
        hyper_server::run(args.get(2).map_or("127.0.0.1:0", String::as_str));
        return;
    }
    let mut chosen: Vec<&str> = args[1..].iter().map(String::as_str).collect();
    if chosen.is_empty() || chosen.contains(&"all") {
        chosen = SCENARIOS.iter().map(|s| s.0).collect();
    }
    for name in &chosen {
        if !SCENARIOS.iter().any(|s| s.0 == *name) {
            eprintln!(
                "islet-bench: unknown scenario `{name}`; choose from all, {}",
                SCENARIOS.map(|s| s.0).join(", ")
            );
            std::process::exit(2);
        }
    }
    let duration = std::env::var("ISLET_BENCH_SECONDS").unwrap_or_else(|_| "5".into());
    let bench = Bench::new(&duration);

    let mut report = String::new();
    writeln!(
        report,
        "# islet macro benchmarks\n\n{}; {}; wrk `-t1 -c32 -d{duration}s`; every figure in a table \
         comes from this one run (`cargo run --release -p islet-benches --bin islet-bench -- {}`).\n",
        machine(),
        if bench.pin {
            "server on core 0, load generator on core 1 (taskset)"
        } else {
            "no core pinning (one core)"
        },
        chosen.join(" ")
    )
    .unwrap();
    let steps = SCENARIOS
        .iter()
        .filter(|s| chosen.contains(&s.0))
        .map(|s| s.1)
        .sum();
    progress::start(steps);
    let mut charts = Vec::new();
    for name in &chosen {
        let section = match *name {
            "hello" => bench.hello(),
            "switching" => bench.switching(),
            "cold" => bench.cold(),
            "density" => bench.density(),
            "limits" => bench.limits(),
            _ => bench.profile(),
        };
        report.push_str(&section.markdown);
        for (stem, chart) in section.charts {
            writeln!(report, "![{stem}]({stem}.svg)\n").unwrap();
            charts.push((stem, chart));
        }
    }
    progress::finish();
    println!("{report}");
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    std::fs::create_dir_all(&results).expect("results directory");
    std::fs::write(results.join("latest.md"), &report).expect("write results");
    for (stem, chart) in &charts {
        std::fs::write(results.join(format!("{stem}.svg")), chart.svg()).expect("write chart");
    }
    eprintln!(
        "written to {} (and {} charts)",
        results.join("latest.md").display(),
        charts.len()
    );
}

/// CPU model, cores and memory of this machine.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / (1 << 20) as f64);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{model}, {cores} cores, {memory_gib:.0} GiB")
}

struct Bench {
    islet: PathBuf,
    pin: bool,
    duration: String,
}

/// One wrk run: requests per second and latency percentiles in ms.
struct Load {
    rps: f64,
    p50: f64,
    p99: f64,
    p999: f64,
}

impl Bench {
    fn new(duration: &str) -> Bench {
        // Build the binary under test, release, next to this runner.
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--release", "-p", "islet", "--bin", "islet"])
            .status()
            .expect("run cargo");
        assert!(status.success(), "building islet failed");
        let islet = std::env::current_exe()
            .expect("the runner's path")
            .with_file_name("islet");
        assert!(islet.exists(), "no islet binary at {}", islet.display());
        let which = Command::new("wrk").arg("--version").output();
        assert!(
            which.is_ok(),
            "wrk is needed: install it (Debian: apt-get install wrk)"
        );
        Bench {
            islet,
            pin: std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2,
            duration: duration.to_string(),
        }
    }

    fn pinned(&self, core: usize, program: &Path) -> Command {
        if self.pin {
            let mut command = Command::new("taskset");
            command.arg("-c").arg(core.to_string()).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    /// Starts `islet serve` on the `islet.toml` in `dir`.
    fn serve(&self, dir: &Path) -> Server {
        let mut child = self
            .pinned(0, &self.islet)
            .args(["serve", "--config"])
            .arg(dir.join("islet.toml"))
            .args(["--listen", "127.0.0.1:0"])
            .env(
                "RUST_LOG",
                "warn,islet=info,islet::host=warn,islet::tenant=off",
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start islet");
        let (addr, logs) = read_addr(&mut child, "islet listening", " addr=");
        Server { child, addr, logs }
    }

    /// Starts a peer serving the hello-world JS worker, if it is installed.
    fn peer(&self, name: &str) -> Option<Server> {
        let local = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("peers/node_modules/.bin")
            .join(name);
        let program = if local.exists() {
            local
        } else {
            let found = Command::new(name).arg("--version").output().is_ok();
            if !found {
                return None;
            }
            PathBuf::from(name)
        };
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("worker.js"), HELLO_JS).expect("write worker");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let mut command = self.pinned(0, &program);
        if name == "deno" {
            command
                .args(["serve", "--host", "127.0.0.1", "--port", &port.to_string()])
                .arg(dir.path().join("worker.js"));
        } else {
            let config = format!(
                "using Workerd = import \"/workerd/workerd.capnp\";\n\
                 const config :Workerd.Config = (services = [(name = \"main\", worker = .worker)], \
                 sockets = [(name = \"http\", address = \"127.0.0.1:{port}\", http = (), service = \"main\")]);\n\
                 const worker :Workerd.Worker = (modules = [(name = \"worker\", esModule = embed \"worker.js\")], \
                 compatibilityDate = \"2024-01-01\");\n"
            );
            std::fs::write(dir.path().join("config.capnp"), config).expect("write config");
            command.arg("serve").arg(dir.path().join("config.capnp"));
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(addr).is_err() {
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The directory must outlive the peer; it is small.
        std::mem::forget(dir);
        Some(Server {
            child,
            addr,
            logs: Arc::default(),
        })
    }

    /// `wasmtime serve` with the same hello world as a wasi:http component
    /// (`peers/wasi-http-hello`, built here), or why it cannot run.
    fn wasmtime_serve(&self) -> Result<Server, String> {
        let peers = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers");
        let local = peers.join("wasmtime/bin/wasmtime");
        let program = if local.exists() {
            local
        } else if Command::new("wasmtime").arg("--version").output().is_ok() {
            PathBuf::from("wasmtime")
        } else {
            return Err(
                "not found (`cargo install wasmtime-cli --root benches/peers/wasmtime`)".into(),
            );
        };
        let guest = peers.join("wasi-http-hello");
        let built = Command::new("bash")
            .arg(peers.join("../../sdk/wasm-cargo.sh"))
            .current_dir(&guest)
            .output()
            .map_err(|e| format!("cannot build the guest: {e}"))?;
        if !built.status.success() {
            return Err(format!(
                "the guest did not build: {}",
                String::from_utf8_lossy(&built.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            ));
        }
        let core = std::fs::read(guest.join("target/wasm32-wasip1/release/wasi_http_hello.wasm"))
            .map_err(|e| format!("no guest module: {e}"))?;
        let component = wit_component::ComponentEncoder::default()
            .module(&core)
            .and_then(|e| {
                e.adapter(
                    wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
                    wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_PROXY_ADAPTER,
                )
            })
            .and_then(|e| e.validate(true).encode())
            .map_err(|e| format!("cannot make the component: {e:#}"))?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("hello.wasm");
        std::fs::write(&path, component).map_err(|e| e.to_string())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let child = self
            .pinned(0, &program)
            .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start it: {e}"))?;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
        let server = Server {
            child,
            addr,
            logs: Arc::default(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(addr).is_err() {
            if Instant::now() > deadline {
                return Err("it did not start listening".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        std::mem::forget(dir);
        Ok(server)
    }

    fn hyper(&self) -> Server {
        let runner = std::env::current_exe().expect("the runner's path");
        let mut child = self
            .pinned(0, &runner)
            .arg("hyper-server")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the hyper server");
        let (addr, logs) = read_addr(&mut child, "hyper listening", " addr=");
        Server { child, addr, logs }
    }

    fn wrk(&self, addr: SocketAddr, script: &str) -> Load {
        self.wrk_with(addr, script, 32)
    }

    fn wrk_with(&self, addr: SocketAddr, script: &str, connections: usize) -> Load {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("script.lua");
        std::fs::write(&path, format!("{script}\n{WRK_REPORT}")).expect("write script");
        let out = self
            .pinned(1, Path::new("wrk"))
            .args([
                "-t1",
                &format!("-c{connections}"),
                &format!("-d{}s", self.duration),
                "-s",
            ])
            .arg(&path)
            .arg(format!("http://{addr}/"))
            .output()
            .expect("run wrk");
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("RESULT "))
            .unwrap_or_else(|| panic!("wrk printed no result: {text}"));
        let v: Vec<f64> = line
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        Load {
            rps: v[0] / v[1],
            p50: v[2] / 1e3,
            p99: v[3] / 1e3,
            p999: v[4] / 1e3,
        }
    }

    fn hello(&self) -> Section {
        let mut out = String::from(
            "## Hello world, one tenant\n\n| server | requests/s | p50 | p99 | p99.9 | vs bare hyper |\n|---|---|---|---|---|---|\n",
        );
        let mut measured: Vec<(String, Load)> = Vec::new();
        progress::step("hello: bare hyper");
        let hyper = self.hyper();
        let base = self.wrk(hyper.addr, HOST_SCRIPT);
        drop(hyper);
        row(&mut out, "bare hyper (ceiling)", &base, base.rps);
        let base_rps = base.rps;
        measured.push(("bare hyper".into(), base));
        let mut islet_js = 0.0;
        let mut islet_wasm = 0.0;
        for (label, file, code) in [
            ("islet, JS on V8", "hello.js", HELLO_JS),
            ("islet, WASM on wasmtime", "hello.wat", HELLO_WAT),
        ] {
            progress::step(&format!("hello: {label}"));
            let dir = project(&[("hello", file, code)]);
            let server = self.serve(dir.path());
            let load = self.wrk(server.addr, HOST_SCRIPT);
            if file.ends_with(".js") {
                islet_js = load.rps;
            } else {
                islet_wasm = load.rps;
            }
            row(&mut out, label, &load, base_rps);
            measured.push((label.trim_start_matches("islet, ").to_string(), load));
        }
        let mut ratios = vec![
            format!(
                "islet JS / bare hyper: {:.2}x (target ≥ 0.8x)",
                islet_js / base_rps
            ),
            format!(
                "islet WASM / bare hyper: {:.2}x (target ≥ 0.8x)",
                islet_wasm / base_rps
            ),
        ];
        for (peer, target) in [("deno", "≥ 1x"), ("workerd", "≥ 3x")] {
            progress::step(&format!("hello: {peer}"));
            match self.peer(peer) {
                Some(server) => {
                    let load = self.wrk(server.addr, HOST_SCRIPT);
                    row(
                        &mut out,
                        &format!("{peer}, same JS worker"),
                        &load,
                        base_rps,
                    );
                    ratios.push(format!(
                        "islet JS / {peer}: {:.2}x (target {target})",
                        islet_js / load.rps
                    ));
                    measured.push((peer.to_string(), load));
                }
                None => writeln!(
                    out,
                    "| {peer} | not found (`npm ci --prefix benches/peers`) | | | | |"
                )
                .unwrap(),
            }
        }
        progress::step("hello: wasmtime serve");
        match self.wasmtime_serve() {
            Ok(server) => {
                let load = self.wrk(server.addr, HOST_SCRIPT);
                row(
                    &mut out,
                    "wasmtime serve, wasi:http hello world",
                    &load,
                    base_rps,
                );
                ratios.push(format!(
                    "islet WASM / wasmtime serve: {:.2}x (target ≥ 1.5x)",
                    islet_wasm / load.rps
                ));
                measured.push(("wasmtime serve".to_string(), load));
            }
            Err(why) => writeln!(out, "| wasmtime serve | {why} | | | | |").unwrap(),
        }
        writeln!(out, "\n{}.\n", ratios.join("; ")).unwrap();
        let charts = vec![
            (
                "hello-throughput",
                Chart::Bars {
                    title: "Hello world: requests per second (higher is better)".into(),
                    unit: "req/s".into(),
                    bars: measured.iter().map(|(n, l)| (n.clone(), l.rps)).collect(),
                },
            ),
            (
                "hello-latency",
                Chart::Grouped {
                    title: "Hello world: latency percentiles under load (log scale)".into(),
                    unit: "ms".into(),
                    series: vec!["p50".into(), "p99".into(), "p99.9".into()],
                    groups: measured
                        .iter()
                        .map(|(n, l)| (n.clone(), vec![l.p50, l.p99, l.p999]))
                        .collect(),
                },
            ),
        ];
        Section {
            markdown: out,
            charts,
        }
    }

    fn switching(&self) -> Section {
        let mut out = String::from(
            "## Tenant switching: 1,000 JS tenants round-robin vs one\n\n| load | requests/s | p50 | p99 | p99.9 | vs one tenant |\n|---|---|---|---|---|---|\n",
        );
        let tenants: Vec<(String, &str, &str)> = (0..1000)
            .map(|i| (format!("t{i}"), "hello.js", HELLO_JS))
            .collect();
        let refs: Vec<(&str, &str, &str)> = tenants
            .iter()
            .map(|(n, f, c)| (n.as_str(), *f, *c))
            .collect();
        let dir = project(&refs);
        progress::step("switching: starting 1,000 JS tenants");
        let server = self.serve(dir.path());
        // Start every tenant's isolate first: this measures switching
        // between live isolates, not cold starts.
        for (name, _, _) in &refs {
            get(server.addr, &format!("{name}.bench"));
        }
        progress::step("switching: one tenant");
        let one = self.wrk(
            server.addr,
            HOST_SCRIPT.replace("hello.bench", "t0.bench").as_str(),
        );
        progress::step("switching: 1,000 tenants round-robin");
        let all = self.wrk(server.addr, ROUND_ROBIN_SCRIPT);
        row(&mut out, "one tenant", &one, one.rps);
        row(&mut out, "1,000 tenants round-robin", &all, one.rps);
        writeln!(
            out,
            "\nRound-robin / one tenant: {:.2}x (target ≥ 0.9x).\n",
            all.rps / one.rps
        )
        .unwrap();
        Section {
            markdown: out,
            charts: Vec::new(),
        }
    }

    /// Requests to tenants never started before, over HTTP: one request
    /// per tenant on a fresh connection, then the same again warm.
    fn cold(&self) -> Section {
        const TENANTS: usize = 300;
        let mut out = format!(
            "## Cold start over HTTP\n\n{TENANTS} tenants of each kind, each sent its first request (a new \
             connection per request, sequential), then a second one warm for scale. Targets: cold p50 \
             under 1 ms for JS, under 50 µs for WASM (as start-up cost: cold minus warm).\n\n\
             | tenant | cold p50 | cold p99 | warm p50 | start-up (cold − warm, p50) |\n|---|---|---|---|---|\n"
        );
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        let rust_hello = examples.join("target/wasm32-wasip1/release/hello_rust.wasm");
        let rust_code = std::fs::read(&rust_hello).ok();
        let mut histogram = Vec::new();
        let quickjs = runtimes();
        let kinds: [(&str, &str, Option<&[u8]>, bool); 4] = [
            ("JS on V8", "hello.js", Some(HELLO_JS.as_bytes()), false),
            (
                "JS on the QuickJS runtime (wasmtime)",
                "hello.js",
                quickjs.is_some().then_some(HELLO_JS.as_bytes()),
                true,
            ),
            (
                "WASM (WAT) on wasmtime",
                "hello.wat",
                Some(HELLO_WAT.as_bytes()),
                false,
            ),
            (
                "WASM (Rust SDK) on wasmtime",
                "hello.wasm",
                rust_code.as_deref(),
                false,
            ),
        ];
        for (label, file, code, on_runtime) in kinds {
            progress::step(&format!("cold: {label}"));
            let Some(code) = code else {
                writeln!(
                    out,
                    "| {label} | not built: run `examples/build.sh` and `sdk/runtimes/build.sh` first | | | |"
                )
                .unwrap();
                continue;
            };
            let names: Vec<String> = (0..TENANTS).map(|i| format!("t{i}")).collect();
            let refs: Vec<(&str, &str, &[u8])> =
                names.iter().map(|n| (n.as_str(), file, code)).collect();
            let dir = match (&quickjs, on_runtime) {
                (Some(module), true) => runtime_project(&refs, module),
                _ => project_bytes(&refs),
            };
            let server = self.serve(dir.path());
            let mut cold = Vec::with_capacity(TENANTS);
            let mut warm = Vec::with_capacity(TENANTS);
            for name in &names {
                cold.push(timed_get(server.addr, &format!("{name}.bench")));
            }
            for name in &names {
                warm.push(timed_get(server.addr, &format!("{name}.bench")));
            }
            cold.sort_by(f64::total_cmp);
            warm.sort_by(f64::total_cmp);
            let (c50, c99, w50) = (
                percentile(&cold, 0.5),
                percentile(&cold, 0.99),
                percentile(&warm, 0.5),
            );
            writeln!(
                out,
                "| {label} | {c50:.3} ms | {c99:.3} ms | {w50:.3} ms | {:.3} ms |",
                c50 - w50
            )
            .unwrap();
            histogram.push((label.to_string(), cold));
        }
        out.push('\n');
        Section {
            markdown: out,
            charts: vec![(
                "cold-start",
                Chart::Histogram {
                    title: "Cold start over HTTP: first request to a tenant".into(),
                    unit: "ms".into(),
                    series: histogram,
                },
            )],
        }
    }

    fn density(&self) -> Section {
        let mut out = String::from(
            "## Density: resident memory with idle tenants (each started by one request)\n\n\
             Targets: under 1 MB per JS tenant, under 100 KB per WASM tenant.\n\n\
             | engine | tenants | RSS | per tenant |\n|---|---|---|---|\n",
        );
        let mut lines = Vec::new();
        let quickjs = runtimes();
        for (engine, file, code, on_runtime) in [
            ("JS on V8", "hello.js", HELLO_JS, false),
            ("JS on the QuickJS runtime", "hello.js", HELLO_JS, true),
            ("WASM on wasmtime", "hello.wat", HELLO_WAT, false),
        ] {
            if on_runtime && quickjs.is_none() {
                continue;
            }
            let mut base = 0usize;
            let mut points = Vec::new();
            for count in [0usize, 100, 1000, 5000] {
                progress::step(&format!("density: {count} tenants, {engine}"));
                let names: Vec<String> = (0..count.max(1)).map(|i| format!("t{i}")).collect();
                let refs: Vec<(&str, &str, &[u8])> = names
                    .iter()
                    .map(|n| (n.as_str(), file, code.as_bytes()))
                    .collect();
                let dir = match (&quickjs, on_runtime) {
                    (Some(module), true) => runtime_project(&refs, module),
                    _ => project_bytes(&refs),
                };
                let server = self.serve(dir.path());
                for name in names.iter().take(count) {
                    get(server.addr, &format!("{name}.bench"));
                }
                std::thread::sleep(Duration::from_millis(300));
                let rss = rss(server.child.id());
                if count == 0 {
                    base = rss;
                }
                let per = if count == 0 {
                    String::from("-")
                } else {
                    let kib = (rss.saturating_sub(base)) as f64 / count as f64 / 1024.0;
                    points.push((count as f64, kib));
                    format!("{kib:.0} KiB")
                };
                writeln!(
                    out,
                    "| {engine} | {count} | {:.1} MiB | {per} |",
                    rss as f64 / (1 << 20) as f64
                )
                .unwrap();
            }
            lines.push((engine.to_string(), points));
        }
        out.push('\n');
        Section {
            markdown: out,
            charts: vec![(
                "density",
                Chart::Lines {
                    title: "Resident memory per idle tenant".into(),
                    x_label: "tenants".into(),
                    y_label: "KiB per tenant".into(),
                    series: lines,
                },
            )],
        }
    }

    /// CPU-limit overshoot (from islet's own log of each stop) and the
    /// latency of a quiet tenant while ten others burn their CPU limit.
    fn limits(&self) -> Section {
        const STOPS: usize = 40;
        let mut out = format!(
            "## Limits over HTTP\n\nCPU-limit overshoot: {STOPS} requests to a tenant that never returns, \
             `cpu_ms = 50`; overshoot = CPU time charged when stopped (islet's log) − 50 ms. \
             Target p99 < 1 ms.\n\n| tenant | stops | overshoot p50 | overshoot p99 |\n|---|---|---|---|\n"
        );
        for (label, file, code) in [
            ("JS `while (true) {}`", "spin.js", SPIN_JS),
            ("WASM `loop br 0`", "spin.wat", SPIN_WAT),
        ] {
            progress::step(&format!("limits: overshoot, {label}"));
            let dir = project_with(
                &[("spin", file, code.as_bytes())],
                "[server]\nworkers = 1\nquarantine_workers = 0\n\n[limits]\ncpu_ms = 50\n",
            );
            let server = self.serve(dir.path());
            for _ in 0..STOPS {
                let status = status_of(server.addr, "spin.bench");
                assert_eq!(status, 503, "the spinner is stopped");
            }
            std::thread::sleep(Duration::from_millis(200));
            let mut overshoot: Vec<f64> = server
                .logs()
                .iter()
                .filter_map(|l| l.split("(used ").nth(1))
                .filter_map(|rest| rest.split(" ms").next()?.parse::<f64>().ok())
                .map(|used| used - 50.0)
                .collect();
            overshoot.sort_by(f64::total_cmp);
            writeln!(
                out,
                "| {label} | {} | {:.2} ms | {:.2} ms |",
                overshoot.len(),
                percentile(&overshoot, 0.5),
                percentile(&overshoot, 0.99)
            )
            .unwrap();
        }

        // Noisy neighbours: a quiet tenant under wrk, alone and then with ten
        // tenants that spin to their CPU limit on every request.
        let mut tenants: Vec<(String, &str, &[u8])> =
            vec![("quiet".into(), "hello.js", HELLO_JS.as_bytes())];
        for i in 0..10 {
            tenants.push((format!("noisy{i}"), "spin.js", SPIN_JS.as_bytes()));
        }
        let refs: Vec<(&str, &str, &[u8])> = tenants
            .iter()
            .map(|(n, f, c)| (n.as_str(), *f, *c))
            .collect();
        let dir = project_with(&refs, "[server]\nworkers = 2\n\n[limits]\ncpu_ms = 50\n");
        let server = self.serve(dir.path());
        let quiet_script = HOST_SCRIPT.replace("hello.bench", "quiet.bench");
        progress::step("limits: quiet tenant alone");
        let alone = self.wrk_with(server.addr, &quiet_script, 4);
        progress::step("limits: quiet tenant next to ten CPU burners");
        let stop = Arc::new(AtomicBool::new(false));
        let noise: Vec<_> = (0..10)
            .map(|i| {
                let (stop, addr) = (stop.clone(), server.addr);
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let _ = status_of(addr, &format!("noisy{i}.bench"));
                    }
                })
            })
            .collect();
        // Let the burners reach quarantine (three stops each) first.
        std::thread::sleep(Duration::from_secs(3));
        let noisy = self.wrk_with(server.addr, &quiet_script, 4);
        stop.store(true, Ordering::Relaxed);
        for thread in noise {
            let _ = thread.join();
        }
        writeln!(
            out,
            "\nNoisy neighbours: a quiet JS tenant under wrk (4 connections), alone and next to ten \
             tenants hammered with requests that each burn 50 ms of CPU. Target: p99 within 1.5x.\n\n\
             | quiet tenant | requests/s | p50 | p99 | p99.9 |\n|---|---|---|---|---|\n\
             | alone | {:.0} | {:.3} ms | {:.3} ms | {:.3} ms |\n\
             | with ten CPU burners | {:.0} | {:.3} ms | {:.3} ms | {:.3} ms |\n\n\
             p50 {:.1}x, p99 {:.1}x of alone.\n",
            alone.rps,
            alone.p50,
            alone.p99,
            alone.p999,
            noisy.rps,
            noisy.p50,
            noisy.p99,
            noisy.p999,
            noisy.p50 / alone.p50,
            noisy.p99 / alone.p99
        )
        .unwrap();
        Section {
            markdown: out,
            charts: Vec::new(),
        }
    }

    /// Where the time goes under load: `perf record` (CPU-clock samples,
    /// call graphs) and `perf stat` of the islet process while wrk drives
    /// it, for one JS tenant and for 1,000 tenants round-robin.
    fn profile(&self) -> Section {
        let mut out = String::from(
            "## Where the time goes (perf, islet process under wrk)\n\n\
             CPU-clock samples of the whole islet process while wrk runs (this VM has no hardware \
             counters), top symbols by self time; context switches and CPU time per request from \
             `perf stat`.\n\n",
        );
        if Command::new("perf").arg("--version").output().is_err() {
            out.push_str("`perf` is not installed: nothing measured.\n\n");
            progress::step("profile: perf missing");
            progress::step("profile: perf missing");
            return Section {
                markdown: out,
                charts: Vec::new(),
            };
        }
        let names: Vec<String> = (0..1000).map(|i| format!("t{i}")).collect();
        for (label, count, script) in [
            (
                "hello world, one JS tenant",
                1,
                HOST_SCRIPT.replace("hello.bench", "t0.bench"),
            ),
            (
                "1,000 JS tenants round-robin",
                1000,
                ROUND_ROBIN_SCRIPT.to_string(),
            ),
        ] {
            progress::step(&format!("profile: {label}"));
            let refs: Vec<(&str, &str, &str)> = names
                .iter()
                .take(count)
                .map(|n| (n.as_str(), "hello.js", HELLO_JS))
                .collect();
            let dir = project(&refs);
            let server = self.serve(dir.path());
            for (name, _, _) in &refs {
                get(server.addr, &format!("{name}.bench"));
            }
            let pid = server.child.id().to_string();
            let data = dir.path().join("perf.data");
            let stat = dir.path().join("perf.stat");
            let seconds = self.duration.clone();
            let record = Command::new("perf")
                .args(["record", "-F", "999", "-g", "-p", &pid, "-o"])
                .arg(&data)
                .args(["--", "sleep", &seconds])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("perf record");
            let counters = Command::new("perf")
                .args([
                    "stat",
                    "-e",
                    "task-clock,context-switches,cpu-migrations,page-faults",
                ])
                .args(["-p", &pid, "-x", ",", "-o"])
                .arg(&stat)
                .args(["--", "sleep", &seconds])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("perf stat");
            let load = self.wrk(server.addr, &script);
            let _ = record.wait_with_output();
            let _ = counters.wait_with_output();
            let requests = load.rps * self.duration.parse::<f64>().unwrap_or(5.0);

            let stat = std::fs::read_to_string(&stat).unwrap_or_default();
            let counter = |name: &str| {
                stat.lines()
                    .find(|l| l.contains(name))
                    .and_then(|l| l.split(',').next()?.parse::<f64>().ok())
                    .unwrap_or(f64::NAN)
            };
            writeln!(
                out,
                "### {label}: {:.0} requests/s\n\nPer request: {:.1} µs of islet CPU time, {:.2} context \
                 switches, {:.3} page faults.\n",
                load.rps,
                counter("task-clock") * 1e3 / requests,
                counter("context-switches") / requests,
                counter("page-faults") / requests,
            )
            .unwrap();
            let by_dso = Command::new("perf")
                .args(["report", "--stdio", "--no-children", "-g", "none"])
                .args(["--sort", "dso", "--percent-limit", "2", "-i"])
                .arg(&data)
                .output()
                .expect("perf report");
            let shares: Vec<String> = String::from_utf8_lossy(&by_dso.stdout)
                .lines()
                .filter(|l| l.contains('%') && !l.trim_start().starts_with('#'))
                .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
                .collect();
            writeln!(out, "CPU time by binary: {}.\n", shares.join(", ")).unwrap();
            let report = Command::new("perf")
                .args(["report", "--stdio", "--no-children", "-g", "none"])
                .args(["--sort", "dso,symbol", "--percent-limit", "1", "-i"])
                .arg(&data)
                .output()
                .expect("perf report");
            let text = String::from_utf8_lossy(&report.stdout);
            out.push_str("```text\n");
            for line in text
                .lines()
                .filter(|l| l.contains('%') && !l.trim_start().starts_with('#'))
                .take(25)
            {
                let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
                let line: String = line.chars().take(140).collect();
                writeln!(out, "{line}").unwrap();
            }
            out.push_str("```\n\n");
        }
        Section {
            markdown: out,
            charts: Vec::new(),
        }
    }
}

fn row(out: &mut String, label: &str, load: &Load, reference: f64) {
    writeln!(
        out,
        "| {label} | {:.0} | {:.3} ms | {:.3} ms | {:.3} ms | {:.2}x |",
        load.rps,
        load.p50,
        load.p99,
        load.p999,
        load.rps / reference
    )
    .unwrap();
}

struct Server {
    child: Child,
    addr: SocketAddr,
    /// The server's log lines, as they come.
    logs: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for the line that names the server's address; keeps collecting
/// its log afterwards (so it never blocks on a full pipe).
fn read_addr(child: &mut Child, marker: &str, key: &str) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut before = Vec::new();
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        before.push(line.clone());
        if line.contains(marker)
            && let Some(rest) = line.split(key).nth(1)
        {
            let addr = rest.split_whitespace().next().unwrap().parse().unwrap();
            let logs = Arc::new(Mutex::new(Vec::new()));
            let sink = logs.clone();
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    if line.contains("WARN") || line.contains("ERROR") {
                        sink.lock().unwrap().push(line);
                    }
                }
            });
            return (addr, logs);
        }
    }
    panic!(
        "the server did not report its address; its log:\n{}",
        before.join("\n")
    );
}

/// A project directory: `tenants` as (name, file, code), routed at
/// `NAME.bench/*`.
fn project(tenants: &[(&str, &str, &str)]) -> tempfile::TempDir {
    let bytes: Vec<(&str, &str, &[u8])> = tenants
        .iter()
        .map(|(n, f, c)| (*n, *f, c.as_bytes()))
        .collect();
    project_bytes(&bytes)
}

fn project_bytes(tenants: &[(&str, &str, &[u8])]) -> tempfile::TempDir {
    project_with(
        tenants,
        "[server]\nworkers = 1\nwasm_instances = 12000\n\n[limits]\ncpu_ms = 1000\n",
    )
}

/// A project of tenants on the QuickJS runtime module `quickjs`.
fn runtime_project(tenants: &[(&str, &str, &[u8])], quickjs: &Path) -> tempfile::TempDir {
    let head = format!(
        "[server]\nworkers = 1\nwasm_instances = 12000\n\n[limits]\ncpu_ms = 1000\n\n[runtimes]\nquickjs = \"{}\"\n",
        quickjs.display()
    );
    project::project_with(&head, tenants, "runtime = \"quickjs\"")
}

/// The QuickJS runtime module, built by `sdk/runtimes/build.sh` (once
/// per run); `None` if that fails (no C toolchain for wasm).
fn runtimes() -> Option<PathBuf> {
    static BUILT: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let out = root.join("target/bench-runtimes");
            let ok = Command::new("bash")
                .arg(root.join("sdk/runtimes/build.sh"))
                .arg(&out)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            ok.then(|| out.join("quickjs.wasm"))
        })
        .clone()
}

/// A project whose config starts with `head`.
fn project_with(tenants: &[(&str, &str, &[u8])], head: &str) -> tempfile::TempDir {
    project::project(head, tenants)
}

fn get(addr: SocketAddr, host: &str) {
    assert_eq!(status_of(addr, host), 200, "GET / on {host}");
}

/// The status of `GET /` on `host`, on a new connection.
fn status_of(addr: SocketAddr, host: &str) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "GET / HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out)
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Milliseconds for `GET /` on `host`, connection included.
fn timed_get(addr: SocketAddr, host: &str) -> f64 {
    let started = Instant::now();
    get(addr, host);
    started.elapsed().as_secs_f64() * 1e3
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn rss(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kb: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kb * 1024
}

const SPIN_JS: &str = "export default { fetch() { while (true) {} } };";
const SPIN_WAT: &str = r#"(module (memory (export "memory") 1)
  (func (export "islet_handle") (loop $l (br $l))))"#;

const HOST_SCRIPT: &str = r#"wrk.headers["Host"] = "hello.bench""#;

const ROUND_ROBIN_SCRIPT: &str = r#"
local i = 0
request = function()
  i = (i + 1) % 1000
  return wrk.format("GET", "/", { ["Host"] = "t" .. i .. ".bench" })
end
"#;

/// Prints `RESULT requests duration_us p50_us p99_us p999_us`.
const WRK_REPORT: &str = r#"
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %f %f %f %f\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
"#;
