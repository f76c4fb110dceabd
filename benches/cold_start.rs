//! Cold starts: the time from a request's arrival at `islet::Host` to its
//! response, for tenants that have no isolate or instance yet. A warm
//! request is shown for scale.
//!
//! - JavaScript, with and without the V8 start-up snapshot, side by side
//!   (isolate + context creation, platform layer, module evaluation, the
//!   request itself).
//! - WebAssembly: the WAT hello world and the SDK examples, with their
//!   module sizes. Modules are compiled when the tenant is loaded, so a
//!   cold start is instantiation from the linked `InstancePre`, the WASI
//!   context, `_initialize` (libc and Rust std start-up) and the request.
//!   The SDK examples are built first with `examples/build.sh` (see the
//!   README for the toolchain).
//!
//! Run with `cargo bench -p islet-benches --bench cold_start`. Set
//! `ISLET_BENCH_QUICK=1` for a shorter run.

use islet::{Config, Host};
use std::path::{Path, PathBuf};

#[path = "inprocess.rs"]
#[allow(dead_code)] // this bench uses only some of the helpers
mod inprocess;
#[path = "project.rs"]
mod project;

use inprocess::percentile;

const HELLO_JS: &str = r#"export default { fetch(request) { return new Response("hello " + new URL(request.url).pathname); } };"#;

fn main() {
    let quick = std::env::var_os("ISLET_BENCH_QUICK").is_some();
    let tenants = if quick { 50 } else { 300 };
    islet::init_v8();
    let runtime = inprocess::driver();

    println!("## JavaScript cold start (islet-benches/cold_start.rs)\n");
    println!("{tenants} tenants per mode, each started by its first request; 2 worker threads.\n");
    println!("| platform layer | cold p50 | cold p99 | warm p50 |");
    println!("|---|---|---|---|");
    for (label, snapshot) in [
        ("from the snapshot", true),
        ("evaluated per isolate", false),
    ] {
        islet::engine::js::set_snapshot_enabled(snapshot);
        let (cold, warm) = runtime.block_on(measure(tenants, Main::Js(HELLO_JS)));
        println!(
            "| {label} | {:.2} ms | {:.2} ms | {:.3} ms |",
            percentile(&cold, 0.5),
            percentile(&cold, 0.99),
            percentile(&warm, 0.5)
        );
    }
    islet::engine::js::set_snapshot_enabled(true);

    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let built = std::process::Command::new("bash")
        .arg(examples.join("build.sh"))
        .output()
        .expect("run examples/build.sh");
    assert!(
        built.status.success(),
        "examples/build.sh failed (see the README for the wasm toolchain):\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let release = examples.join("target/wasm32-wasip1/release");
    println!("\n## WebAssembly cold start (islet-benches/cold_start.rs)\n");
    println!(
        "{tenants} tenants per module, each started by its first request; 2 worker threads.\n"
    );
    println!("| module | size | cold p50 | cold p99 | warm p50 |");
    println!("|---|---|---|---|---|");
    for (label, path) in [
        ("WAT hello world", examples.join("hello-wat/hello.wat")),
        ("Rust hello world (SDK)", release.join("hello_rust.wasm")),
        ("C hello world (SDK)", release.join("hello_c.wasm")),
        ("Rust JSON API (SDK, serde)", release.join("json_api.wasm")),
    ] {
        let size = std::fs::metadata(&path).expect("module").len();
        let (cold, warm) = runtime.block_on(measure(tenants, Main::File(path)));
        println!(
            "| {label} | {:.1} KB | {:.3} ms | {:.3} ms | {:.3} ms |",
            size as f64 / 1e3,
            percentile(&cold, 0.5),
            percentile(&cold, 0.99),
            percentile(&warm, 0.5)
        );
    }
}

/// The tenants' code: JS source to write, or a module file to point at.
enum Main {
    Js(&'static str),
    File(PathBuf),
}

async fn measure(tenants: usize, main: Main) -> (Vec<f64>, Vec<f64>) {
    let (file, code) = match main {
        Main::Js(source) => ("hello.js".to_string(), source.as_bytes().to_vec()),
        Main::File(path) => {
            let name = path
                .file_name()
                .expect("a file")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&path).expect("read module"))
        }
    };
    let names: Vec<String> = (0..tenants).map(|i| format!("t{i}")).collect();
    let refs: Vec<(&str, &str, &[u8])> = names
        .iter()
        .map(|n| (n.as_str(), file.as_str(), code.as_slice()))
        .collect();
    let dir = project::project("[server]\nworkers = 2\n", &refs);
    let config = Config::load(&dir.path().join("islet.toml")).expect("config");
    let host = Host::new(&config).expect("host");
    let measured = inprocess::cold_and_warm(&host, tenants).await;
    inprocess::stop(host);
    measured
}
