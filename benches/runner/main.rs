//! The macro benchmark runner: starts real `islet serve` processes and
//! drives them over HTTP with `wrk`, reporting throughput and latency side
//! by side with a bare hyper server measured in the same run.
//!
//! ```text
//! cargo run --release -p islet-benches --bin islet-bench -- [all|hello|switching|density]
//! ```
//!
//! Needs `wrk` on the PATH. The server runs on core 0 and `wrk` on core 1
//! (`taskset`) when the machine has two or more cores. Results are printed
//! as markdown and written to `benches/results/latest.md`.
//!
//! Peers: the same JS worker also runs on Deno and workerd when they are
//! found, in `benches/peers/node_modules/.bin` (`npm ci --prefix
//! benches/peers`) or on the PATH; missing peers are reported as such.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod hyper_server;

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
    let scenario = args.get(1).cloned().unwrap_or_else(|| "all".into());
    let duration = std::env::var("ISLET_BENCH_SECONDS").unwrap_or_else(|_| "5".into());
    let bench = Bench::new(&duration);

    let mut report = String::new();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    writeln!(
        report,
        "# islet macro benchmarks\n\n{cores} cores; {}; wrk `-t1 -c32 -d{duration}s`; each figure from this one run.\n",
        if bench.pin { "server on core 0, wrk on core 1 (taskset)" } else { "no core pinning (one core)" }
    )
    .unwrap();
    if matches!(scenario.as_str(), "all" | "hello") {
        report.push_str(&bench.hello());
    }
    if matches!(scenario.as_str(), "all" | "switching") {
        report.push_str(&bench.switching());
    }
    if matches!(scenario.as_str(), "all" | "density") {
        report.push_str(&bench.density());
    }
    println!("{report}");
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    std::fs::create_dir_all(&results).expect("results directory");
    std::fs::write(results.join("latest.md"), &report).expect("write results");
    eprintln!("written to {}", results.join("latest.md").display());
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

    /// Starts `islet serve` on a config of `tenants` in a temp directory.
    fn serve(&self, dir: &Path, workers: usize) -> Server {
        let mut child = self
            .pinned(0, &self.islet)
            .args(["serve", "--config"])
            .arg(dir.join("islet.toml"))
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn,islet=info,islet::host=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start islet");
        let addr = read_addr(&mut child, "islet listening", " addr=");
        let _ = workers;
        Server { child, addr }
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
        Some(Server { child, addr })
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
        let addr = read_addr(&mut child, "hyper listening", " addr=");
        Server { child, addr }
    }

    fn wrk(&self, addr: SocketAddr, script: &str) -> Load {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("script.lua");
        std::fs::write(&path, format!("{script}\n{WRK_REPORT}")).expect("write script");
        let out = self
            .pinned(1, Path::new("wrk"))
            .args(["-t1", "-c32", &format!("-d{}s", self.duration), "-s"])
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

    fn hello(&self) -> String {
        let mut out = String::from(
            "## Hello world, one tenant\n\n| server | requests/s | p50 | p99 | p99.9 | vs bare hyper |\n|---|---|---|---|---|---|\n",
        );
        let hyper = self.hyper();
        let base = self.wrk(hyper.addr, HOST_SCRIPT);
        drop(hyper);
        row(&mut out, "bare hyper (ceiling)", &base, base.rps);
        let mut islet_js = 0.0;
        for (label, file, code) in [
            ("islet, JS on V8", "hello.js", HELLO_JS),
            ("islet, WASM on wasmtime", "hello.wat", HELLO_WAT),
        ] {
            let dir = project(&[("hello", file, code)]);
            let server = self.serve(dir.path(), 1);
            let load = self.wrk(server.addr, HOST_SCRIPT);
            if file.ends_with(".js") {
                islet_js = load.rps;
            }
            row(&mut out, label, &load, base.rps);
        }
        let mut ratios = Vec::new();
        for peer in ["deno", "workerd"] {
            match self.peer(peer) {
                Some(server) => {
                    let load = self.wrk(server.addr, HOST_SCRIPT);
                    row(
                        &mut out,
                        &format!("{peer}, same JS worker"),
                        &load,
                        base.rps,
                    );
                    ratios.push(format!("islet JS / {peer}: {:.2}x", islet_js / load.rps));
                }
                None => writeln!(
                    out,
                    "| {peer} | not found (`npm ci --prefix benches/peers`) | | | | |"
                )
                .unwrap(),
            }
        }
        if !ratios.is_empty() {
            writeln!(out, "\n{}.", ratios.join("; ")).unwrap();
        }
        out.push('\n');
        out
    }

    fn switching(&self) -> String {
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
        let server = self.serve(dir.path(), 1);
        // Start every tenant's isolate first: this measures switching
        // between live isolates, not cold starts.
        for (name, _, _) in &refs {
            get(server.addr, &format!("{name}.bench"));
        }
        let one = self.wrk(
            server.addr,
            HOST_SCRIPT.replace("hello.bench", "t0.bench").as_str(),
        );
        let all = self.wrk(server.addr, ROUND_ROBIN_SCRIPT);
        row(&mut out, "one tenant", &one, one.rps);
        row(&mut out, "1,000 tenants round-robin", &all, one.rps);
        out.push('\n');
        out
    }

    fn density(&self) -> String {
        let mut out = String::from(
            "## Density: resident memory with idle tenants (each started by one request)\n\n| engine | tenants | RSS | per tenant |\n|---|---|---|---|\n",
        );
        for (engine, file, code) in [
            ("JS on V8", "hello.js", HELLO_JS),
            ("WASM on wasmtime", "hello.wat", HELLO_WAT),
        ] {
            let mut base = 0usize;
            for count in [0usize, 100, 1000] {
                let names: Vec<String> = (0..count.max(1)).map(|i| format!("t{i}")).collect();
                let refs: Vec<(&str, &str, &str)> =
                    names.iter().map(|n| (n.as_str(), file, code)).collect();
                let dir = project(&refs);
                let server = self.serve(dir.path(), 1);
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
                    format!(
                        "{:.0} KiB",
                        (rss.saturating_sub(base)) as f64 / count as f64 / 1024.0
                    )
                };
                writeln!(
                    out,
                    "| {engine} | {count} | {:.1} MiB | {per} |",
                    rss as f64 / (1 << 20) as f64
                )
                .unwrap();
            }
        }
        out.push('\n');
        out
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
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_addr(child: &mut Child, marker: &str, key: &str) -> SocketAddr {
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if line.contains(marker)
            && let Some(rest) = line.split(key).nth(1)
        {
            let addr = rest.split_whitespace().next().unwrap().parse().unwrap();
            // Keep draining stderr so the server never blocks on it.
            std::thread::spawn(move || for _ in lines {});
            return addr;
        }
    }
    panic!("the server did not report its address");
}

/// A project directory: `tenants` as (name, file, code), routed at
/// `NAME.bench/*`.
fn project(tenants: &[(&str, &str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut toml = String::from("[server]\nworkers = 1\n\n[limits]\ncpu_ms = 1000\n");
    for (name, file, code) in tenants {
        std::fs::write(dir.path().join(file), code).expect("write tenant");
        write!(
            toml,
            "\n[[tenant]]\nname = \"{name}\"\nmain = \"{file}\"\nroutes = [\"{name}.bench/*\"]\n"
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("islet.toml"), toml).expect("write config");
    dir
}

fn get(addr: SocketAddr, host: &str) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "GET / HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    assert!(
        out.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&out)
    );
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
