//! The Rust and C SDKs, for real: the examples are compiled to wasm32-wasip1
//! by `examples/build.sh` (with the toolchain the environment names; see
//! the README), served by `islet serve`, and checked over HTTP, including
//! `fetch` to a local upstream, the scoped WASI and the guest's mistakes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::fetch::upstream;
use crate::support::{Project, Server, example};

/// The directory of the built example modules; builds them on first use.
fn built() -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let script = example("build.sh");
            let out = Command::new("bash")
                .arg(&script)
                .output()
                .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
            if !out.status.success() {
                return Err(format!(
                    "examples/build.sh failed (is the wasm32-wasip1 toolchain installed? \
                     see the README):\n{}\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            Ok(example("target/wasm32-wasip1/release"))
        })
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn module(name: &str) -> String {
    let path = built().join(name);
    assert!(path.is_file(), "{} was not built", path.display());
    path.to_str().unwrap().replace('\\', "/")
}

#[tokio::test]
async fn the_examples_config_serves_every_example() {
    built();
    let server = Server::start(&["serve", "--config", example("islet.toml").to_str().unwrap()]);

    let rust = server.get("rust.localhost", "/where").await;
    assert_eq!(rust.status, 200);
    assert_eq!(rust.body, "Hello from Rust! GET /where\n");
    assert_eq!(
        rust.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(rust.header("content-length"), Some("28"));

    let c = server.get("c.localhost", "/there").await;
    assert_eq!(c.body, "Hello from C! GET /there\n");
    server.wait_for_log(&["INFO", "hello-c", "handling GET /there"]);

    let index = server.get("files.localhost", "/").await;
    assert_eq!(index.status, 200);
    assert_eq!(
        index.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        index.body.contains("Served from a directory"),
        "{}",
        index.body
    );

    let api = server.get("api.localhost", "/todos").await;
    assert_eq!((api.status, api.body.as_str()), (200, "[]"));

    // The JS and WAT examples still answer next to them.
    assert_eq!(server.get("wasm.localhost", "/").await.status, 200);
    assert!(server.get("js.localhost", "/").await.body.contains("Hello"));
}

#[tokio::test]
async fn the_json_api_routes_on_method_and_path() {
    let project = Project::new();
    project.config(&format!(
        "[[tenant]]\nname = \"api\"\nmain = \"{}\"\nroutes = [\"*/*\"]\n",
        module("json_api.wasm")
    ));
    let server = project.serve();
    let json = [("content-type", "application/json")];

    let created = server
        .send("POST", "x", "/todos", &json, r#"{"title":"write tests"}"#)
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.header("location"), Some("/todos/1"));
    assert_eq!(
        created.body,
        r#"{"id":1,"title":"write tests","done":false}"#
    );
    server
        .send("POST", "x", "/todos", &json, r#"{"title":"ship"}"#)
        .await;

    let patched = server
        .send("PATCH", "x", "/todos/1", &json, r#"{"done":true}"#)
        .await;
    assert_eq!(
        patched.body,
        r#"{"id":1,"title":"write tests","done":true}"#
    );
    let list = server.get("x", "/todos").await;
    assert_eq!(
        list.body,
        r#"[{"id":1,"title":"write tests","done":true},{"id":2,"title":"ship","done":false}]"#
    );
    assert_eq!(list.header("content-type"), Some("application/json"));

    let deleted = server.send("DELETE", "x", "/todos/2", &[], "").await;
    assert_eq!(deleted.status, 204);
    let missing = server.get("x", "/todos/2").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body, r#"{"error":"no to-do with id 2"}"#);

    let bad = server.send("POST", "x", "/todos", &json, "{nope").await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("invalid JSON body"), "{}", bad.body);
    let empty = server
        .send("POST", "x", "/todos", &json, r#"{"title":" "}"#)
        .await;
    assert_eq!(empty.status, 400);
    let bad_id = server.get("x", "/todos/abc").await;
    assert_eq!(bad_id.status, 400);

    let wrong_method = server.send("PUT", "x", "/todos", &[], "").await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("allow"), Some("GET, POST"));
    assert_eq!(server.get("x", "/elsewhere").await.status, 404);
}

#[tokio::test]
async fn the_proxy_fetches_allowed_upstreams_and_transforms_them() {
    let up = upstream().await;
    let project = Project::new();
    let proxy = module("proxy.wasm");
    project.config(&format!(
        r#"
        [[tenant]]
        name = "allowed"
        main = "{proxy}"
        routes = ["allowed/*"]
        vars = {{ UPSTREAM = "http://127.0.0.1:{port}" }}
        allowed_hosts = ["127.0.0.1:{port}"]

        [[tenant]]
        name = "denied"
        main = "{proxy}"
        routes = ["denied/*"]
        vars = {{ UPSTREAM = "http://127.0.0.1:{port}" }}
        allowed_hosts = ["api.example.com"]
        "#,
        port = up.port()
    ));
    let server = project.serve();

    // JSON is wrapped.
    let json = server.get("allowed", "/json").await;
    assert_eq!(json.status, 200);
    assert_eq!(
        json.body,
        r#"{"data":{"list":["a","b"],"n":1},"upstream_status":200}"#
    );
    assert_eq!(json.header("x-proxied-by"), Some("islet"));

    // Anything else streams through, with the upstream's headers and status.
    let text = server.get("allowed", "/hello").await;
    assert_eq!(text.body, "upstream says hi");
    assert_eq!(text.header("x-upstream"), Some("yes"));
    assert_eq!(text.header("x-proxied-by"), Some("islet"));
    assert_eq!(server.get("allowed", "/nowhere").await.status, 404);
    // Redirects are followed; the request body and method are forwarded.
    assert_eq!(
        server.get("allowed", "/redirect").await.body,
        "upstream says hi"
    );
    let echo = server
        .send("POST", "allowed", "/echo", &[], "payload")
        .await;
    assert_eq!(echo.body, "POST  payload");

    // The same module, without the upstream in `allowed_hosts`.
    let denied = server.get("denied", "/hello").await;
    assert_eq!(denied.status, 502);
    assert!(
        denied
            .body
            .starts_with("the upstream is not allowed: fetch to `127.0.0.1:"),
        "{}",
        denied.body
    );
}

#[tokio::test]
async fn the_c_sdk_reads_vars_fetches_and_logs() {
    let up = upstream().await;
    let project = Project::new();
    let hello = module("hello_c.wasm");
    project.config(&format!(
        r#"
        [[tenant]]
        name = "c-allowed"
        main = "{hello}"
        routes = ["allowed/*"]
        vars = {{ GREETING = "Howdy", UPSTREAM = "http://127.0.0.1:{port}/hello" }}
        allowed_hosts = ["127.0.0.1:{port}"]

        [[tenant]]
        name = "c-denied"
        main = "{hello}"
        routes = ["denied/*"]
        vars = {{ UPSTREAM = "http://127.0.0.1:{port}/hello" }}
        "#,
        port = up.port()
    ));
    let server = project.serve();

    let hello = server.get("allowed", "/x?y=1").await;
    assert_eq!(hello.body, "Howdy from C! GET /x\n");
    server.wait_for_log(&["INFO", "c-allowed", "handling GET /x"]);

    let fetched = server.get("allowed", "/?upstream=1").await;
    assert_eq!(fetched.status, 200);
    assert_eq!(
        fetched.body,
        "upstream answered 200 with 16 bytes: upstream says hi"
    );

    let denied = server.get("denied", "/?upstream=1").await;
    assert_eq!(denied.status, 502);
    assert!(
        denied.body.contains("fetch to `127.0.0.1:"),
        "{}",
        denied.body
    );
}

#[tokio::test]
async fn a_granted_directory_is_read_only_and_cannot_be_left() {
    let project = Project::new();
    let files = module("files.wasm");
    project
        .file("public/index.html", "<p>home</p>")
        .file("public/docs/a.txt", "alpha")
        .file("secret.txt", "outside the grant")
        .file("shared/data.json", "{}");
    std::os::unix::fs::symlink(project.path("secret.txt"), project.path("public/link.txt"))
        .unwrap();
    project.config(&format!(
        r#"
        [[tenant]]
        name = "ro"
        main = "{files}"
        routes = ["ro/*"]
        dir = "public"

        [[tenant]]
        name = "rw"
        main = "{files}"
        routes = ["rw/*"]
        dir = "shared"
        dir_writable = true

        [[tenant]]
        name = "none"
        main = "{files}"
        routes = ["none/*"]
        "#
    ));
    let server = project.serve();

    assert_eq!(server.get("ro", "/").await.body, "<p>home</p>");
    let nested = server.get("ro", "/docs/a.txt").await;
    assert_eq!((nested.status, nested.body.as_str()), (200, "alpha"));
    assert_eq!(server.get("ro", "/missing.txt").await.status, 404);

    // `..` and a symlink out of the directory both stay inside it.
    let dotdot = server.get("ro", "/docs/../../secret.txt").await;
    assert_ne!(dotdot.status, 200, "{}", dotdot.body);
    assert!(!dotdot.body.contains("outside the grant"));
    let link = server.get("ro", "/link.txt").await;
    assert_ne!(link.status, 200, "{}", link.body);
    assert!(!link.body.contains("outside the grant"));

    // Read-only unless the config says otherwise.
    let put = server.send("PUT", "ro", "/new.txt", &[], "data").await;
    assert_eq!(put.status, 403, "{}", put.body);
    assert!(!project.path("public/new.txt").exists());
    let put = server.send("PUT", "rw", "/new.txt", &[], "data").await;
    assert_eq!(put.status, 201, "{}", put.body);
    assert_eq!(
        std::fs::read_to_string(project.path("shared/new.txt")).unwrap(),
        "data"
    );
    assert_eq!(server.get("rw", "/new.txt").await.body, "data");

    // No grant, no filesystem: WASI answers "not capable".
    let none = server.get("none", "/index.html").await;
    assert_eq!(none.status, 403, "{}", none.body);
}

/// A guest that reads both WASI clocks around a busy loop and again after
/// an I/O event, draws random bytes two ways, and prints to stdout and
/// stderr.
const WASI_PROBE: &str = r#"
(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "islet" "random_fill" (func $fill (param i32 i32) (result i32)))
  (import "islet" "response_write" (func $write (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 200) "frozen\n")
  (data (i32.const 210) "MOVING\n")
  (data (i32.const 220) "advanced\n")
  (data (i32.const 230) "STUCK\n")
  (data (i32.const 240) "random\n")
  (data (i32.const 250) "ZEROS\n")
  (data (i32.const 300) "to stdout\n")
  (data (i32.const 320) "to stderr\n")
  (func $spin (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 30000000)))))
  (func $print (param $fd i32) (param $ptr i32)
    (i32.store (i32.const 400) (local.get $ptr))
    (i32.store (i32.const 404) (i32.const 10))
    (drop (call $fd_write (local.get $fd) (i32.const 400) (i32.const 1) (i32.const 408))))
  (func $nonzero (param $ptr i32) (result i32)
    (i32.or
      (i64.ne (i64.load (local.get $ptr)) (i64.const 0))
      (i64.ne (i64.load (i32.add (local.get $ptr) (i32.const 8))) (i64.const 0))))
  (func (export "islet_handle")
    ;; monotonic at 0, wall at 8; spin; again at 16 and 24
    (drop (call $clock (i32.const 1) (i64.const 0) (i32.const 0)))
    (drop (call $clock (i32.const 0) (i64.const 0) (i32.const 8)))
    (call $spin)
    (drop (call $clock (i32.const 1) (i64.const 0) (i32.const 16)))
    (drop (call $clock (i32.const 0) (i64.const 0) (i32.const 24)))
    (if (i32.and
          (i64.eq (i64.load (i32.const 0)) (i64.load (i32.const 16)))
          (i64.eq (i64.load (i32.const 8)) (i64.load (i32.const 24))))
      (then (drop (call $write (i32.const 200) (i32.const 7))))
      (else (drop (call $write (i32.const 210) (i32.const 7)))))
    ;; the write was an I/O event: now both clocks moved past the spin
    (drop (call $clock (i32.const 1) (i64.const 0) (i32.const 32)))
    (drop (call $clock (i32.const 0) (i64.const 0) (i32.const 40)))
    (if (i32.and
          (i64.gt_u (i64.load (i32.const 32)) (i64.load (i32.const 16)))
          (i64.gt_u (i64.load (i32.const 40)) (i64.load (i32.const 24))))
      (then (drop (call $write (i32.const 220) (i32.const 9))))
      (else (drop (call $write (i32.const 230) (i32.const 6)))))
    (drop (call $random (i32.const 100) (i32.const 16)))
    (drop (call $fill (i32.const 120) (i32.const 16)))
    (if (i32.and (call $nonzero (i32.const 100)) (call $nonzero (i32.const 120)))
      (then (drop (call $write (i32.const 240) (i32.const 7))))
      (else (drop (call $write (i32.const 250) (i32.const 6)))))
    (call $print (i32.const 1) (i32.const 300))
    (call $print (i32.const 2) (i32.const 320))))
"#;

#[tokio::test]
async fn wasi_clocks_freeze_while_the_guest_runs_and_output_goes_to_the_log() {
    let project = Project::new();
    project.file("probe.wat", WASI_PROBE).config(
        r#"
        [[tenant]]
        name = "probe"
        main = "probe.wat"
        routes = ["*/*"]
        limits = { cpu_ms = 5000 }
        "#,
    );
    let server = project.serve();
    let reply = server.get("x", "/").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "frozen\nadvanced\nrandom\n");
    server.wait_for_log(&["INFO", "probe", "to stdout"]);
    server.wait_for_log(&["WARN", "probe", "to stderr"]);
}

#[tokio::test]
async fn guest_mistakes_fail_only_their_request_and_say_what_went_wrong() {
    let project = Project::new();
    let imports = r#"
        (import "islet" "response_set_status" (func $status (param i32) (result i32)))
        (import "islet" "response_add_header" (func $header (param i32 i32 i32 i32) (result i32)))
        (import "islet" "response_write" (func $write (param i32 i32) (result i32)))
        (import "islet" "fetch_status" (func $fetch_status (param i32) (result i32)))
        (import "islet" "request_url" (func $url (param i32 i32) (result i32)))
        (memory (export "memory") 2)
        (data (i32.const 0) "x-big")
        (data (i32.const 16) "ok")
    "#;
    project
        .file(
            "twice.wat",
            format!(
                r#"(module {imports}
                (func (export "islet_handle")
                  (drop (call $write (i32.const 16) (i32.const 2)))
                  (drop (call $status (i32.const 404)))))"#
            ),
        )
        .file(
            "huge.wat",
            format!(
                r#"(module {imports}
                (func (export "islet_handle")
                  (local $i i32)
                  (memory.fill (i32.const 1024) (i32.const 0x61) (i32.const 70000))
                  (drop (call $header (i32.const 0) (i32.const 5) (i32.const 1024) (i32.const 70000)))))"#
            ),
        )
        .file(
            "handle.wat",
            format!(
                r#"(module {imports}
                (func (export "islet_handle")
                  (drop (call $fetch_status (i32.const 7)))))"#
            ),
        )
        .file(
            "pointer.wat",
            format!(
                r#"(module {imports}
                (func (export "islet_handle")
                  (drop (call $url (i32.const 131000) (i32.const 4096)))))"#
            ),
        )
        .file(
            "fine.wat",
            format!(
                r#"(module {imports}
                (func (export "islet_handle")
                  (drop (call $write (i32.const 16) (i32.const 2)))))"#
            ),
        );
    let mut config = String::new();
    for name in ["twice", "huge", "handle", "pointer", "fine"] {
        config.push_str(&format!(
            "[[tenant]]\nname = \"{name}\"\nmain = \"{name}.wat\"\nroutes = [\"{name}/*\"]\n"
        ));
    }
    project.config(&config);
    let server = project.serve();

    // The head was out already: the response is cut off (never the last
    // chunk; the front may even drop what it had not flushed) and the log
    // says why.
    let twice = raw_get(server.addr, "twice");
    assert!(!twice.contains("\r\n0\r\n\r\n"), "{twice:?}");
    assert!(!twice.contains("404"), "{twice:?}");
    server.wait_for_log(&[
        "twice",
        "`response_set_status` was called after the response head was sent",
    ]);

    let huge = server.get("huge", "/").await;
    assert_eq!((huge.status, huge.outcome()), (500, Some("exception")));
    server.wait_for_log(&["huge", "the response headers exceed 65536 bytes"]);

    let handle = server.get("handle", "/").await;
    assert_eq!(handle.status, 500);
    server.wait_for_log(&["handle", "was given 7, which is not an open fetch handle"]);

    let pointer = server.get("pointer", "/").await;
    assert_eq!(pointer.status, 500);
    server.wait_for_log(&["pointer", "`request_url` was given an out-of-bounds buffer"]);

    // Nobody else noticed, and the failed tenants start afresh.
    assert_eq!(server.get("fine", "/").await.body, "ok");
    assert_eq!(server.get("huge", "/").await.status, 500);
}

/// Everything the server sends for a `GET /` until it closes the
/// connection.
fn raw_get(addr: SocketAddr, host: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET / HTTP/1.1\r\nhost: {host}\r\n\r\n").unwrap();
    let mut text = Vec::new();
    let _ = stream.read_to_end(&mut text);
    String::from_utf8_lossy(&text).into_owned()
}
