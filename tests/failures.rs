//! A failing tenant fails alone: its request gets a 500, the host and
//! every other tenant keep serving.

use crate::support::Project;

fn project() -> Project {
    let project = Project::new();
    project
        .file(
            "throws.js",
            r#"
            function deep() { throw new Error("boom from the tenant"); }
            export default {
              async fetch(request) {
                if (request.url.endsWith("/sync")) deep();
                await null;
                if (request.url.endsWith("/reject")) throw new TypeError("rejected later");
                if (request.url.endsWith("/not-a-response")) return { status: 200 };
                if (request.url.endsWith("/string")) return "hello";
                if (request.url.endsWith("/unhandled")) {
                  Promise.reject(new RangeError("nobody catches me"));
                  Promise.reject(new Error("caught later")).catch(() => {});
                  return new Response("answered anyway");
                }
                return new Response("fine");
              },
            };
            "#,
        )
        .file(
            "traps.wat",
            r#"
            (module
              (import "islet" "request_url" (func $url (param i32 i32) (result i32)))
              (import "islet" "response_write" (func $write (param i32 i32) (result i32)))
              (memory (export "memory") 1)
              (data (i32.const 0) "alive")
              (func $crash unreachable)
              (func (export "islet_handle")
                (local $n i32)
                (local.set $n (call $url (i32.const 100) (i32.const 200)))
                ;; ".../trap" ends in 'p' (0x70); ".../oob" ends in 'b'.
                (if (i32.eq (i32.load8_u (i32.add (i32.const 99) (local.get $n))) (i32.const 0x70))
                  (then (call $crash)))
                (if (i32.eq (i32.load8_u (i32.add (i32.const 99) (local.get $n))) (i32.const 0x62))
                  (then (drop (call $write (i32.const 65530) (i32.const 100)))))
                (drop (call $write (i32.const 0) (i32.const 5)))))
            "#,
        )
        .file(
            "neighbour.js",
            r#"export default { fetch() { return new Response("neighbour ok"); } };"#,
        )
        .config(
            r#"
            [server]
            workers = 1

            [[tenant]]
            name = "thrower"
            main = "throws.js"
            routes = ["js.test/*"]

            [[tenant]]
            name = "trapper"
            main = "traps.wat"
            routes = ["wasm.test/*"]

            [[tenant]]
            name = "neighbour"
            main = "neighbour.js"
            routes = ["n.test/*"]
            "#,
        );
    project
}

#[tokio::test]
async fn a_throwing_js_tenant_gets_500_and_its_neighbour_keeps_answering() {
    let project = project();
    let server = project.serve();

    let reply = server.get("js.test", "/sync").await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.outcome(), Some("exception"));
    assert!(!reply.body.contains("boom"), "details stay in the log");
    let line = server.wait_for_log(&["WARN", "thrower", "boom from the tenant"]);
    assert!(
        line.contains("throws.js:2:"),
        "stack with positions: {line}"
    );

    let reply = server.get("js.test", "/reject").await;
    assert_eq!((reply.status, reply.outcome()), (500, Some("exception")));
    server.wait_for_log(&["WARN", "thrower", "TypeError: rejected later"]);

    assert_eq!(server.get("n.test", "/").await.body, "neighbour ok");
    // The thrower itself is fine for its next request.
    assert_eq!(server.get("js.test", "/ok").await.body, "fine");
}

#[tokio::test]
async fn returning_something_else_than_a_response_is_a_500() {
    let project = project();
    let server = project.serve();
    for (path, what) in [
        (
            "/not-a-response",
            "an object of class Object, not a Response",
        ),
        ("/string", "string, not a Response"),
    ] {
        let reply = server.get("js.test", path).await;
        assert_eq!((reply.status, reply.outcome()), (500, Some("exception")));
        server.wait_for_log(&["WARN", "thrower", what]);
    }
}

#[tokio::test]
async fn a_trapping_wasm_tenant_gets_500_and_recovers() {
    let project = project();
    let server = project.serve();
    assert_eq!(server.get("wasm.test", "/").await.body, "alive");

    let reply = server.get("wasm.test", "/trap").await;
    assert_eq!((reply.status, reply.outcome()), (500, Some("exception")));
    let line = server.wait_for_log(&["WARN", "trapper", "wasm trap"]);
    assert!(line.contains("unreachable"), "{line}");
    assert!(
        line.contains("crash"),
        "backtrace names the function: {line}"
    );

    // A bad pointer fails the request, not the host.
    let reply = server.get("wasm.test", "/oob").await;
    assert_eq!((reply.status, reply.outcome()), (500, Some("exception")));
    server.wait_for_log(&["WARN", "trapper", "response_write", "out-of-bounds"]);

    assert_eq!(server.get("n.test", "/").await.body, "neighbour ok");
    assert_eq!(server.get("wasm.test", "/").await.body, "alive");
}

#[tokio::test]
async fn a_module_that_throws_at_start_up_fails_its_requests_only() {
    let project = Project::new();
    project
        .file(
            "bad.js",
            r#"throw new Error("top-level failure"); export default {};"#,
        )
        .file(
            "good.js",
            r#"export default { fetch() { return new Response("good"); } };"#,
        )
        .config(
            r#"
            [[tenant]]
            name = "bad"
            main = "bad.js"
            routes = ["bad.test/*"]

            [[tenant]]
            name = "good"
            main = "good.js"
            routes = ["good.test/*"]
            "#,
        );
    let server = project.serve();
    let reply = server.get("bad.test", "/").await;
    assert_eq!((reply.status, reply.outcome()), (500, Some("exception")));
    server.wait_for_log(&["WARN", "bad", "top-level failure"]);
    assert_eq!(server.get("good.test", "/").await.body, "good");
}

#[tokio::test]
async fn unhandled_rejections_are_logged_and_the_request_still_answers() {
    let project = project();
    let server = project.serve();
    let reply = server.get("js.test", "/unhandled").await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, "answered anyway")
    );
    let line = server.wait_for_log(&["WARN", "thrower", "unhandled promise rejection"]);
    assert!(line.contains("RangeError: nobody catches me"), "{line}");
    assert!(!server.logs().contains("caught later"));
}
