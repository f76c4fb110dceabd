//! CPU, memory, wall-clock and queue limits, each obeyed and violated,
//! against hostile tenants on both engines. After every hostile case the
//! host still serves its other tenants.

use std::time::Duration;

use crate::support::{Project, Server, send};

/// A neighbour that must keep answering whatever the others do.
const NEIGHBOUR: &str = r#"export default { fetch() { return new Response("neighbour ok"); } };"#;

/// JavaScript tenants that misbehave on request, by path. The counter
/// shows whether a later request runs in the same isolate.
const HOSTILE_JS: &str = r#"
let requests = 0;
const keep = [];
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
function burn(iterations) { let x = 0; for (let i = 0; i < iterations; i++) x += i % 7; return x; }
function recurse(n) { return recurse(n + 1) + 1; }

export default {
  async fetch(request) {
    requests++;
    const path = request.url.replace(/^https?:\/\/[^/]+/, "");
    switch (path) {
      case "/count": return new Response(String(requests));
      case "/light": burn(1e5); return new Response("light ok");
      case "/spin": while (true) {}
      case "/catch": try { for (;;) {} } catch { for (;;) {} }
      case "/microtasks": { const again = () => Promise.resolve().then(again); again(); return new Response("never"); }
      case "/bursts": for (;;) { burn(2e6); await pause(1); }
      case "/quiet": { for (let i = 0; i < 10; i++) await pause(20); return new Response("quiet ok"); }
      case "/strings": { for (let i = 0; ; i++) keep.push("x".repeat(1 << 20) + i); }
      case "/concat": { let s = ""; for (;;) s += String(Math.random()); }
      case "/arrays": { for (;;) keep.push(new Array(1 << 16).fill(1.5)); }
      case "/buffers": { for (;;) keep.push(new ArrayBuffer(8 << 20)); }
      case "/small-buffer": { keep.push(new Uint8Array(8 << 20).fill(1)); return new Response("small ok"); }
      case "/recursion": { try { recurse(0); } catch (e) { return new Response(e.constructor.name); } }
      case "/wait": { await pause(60000); return new Response("late"); }
      case "/short-wait": { await pause(50); return new Response("waited"); }
    }
    return new Response("unknown path " + path, { status: 404 });
  },
};
"#;

/// Hostile JS next to a neighbour on one worker thread. CPU tests use a
/// 50 ms budget; memory tests a generous one, so that memory is what
/// stops them.
fn js_project(extra: &str) -> Project {
    js_project_with(extra, 50)
}

fn js_project_with(extra: &str, cpu_ms: u64) -> Project {
    let project = Project::new();
    project
        .file("hostile.js", HOSTILE_JS)
        .file("neighbour.js", NEIGHBOUR)
        .config(&format!(
            r#"
            [server]
            workers = 1
            {extra}

            [limits]
            cpu_ms = {cpu_ms}
            memory_mb = 32
            wall_ms = 2000

            [[tenant]]
            name = "hostile"
            main = "hostile.js"
            routes = ["hostile.test/*"]

            [[tenant]]
            name = "neighbour"
            main = "neighbour.js"
            routes = ["n.test/*"]
            "#
        ));
    project
}

async fn assert_neighbour_ok(server: &Server) {
    let reply = server.get("n.test", "/").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "neighbour ok"));
}

#[tokio::test]
async fn js_cpu_limit_stops_runaway_code_and_keeps_the_isolate() {
    let project = js_project("");
    let server = project.serve();

    // Obeyed.
    let reply = server.get("hostile.test", "/light").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "light ok"));

    // Violated, two ways: the isolate survives both.
    for path in ["/spin", "/catch"] {
        let reply = server.get("hostile.test", path).await;
        assert_eq!(reply.status, 503, "{path}: {}", reply.body);
        assert_eq!(reply.outcome(), Some("exceeded-cpu"), "{path}");
        assert_neighbour_ok(&server).await;
    }
    let line = server.wait_for_log(&[
        "WARN",
        "tenant `hostile` exceeded its CPU limit of 50 ms (used",
    ]);
    assert!(line.contains("ms)"), "{line}");
    assert_eq!(server.get("hostile.test", "/count").await.body, "4");

    // A third stop (an endless microtask chain) moves the tenant to a
    // quarantine thread, in a fresh isolate.
    let reply = server.get("hostile.test", "/microtasks").await;
    assert_eq!(reply.outcome(), Some("exceeded-cpu"));
    server.wait_for_log(&["tenant `hostile` moved to a quarantine thread after 3 requests"]);
    assert_eq!(server.get("hostile.test", "/count").await.body, "1");
    assert_eq!(server.get("hostile.test", "/light").await.body, "light ok");
    assert_neighbour_ok(&server).await;
}

#[tokio::test]
async fn only_the_request_that_burns_cpu_is_charged() {
    let project = js_project("");
    let server = project.serve();
    let addr = server.addr;
    // The spinner burns in bursts between timers; the quiet request waits
    // on timers in the same isolate, interleaved with it.
    let bursts = tokio::spawn(async move {
        send(
            addr,
            "GET",
            "hostile.test",
            "/bursts",
            &[],
            Default::default(),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(5)).await;
    let quiet = server.get("hostile.test", "/quiet").await;
    let bursts = bursts.await.unwrap();
    assert_eq!((quiet.status, quiet.body.as_str()), (200, "quiet ok"));
    assert_eq!(bursts.status, 503);
    assert_eq!(bursts.outcome(), Some("exceeded-cpu"));
    assert_eq!(server.get("hostile.test", "/count").await.body, "3");
}

#[tokio::test]
async fn a_cpu_burner_does_not_starve_its_neighbour_for_long() {
    let project = js_project("");
    let server = project.serve();
    let addr = server.addr;
    let spin = tokio::spawn(async move {
        send(
            addr,
            "GET",
            "hostile.test",
            "/spin",
            &[],
            Default::default(),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    // Same worker thread: the neighbour waits for the burner's slice to be
    // cut at 50 ms, then answers.
    assert_neighbour_ok(&server).await;
    assert_eq!(spin.await.unwrap().outcome(), Some("exceeded-cpu"));
}

#[tokio::test]
async fn js_memory_limit_stops_bombs_and_recycles_the_isolate() {
    let project = js_project_with("", 5000);
    let server = project.serve();

    // Obeyed: 8 MiB of buffer under a 32 MiB limit.
    let reply = server.get("hostile.test", "/small-buffer").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "small ok"));

    for path in ["/strings", "/concat", "/arrays", "/buffers"] {
        let reply = server.get("hostile.test", path).await;
        assert_eq!(reply.status, 503, "{path}: {}", reply.body);
        assert_eq!(reply.outcome(), Some("exceeded-memory"), "{path}");
        assert_neighbour_ok(&server).await;
        // A fresh isolate: the counter starts again.
        assert_eq!(
            server.get("hostile.test", "/count").await.body,
            "1",
            "{path}"
        );
    }
    server.wait_for_log(&[
        "WARN",
        "tenant `hostile` exceeded its memory limit of 32 MiB",
    ]);
}

#[tokio::test]
async fn deep_recursion_is_a_catchable_range_error() {
    let project = js_project("");
    let server = project.serve();
    let reply = server.get("hostile.test", "/recursion").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "RangeError"));
    assert_eq!(server.get("hostile.test", "/count").await.body, "2");
}

#[tokio::test]
async fn the_wall_clock_limit_ends_requests_stuck_waiting() {
    let project = js_project("");
    let server = project.serve();
    let reply = server.get("hostile.test", "/short-wait").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "waited"));
    let reply = server.get("hostile.test", "/wait").await;
    assert_eq!(reply.status, 504);
    assert_eq!(reply.outcome(), Some("exceeded-wall"));
    server.wait_for_log(&["tenant `hostile` exceeded its wall-clock limit of 2000 ms"]);
    assert_neighbour_ok(&server).await;
}

#[tokio::test]
async fn a_full_queue_answers_overloaded_at_once() {
    let project = Project::new();
    project
        .file(
            "slow.js",
            r#"export default { fetch() { let x = 0; for (let i = 0; i < 1e12; i++) x += i; return new Response(String(x)); } };"#,
        )
        .config(
            r#"
            [server]
            workers = 1
            queue_depth = 1

            [[tenant]]
            name = "slow"
            main = "slow.js"
            routes = ["*/*"]
            limits = { cpu_ms = 1000 }
            "#,
        );
    let server = project.serve();
    let addr = server.addr;
    let get = move || {
        tokio::spawn(async move { send(addr, "GET", "x", "/", &[], Default::default()).await })
    };
    // The first occupies the worker, the second waits in the queue...
    let busy = get();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let queued = get();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // ...and the third finds the queue full.
    let refused = server.get("x", "/").await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.outcome(), Some("overloaded"));
    assert_eq!(busy.await.unwrap().outcome(), Some("exceeded-cpu"));
    assert_eq!(queued.await.unwrap().outcome(), Some("exceeded-cpu"));
}

const HOSTILE_WAT: &str = r#"
(module
  (import "islet" "request_url" (func $url (param i32 i32) (result i32)))
  (import "islet" "request_method" (func $method (param i32 i32) (result i32)))
  (import "islet" "response_write" (func $write (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "ok")

  ;; The last byte of the URL picks the behaviour.
  (func (export "islet_handle")
    (local $n i32) (local $last i32) (local $i i32)
    (local.set $n (call $url (i32.const 100) (i32.const 200)))
    (local.set $last (i32.load8_u (i32.add (i32.const 99) (local.get $n))))
    ;; "/spin": loop br 0
    (if (i32.eq (local.get $last) (i32.const 0x6e)) (then (loop $l (br $l))))
    ;; "/host": a host call on every iteration
    (if (i32.eq (local.get $last) (i32.const 0x74))
      (then (loop $l (drop (call $method (i32.const 0) (i32.const 0))) (br $l))))
    ;; "/grow": memory.grow until refused, then give up
    (if (i32.eq (local.get $last) (i32.const 0x77))
      (then
        (loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
        unreachable))
    ;; "/small": grow by 1 MiB, inside the limit
    (if (i32.eq (local.get $last) (i32.const 0x6c))
      (then (if (i32.eq (memory.grow (i32.const 16)) (i32.const -1)) (then unreachable))))
    ;; "/work": a bounded loop, well inside the CPU limit
    (if (i32.eq (local.get $last) (i32.const 0x6b))
      (then (loop $l
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const 100000))))))
    (drop (call $write (i32.const 0) (i32.const 2)))))
"#;

fn wasm_project() -> Project {
    let project = Project::new();
    project
        .file("hostile.wat", HOSTILE_WAT)
        .file("neighbour.js", NEIGHBOUR)
        .config(
            r#"
            [server]
            workers = 1

            [limits]
            cpu_ms = 50
            memory_mb = 16

            [[tenant]]
            name = "hostile"
            main = "hostile.wat"
            routes = ["hostile.test/*"]

            [[tenant]]
            name = "neighbour"
            main = "neighbour.js"
            routes = ["n.test/*"]
            "#,
        );
    project
}

#[tokio::test]
async fn wasm_cpu_limit_traps_runaway_loops() {
    let project = wasm_project();
    let server = project.serve();
    let reply = server.get("hostile.test", "/work").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok"));
    for path in ["/spin", "/host"] {
        let reply = server.get("hostile.test", path).await;
        assert_eq!(reply.status, 503, "{path}: {}", reply.body);
        assert_eq!(reply.outcome(), Some("exceeded-cpu"), "{path}");
        assert_neighbour_ok(&server).await;
    }
    server.wait_for_log(&["WARN", "tenant `hostile` exceeded its CPU limit of 50 ms"]);
    assert_eq!(server.get("hostile.test", "/work").await.body, "ok");
}

#[tokio::test]
async fn wasm_memory_limit_refuses_growth() {
    let project = wasm_project();
    let server = project.serve();
    let reply = server.get("hostile.test", "/small").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok"));
    let reply = server.get("hostile.test", "/grow").await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.outcome(), Some("exceeded-memory"));
    server.wait_for_log(&[
        "WARN",
        "tenant `hostile` exceeded its memory limit of 16 MiB",
    ]);
    assert_neighbour_ok(&server).await;
    assert_eq!(server.get("hostile.test", "/work").await.body, "ok");
}

/// Tenants that keep `MiB` mebibytes alive in a global.
fn holder(mib: usize) -> String {
    format!(
        r#"
        let requests = 0;
        let held;
        export default {{
          fetch() {{
            requests++;
            held ??= new Uint8Array({mib} << 20).fill(7);
            return new Response(String(requests));
          }},
        }};
        "#
    )
}

#[tokio::test]
async fn over_the_memory_target_idle_isolates_are_evicted_lru_and_largest_first() {
    let project = Project::new();
    project
        .file("small.js", holder(12))
        .file("big.js", holder(20))
        .config(
            r#"
            [server]
            workers = 1
            memory_target_mb = 60

            [admin]
            listen = "127.0.0.1:0"

            [[tenant]]
            name = "old"
            main = "big.js"
            routes = ["old.test/*"]

            [[tenant]]
            name = "small"
            main = "small.js"
            routes = ["small.test/*"]

            [[tenant]]
            name = "recent"
            main = "big.js"
            routes = ["recent.test/*"]

            [[tenant]]
            name = "newest"
            main = "big.js"
            routes = ["newest.test/*"]
            "#,
        );
    let server = project.serve();
    // About 21 + 13 + 21 = 55 MiB: under the target, nothing is evicted.
    for host in ["old.test", "small.test", "recent.test"] {
        assert_eq!(server.get(host, "/").await.body, "1");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for host in ["old.test", "small.test", "recent.test"] {
        // Touching them again would reorder them; only `small` is touched.
        if host == "small.test" {
            assert_eq!(server.get(host, "/").await.body, "2");
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A fourth pushes the total over 60 MiB: `old` has the highest score
    // (large and idle longest) and goes; one eviction is enough.
    assert_eq!(server.get("newest.test", "/").await.body, "1");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let metrics = server.metrics().await;
    assert!(
        metrics.contains(r#"islet_evictions_total{reason="memory-target"} 1"#),
        "{metrics}"
    );
    assert_eq!(server.get("recent.test", "/").await.body, "2", "kept");
    assert_eq!(server.get("small.test", "/").await.body, "3", "kept");
    // `old` cold-starts transparently.
    assert_eq!(server.get("old.test", "/").await.body, "1", "evicted");
}

#[tokio::test]
async fn eviction_returns_memory_to_the_system() {
    let project = Project::new();
    project
        .file("big.js", holder(150))
        .file("small.js", holder(40))
        .config(
            r#"
            [server]
            workers = 1
            memory_target_mb = 170

            [limits]
            memory_mb = 256
            cpu_ms = 5000

            [[tenant]]
            name = "big"
            main = "big.js"
            routes = ["big.test/*"]

            [[tenant]]
            name = "small"
            main = "small.js"
            routes = ["small.test/*"]
            "#,
        );
    let server = project.serve();
    assert_eq!(server.get("big.test", "/").await.body, "1");
    let with_big = server.rss();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // 150 + 40 MiB is over the 170 MiB target: `big` is evicted.
    assert_eq!(server.get("small.test", "/").await.body, "1");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = server.rss();
    assert!(
        after + (80 << 20) < with_big,
        "resident memory fell: {} MiB with big, {} MiB after",
        with_big >> 20,
        after >> 20
    );
    assert_eq!(server.get("big.test", "/").await.body, "1", "cold start");
}

#[tokio::test]
async fn metrics_count_requests_cpu_isolates_and_cold_starts() {
    let project = js_project("[admin]\nlisten = \"127.0.0.1:0\"");
    let server = project.serve();
    assert_eq!(server.get("hostile.test", "/light").await.status, 200);
    assert_eq!(server.get("hostile.test", "/spin").await.status, 503);
    assert_eq!(server.get("nowhere.test", "/").await.status, 404);
    let metrics = server.metrics().await;
    for expected in [
        r#"islet_requests_total{tenant="hostile",outcome="ok"} 1"#,
        r#"islet_requests_total{tenant="hostile",outcome="exceeded-cpu"} 1"#,
        "islet_unrouted_requests_total 1",
        r#"islet_isolates{engine="v8"} 1"#,
        r#"islet_cold_starts_total{engine="v8"} 1"#,
        r#"islet_cold_start_seconds_count{engine="v8"} 1"#,
    ] {
        assert!(
            metrics.contains(expected),
            "missing `{expected}` in:\n{metrics}"
        );
    }
    // The runaway request alone was charged at least its 50 ms.
    let cpu: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix(r#"islet_cpu_seconds_total{tenant="hostile"} "#))
        .expect("cpu seconds")
        .parse()
        .unwrap();
    assert!((0.05..5.0).contains(&cpu), "cpu seconds: {cpu}");
}

#[tokio::test]
async fn a_full_wasm_instance_pool_answers_503_and_names_the_setting() {
    let hello = std::fs::read_to_string(crate::support::example("hello-wat/hello.wat")).unwrap();
    let project = Project::new();
    project.file("hello.wat", &hello).config(
        r#"
        [server]
        workers = 1
        wasm_instances = 2
        [[tenant]]
        name = "a"
        main = "hello.wat"
        routes = ["a.test/*"]
        [[tenant]]
        name = "b"
        main = "hello.wat"
        routes = ["b.test/*"]
        [[tenant]]
        name = "c"
        main = "hello.wat"
        routes = ["c.test/*"]
        "#,
    );
    let server = project.serve();
    assert_eq!(server.get("a.test", "/").await.status, 200);
    assert_eq!(server.get("b.test", "/").await.status, 200);
    let full = server.get("c.test", "/").await;
    assert_eq!(full.status, 503, "{}", full.body);
    assert_eq!(full.outcome(), Some("overloaded"));
    server.wait_for_log(&["all 2 are live", "server.wasm_instances"]);
    // The live tenants are unaffected.
    assert_eq!(server.get("a.test", "/").await.status, 200);
}
