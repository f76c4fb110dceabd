//! Tenants never see each other's state, whatever their engine.

use crate::support::Project;

const COUNTER_JS: &str = r#"
export default {
  fetch(request) {
    globalThis.counter = (globalThis.counter ?? 0) + 1;
    if (request.url.endsWith("/peek")) {
      return new Response(String(globalThis.secret));
    }
    globalThis.secret = "set by " + request.headers.get("host");
    return new Response(String(globalThis.counter));
  },
};
"#;

// A global counter and a byte in memory, both bumped per request.
const COUNTER_WAT: &str = r#"
(module
  (import "islet" "response_write" (func $write (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $count (mut i32) (i32.const 0))
  (func (export "islet_handle")
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (i32.store8 (i32.const 0) (i32.add (i32.load8_u (i32.const 0)) (i32.const 1)))
    ;; "<global> <memory>" as two ASCII digits.
    (i32.store8 (i32.const 10) (i32.add (global.get $count) (i32.const 48)))
    (i32.store8 (i32.const 11) (i32.const 32))
    (i32.store8 (i32.const 12) (i32.add (i32.load8_u (i32.const 0)) (i32.const 48)))
    (drop (call $write (i32.const 10) (i32.const 3)))))
"#;

#[tokio::test]
async fn two_js_tenants_do_not_share_globals() {
    let project = Project::new();
    project.file("counter.js", COUNTER_JS).config(
        r#"
        [[tenant]]
        name = "a"
        main = "counter.js"
        routes = ["a.test/*"]

        [[tenant]]
        name = "b"
        main = "counter.js"
        routes = ["b.test/*"]
        "#,
    );
    let server = project.serve();
    assert_eq!(server.get("a.test", "/").await.body, "1");
    assert_eq!(server.get("a.test", "/").await.body, "2");
    assert_eq!(server.get("a.test", "/").await.body, "3");
    // b starts from its own, untouched globals.
    assert_eq!(server.get("b.test", "/peek").await.body, "undefined");
    assert_eq!(server.get("b.test", "/").await.body, "2");
    assert_eq!(server.get("a.test", "/peek").await.body, "set by a.test");
}

#[tokio::test]
async fn two_wasm_tenants_do_not_share_globals_or_memory() {
    let project = Project::new();
    project.file("counter.wat", COUNTER_WAT).config(
        r#"
        [server]
        workers = 1

        [[tenant]]
        name = "a"
        main = "counter.wat"
        routes = ["a.test/*"]

        [[tenant]]
        name = "b"
        main = "counter.wat"
        routes = ["b.test/*"]
        "#,
    );
    let server = project.serve();
    assert_eq!(server.get("a.test", "/").await.body, "1 1");
    assert_eq!(server.get("a.test", "/").await.body, "2 2");
    // Same module, same thread, separate store: b starts at zero.
    assert_eq!(server.get("b.test", "/").await.body, "1 1");
    assert_eq!(server.get("a.test", "/").await.body, "3 3");
}
