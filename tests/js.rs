//! JavaScript tenants on V8.

use crate::support::{Project, Server, example};

#[tokio::test]
async fn the_handler_sees_method_url_headers_body_and_vars() {
    let project = Project::new();
    project
        .file(
            "worker.js",
            r#"
            export default {
              async fetch(request, env, ctx) {
                const body = await request.text();
                const names = [...request.headers].map(([k]) => k).join(",");
                return new Response(JSON.stringify({
                  method: request.method,
                  url: request.url,
                  agent: request.headers.get("X-Agent"),
                  hasAgent: request.headers.has("x-agent"),
                  missing: request.headers.get("nope"),
                  names,
                  body,
                  greeting: env.GREETING,
                  waitUntil: typeof ctx.waitUntil,
                }), { status: 201, headers: { "x-tenant": "js" } });
              },
            };
            "#,
        )
        .config(
            r#"
            [[tenant]]
            name = "app"
            main = "worker.js"
            routes = ["app.test/*"]
            vars = { GREETING = "hi" }
            "#,
        );
    let server = project.serve();
    let reply = server
        .send(
            "POST",
            "app.test",
            "/a/b?c=d",
            &[("x-agent", "tester")],
            "héllo",
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.header("x-tenant"), Some("js"));
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain;charset=UTF-8")
    );
    let v: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(v["method"], "POST");
    assert_eq!(v["url"], "http://app.test/a/b?c=d");
    assert_eq!(v["agent"], "tester");
    assert_eq!(v["hasAgent"], true);
    assert_eq!(v["missing"], serde_json::Value::Null);
    assert_eq!(v["names"], "content-length,host,x-agent");
    assert_eq!(v["body"], "héllo");
    assert_eq!(v["greeting"], "hi");
    assert_eq!(v["waitUntil"], "function");
}

#[tokio::test]
async fn async_handlers_are_driven_to_completion() {
    let project = Project::new();
    project
        .file(
            "worker.js",
            r#"
            async function step(n) { await null; return n + 1; }
            export default {
              async fetch(request) {
                let n = 0;
                for (let i = 0; i < 100; i++) n = await step(n);
                const parts = await Promise.all([step(1), Promise.resolve(2)]);
                return new Response(`n=${n} parts=${parts}`);
              },
            };
            "#,
        )
        .config(
            r#"
            [[tenant]]
            name = "app"
            main = "worker.js"
            routes = ["*/*"]
            "#,
        );
    let server = project.serve();
    let reply = server.get("x", "/").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "n=100 parts=2,2");
}

#[tokio::test]
async fn byte_bodies_and_json_responses() {
    let project = Project::new();
    project
        .file(
            "worker.js",
            r#"
            export default {
              fetch(request) {
                if (request.url.endsWith("/bytes")) {
                  return new Response(new Uint8Array([104, 105, 0, 255]), { status: 202 });
                }
                return Response.json({ ok: true });
              },
            };
            "#,
        )
        .config(
            r#"
            [[tenant]]
            name = "app"
            main = "worker.js"
            routes = ["*/*"]
            "#,
        );
    let server = project.serve();
    let bytes = server.get("x", "/bytes").await;
    assert_eq!(bytes.status, 202);
    assert_eq!(bytes.body.as_bytes()[..2], *b"hi");
    assert_eq!(bytes.body.len(), 2 + 1 + 3); // NUL, then U+FFFD for 0xFF
    let json = server.get("x", "/json").await;
    assert_eq!(json.header("content-type"), Some("application/json"));
    assert_eq!(json.body, r#"{"ok":true}"#);
}

#[tokio::test]
async fn console_output_reaches_the_log_with_the_tenant_name() {
    let project = Project::new();
    project
        .file(
            "worker.js",
            r#"
            export default {
              fetch() {
                console.log("hello from", { tenant: "logger" });
                console.error("an error line");
                return new Response("ok");
              },
            };
            "#,
        )
        .config(
            r#"
            [[tenant]]
            name = "logger"
            main = "worker.js"
            routes = ["*/*"]
            "#,
        );
    let server = project.serve();
    assert_eq!(server.get("x", "/").await.status, 200);
    let line = server.wait_for_log(&["hello from", r#"{"tenant":"logger"}"#]);
    assert!(line.contains("tenant=\"logger\""), "{line}");
    let line = server.wait_for_log(&["an error line"]);
    assert!(line.contains("ERROR"), "{line}");
}

#[tokio::test]
async fn eval_is_refused() {
    let project = Project::new();
    project
        .file(
            "worker.js",
            r#"
            export default {
              fetch() {
                let result;
                try { result = String(eval("1 + 1")); } catch (e) { result = e.name; }
                return new Response(result);
              },
            };
            "#,
        )
        .config(
            r#"
            [[tenant]]
            name = "app"
            main = "worker.js"
            routes = ["*/*"]
            "#,
        );
    let server = project.serve();
    assert_eq!(server.get("x", "/").await.body, "EvalError");
}

#[tokio::test]
async fn islet_dev_serves_the_example_on_every_route() {
    let server = Server::start(&["dev", example("hello-js/worker.js").to_str().unwrap()]);
    let reply = server.get("anything.example", "/some/path").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        "Hello from JavaScript! You asked for GET http://anything.example/some/path\n"
    );
}

#[tokio::test]
async fn the_start_up_snapshot_is_cached_on_disk() {
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().to_str().unwrap();
    let worker = example("hello-js/worker.js");
    let env = [("ISLET_CACHE_DIR", cache_dir)];

    // The first start makes the snapshot and caches it...
    let first = Server::start_with_env(&["dev", worker.to_str().unwrap()], &env);
    assert_eq!(first.get("x", "/").await.status, 200);
    drop(first);
    let files: Vec<_> = std::fs::read_dir(cache.path()).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "one cached snapshot");
    let path = files[0].path();
    assert!(
        path.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("v8-snapshot-")
    );

    // ...the next loads it...
    let second = Server::start_with_env(&["dev", worker.to_str().unwrap()], &env);
    assert_eq!(second.get("x", "/").await.status, 200);
    second.wait_for_log(&["snapshot loaded from the cache"]);
    drop(second);

    // ...and a corrupt file is made again rather than trusted.
    let mut corrupt = std::fs::read(&path).unwrap();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    std::fs::write(&path, corrupt).unwrap();
    let third = Server::start_with_env(&["dev", worker.to_str().unwrap()], &env);
    let reply = third.get("x", "/").await;
    assert_eq!(reply.status, 200, "{}", third.logs());
    assert!(reply.body.starts_with("Hello from JavaScript!"));
}
