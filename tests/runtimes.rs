//! Shared language runtimes: the QuickJS and Lua runtimes are built from
//! their crates' C sources by `sdk/runtimes/build.sh` (with the toolchain
//! the environment names, as for the SDK examples), and tenants run on
//! them through `islet serve`. The Web Platform cases of `tests/js` run on
//! QuickJS too (see `platform::run_case_on_quickjs`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::fetch::upstream;
use crate::support::Project;

/// The directory of the built runtime modules: builds them on first use,
/// then starts islet once on each so that the runtime images and their
/// compiled code are in islet's cache before tests start servers in
/// parallel.
pub fn built() -> &'static Path {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("islet-runtimes");
            let script = root.join("sdk/runtimes/build.sh");
            let run = Command::new("bash")
                .arg(&script)
                .arg(&out)
                .output()
                .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
            if !run.status.success() {
                return Err(format!(
                    "sdk/runtimes/build.sh failed (is clang with a WASI sysroot installed? \
                     see the README):\n{}\n{}",
                    String::from_utf8_lossy(&run.stdout),
                    String::from_utf8_lossy(&run.stderr)
                ));
            }
            let warm = Project::new();
            warm.file(
                "w.js",
                "export default { fetch() { return new Response('') } }",
            )
            .file("w.lua", "function fetch() return '' end")
            .config(&format!(
                r#"
                    [runtimes]
                    quickjs = "{}"
                    lua = "{}"
                    [[tenant]]
                    name = "js"
                    runtime = "quickjs"
                    main = "w.js"
                    [[tenant]]
                    name = "lua"
                    runtime = "lua"
                    main = "w.lua"
                    "#,
                path_str(&out.join("quickjs.wasm")),
                path_str(&out.join("lua.wasm"))
            ));
            drop(warm.serve());
            Ok(out)
        })
        .as_deref()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn path_str(path: &Path) -> String {
    path.to_str().unwrap().replace('\\', "/")
}

/// The `[runtimes]` section naming the built runtimes.
pub fn runtimes_section() -> String {
    let dir = built();
    format!(
        "[runtimes]\nquickjs = \"{}\"\nlua = \"{}\"\n",
        path_str(&dir.join("quickjs.wasm")),
        path_str(&dir.join("lua.wasm"))
    )
}

#[tokio::test]
async fn a_js_worker_runs_on_quickjs_with_vars_bodies_and_fetch() {
    let up = upstream().await;
    let project = Project::new();
    project
        .file(
            "worker.js",
            r#"
            let served = 0;
            const loadedAt = "top level";
            console.log("top level ran");
            export default {
              async fetch(request, env, ctx) {
                served++;
                const url = new URL(request.url);
                if (url.pathname === "/spin") for (;;) {}
                if (url.pathname === "/up") {
                  const r = await fetch(`http://${env.UP}/echo`, { method: "POST", headers: { "x-from": "qjs" }, body: "ping" });
                  return new Response(`${r.status} ${await r.text()}`);
                }
                if (url.pathname === "/denied") {
                  try { await fetch("http://example.com/"); return new Response("allowed?!"); }
                  catch (e) { return new Response(`${e.name}: ${e.message}`, { status: 403 }); }
                }
                const body = await request.text();
                return Response.json({ served, loadedAt, method: request.method, path: url.pathname,
                  body, greeting: env.GREETING, agent: request.headers.get("x-agent") },
                  { status: 201, headers: { "x-engine": "quickjs" } });
              },
            };
            "#,
        )
        .config(&format!(
            r#"
            {}
            [[tenant]]
            name = "app"
            runtime = "quickjs"
            main = "worker.js"
            routes = ["app.test/*"]
            vars = {{ GREETING = "hi", UP = "{up}" }}
            allowed_hosts = ["127.0.0.1"]
            "#,
            runtimes_section()
        ));
    let server = project.serve();
    let reply = server
        .send("POST", "app.test", "/a?b=c", &[("x-agent", "t")], "héllo")
        .await;
    assert_eq!(reply.status, 201, "{}", server.logs());
    assert_eq!(reply.header("x-engine"), Some("quickjs"));
    let v: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(v["served"], 1);
    assert_eq!(v["loadedAt"], "top level");
    assert_eq!(v["method"], "POST");
    assert_eq!(v["path"], "/a");
    assert_eq!(v["body"], "héllo");
    assert_eq!(v["greeting"], "hi");
    assert_eq!(v["agent"], "t");
    // State survives between requests of one instance, as on V8.
    let again = server.get("app.test", "/").await;
    let v: serde_json::Value = serde_json::from_str(&again.body).unwrap();
    assert_eq!(v["served"], 2);
    // A request stopped at its CPU limit discards the instance; the next
    // one starts from the load-time snapshot: state as the top level left
    // it, and the top level does not run again.
    assert_eq!(
        server.get("app.test", "/spin").await.outcome(),
        Some("exceeded-cpu")
    );
    let fresh = server.get("app.test", "/").await;
    let v: serde_json::Value = serde_json::from_str(&fresh.body).unwrap();
    assert_eq!(v["served"], 1);
    assert_eq!(v["loadedAt"], "top level");
    assert_eq!(
        server.logs().matches("top level ran").count(),
        1,
        "{}",
        server.logs()
    );

    let up_reply = server.get("app.test", "/up").await;
    assert_eq!(up_reply.body, "200 POST qjs ping", "{}", server.logs());
    let denied = server.get("app.test", "/denied").await;
    assert_eq!(denied.status, 403);
    assert!(
        denied.body.starts_with("TypeError:") && denied.body.contains("example.com"),
        "{}",
        denied.body
    );
}

#[tokio::test]
async fn large_request_bodies_stream_into_a_quickjs_worker() {
    let project = Project::new();
    project
        .file(
            "worker.js",
            r#"export default {
              async fetch(request) {
                let bytes = 0, chunks = 0;
                for await (const chunk of request.body) { bytes += chunk.length; chunks++; }
                return new Response(`${bytes} bytes in ${chunks > 1 ? "several chunks" : chunks + " chunk"}`);
              },
            };"#,
        )
        .config(&format!(
            r#"
            {}
            [[tenant]]
            name = "up"
            runtime = "quickjs"
            main = "worker.js"
            routes = ["*/*"]
            "#,
            runtimes_section()
        ));
    let server = project.serve();
    let big = "x".repeat(1 << 20);
    let reply = server.send("POST", "up.test", "/", &[], big).await;
    assert_eq!(
        reply.body,
        "1048576 bytes in several chunks",
        "{}",
        server.logs()
    );
    let small = server.send("POST", "up.test", "/", &[], "tiny").await;
    assert_eq!(small.body, "4 bytes in 1 chunk");
}

#[tokio::test]
async fn a_lua_tenant_answers_and_its_errors_name_the_line() {
    let project = Project::new();
    project
        .file(
            "hello.lua",
            r#"local count = 0
function fetch(request, env)
  count = count + 1
  if request.path == "/boom" then error("boom") end
  if request.path == "/text" then return "plain " .. request.query end
  return { status = 202, headers = { ["x-lang"] = "lua" },
           body = string.format("%s %s %s %d %s %s", request.method, request.path,
             request.body, count, env.GREETING, request.headers["x-agent"]) }
end
"#,
        )
        .config(&format!(
            r#"
            {}
            [[tenant]]
            name = "lua"
            runtime = "lua"
            main = "hello.lua"
            routes = ["lua.test/*"]
            vars = {{ GREETING = "hey" }}
            "#,
            runtimes_section()
        ));
    let server = project.serve();
    let reply = server
        .send("PUT", "lua.test", "/x", &[("x-agent", "a")], "data")
        .await;
    assert_eq!(reply.status, 202, "{}", server.logs());
    assert_eq!(reply.header("x-lang"), Some("lua"));
    assert_eq!(reply.body, "PUT /x data 1 hey a");
    let text = server.get("lua.test", "/text?k=v").await;
    assert_eq!(text.body, "plain k=v");
    assert_eq!(
        text.header("content-type"),
        Some("text/plain;charset=UTF-8")
    );

    let boom = server.get("lua.test", "/boom").await;
    assert_eq!(boom.status, 500);
    assert_eq!(boom.outcome(), Some("exception"));
    server.wait_for_log(&["tenant failed", "hello.lua:4: boom"]);
    // The next request starts from the tenant's snapshot.
    let after = server.get("lua.test", "/").await;
    assert_eq!(after.status, 202);
    assert_eq!(after.body, "GET /  1 hey nil");
}

#[tokio::test]
async fn runtime_tenants_are_stopped_at_their_cpu_and_memory_limits() {
    let project = Project::new();
    project
        .file(
            "spin.js",
            "export default { fetch() { for (;;) {} } }",
        )
        .file(
            "hog.js",
            r#"export default { fetch() {
                 const keep = [];
                 for (;;) keep.push(new Array(100000).fill(Math.random()));
               } }"#,
        )
        .file("spin.lua", "function fetch() while true do end end")
        .file(
            "hog.lua",
            "function fetch() local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1000) .. i end end",
        )
        .file("ok.js", "export default { fetch() { return new Response('fine') } }")
        .config(&format!(
            r#"
            {}
            [limits]
            cpu_ms = 200
            memory_mb = 32
            [[tenant]]
            name = "spin-js"
            runtime = "quickjs"
            main = "spin.js"
            routes = ["spin-js.test/*"]
            [[tenant]]
            name = "hog-js"
            runtime = "quickjs"
            main = "hog.js"
            routes = ["hog-js.test/*"]
            limits = {{ cpu_ms = 10000 }}
            [[tenant]]
            name = "spin-lua"
            runtime = "lua"
            main = "spin.lua"
            routes = ["spin-lua.test/*"]
            [[tenant]]
            name = "hog-lua"
            runtime = "lua"
            main = "hog.lua"
            routes = ["hog-lua.test/*"]
            limits = {{ cpu_ms = 10000 }}
            [[tenant]]
            name = "ok"
            runtime = "quickjs"
            main = "ok.js"
            routes = ["ok.test/*"]
            "#,
            runtimes_section()
        ));
    let server = project.serve();
    for (host, outcome) in [
        ("spin-js.test", "exceeded-cpu"),
        ("spin-lua.test", "exceeded-cpu"),
        ("hog-js.test", "exceeded-memory"),
        ("hog-lua.test", "exceeded-memory"),
    ] {
        let reply = server.get(host, "/").await;
        assert_eq!(reply.status, 503, "{host}: {}", reply.body);
        assert_eq!(reply.outcome(), Some(outcome), "{host}: {}", server.logs());
        // A neighbour on the same runtime is unaffected.
        assert_eq!(server.get("ok.test", "/").await.body, "fine");
    }
    // Stopped tenants answer again from their snapshots.
    let again = server.get("spin-js.test", "/").await;
    assert_eq!(again.outcome(), Some("exceeded-cpu"));
}

#[tokio::test]
async fn load_errors_name_the_tenant_and_the_line_and_loads_run_under_limits() {
    for (file, source, runtime, expected) in [
        (
            "worker.js",
            "export default {\n  fetch() {\n    return new Response(;\n  },\n};\n",
            "quickjs",
            "worker.js:3",
        ),
        (
            "worker.lua",
            "function fetch()\n  return 1 +\nend\n",
            "lua",
            "worker.lua:3:",
        ),
        (
            "throws.js",
            "const x = 1;\nthrow new Error('top level refuses');\nexport default {};\n",
            "quickjs",
            "top level refuses",
        ),
        (
            "nofetch.lua",
            "local x = 1\n",
            "lua",
            "no global function `fetch",
        ),
        (
            "spin.js",
            "for (;;) {}\nexport default {};\n",
            "quickjs",
            "exceeded the CPU limit while loading",
        ),
        (
            "hog.lua",
            "local t = {}\nfor i = 1, 1e9 do t[i] = string.rep('x', 1 << 20) .. i end\n",
            "lua",
            "outgrew its memory limit",
        ),
    ] {
        let project = Project::new();
        project.file(file, source).config(&format!(
            r#"
            {}
            [[tenant]]
            name = "broken-tenant"
            runtime = "{runtime}"
            main = "{file}"
            limits = {{ memory_mb = 16 }}
            "#,
            runtimes_section()
        ));
        let (status, stderr) = project.serve_fails();
        assert_eq!(status.code(), Some(2), "{file}: {stderr}");
        assert!(
            stderr.contains("tenant `broken-tenant`") && stderr.contains(expected),
            "{file}: {stderr}"
        );
    }
}

#[tokio::test]
async fn tenants_on_one_runtime_cannot_see_each_others_globals() {
    let worker = |name: &str| {
        format!(
            r#"
            globalThis.owner ??= "{name}";
            let hits = 0;
            export default {{
              fetch(request) {{
                hits++;
                if (new URL(request.url).pathname === "/set") globalThis.secret = "{name}'s secret";
                const seen = [].polluted ?? "clean";
                Array.prototype.polluted = "{name}";
                return new Response(`${{globalThis.owner}} ${{typeof globalThis.secret === "string" ? globalThis.secret : "none"}} ${{hits}} ${{seen}}`);
              }},
            }};
            "#
        )
    };
    let project = Project::new();
    project
        .file("a.js", worker("a"))
        .file("b.js", worker("b"))
        .config(&format!(
            r#"
            {}
            [[tenant]]
            name = "a"
            runtime = "quickjs"
            main = "a.js"
            routes = ["a.test/*"]
            [[tenant]]
            name = "b"
            runtime = "quickjs"
            main = "b.js"
            routes = ["b.test/*"]
            "#,
            runtimes_section()
        ));
    let server = project.serve();
    assert_eq!(
        server.get("a.test", "/set").await.body,
        "a a's secret 1 clean"
    );
    assert_eq!(server.get("b.test", "/").await.body, "b none 1 clean");
    assert_eq!(server.get("a.test", "/").await.body, "a a's secret 2 a");
    assert_eq!(server.get("b.test", "/").await.body, "b none 2 b");
}

#[tokio::test]
async fn a_deployed_tenant_stays_on_its_runtime_version_until_pinned() {
    let project = Project::new();
    let v1 = std::fs::read(built().join("lua.wasm")).unwrap();
    // The same runtime, released again under another version: the version
    // is in the module's `islet_runtime` section.
    let v2 = replace(&v1, b"version=5.4.9-1", b"version=5.4.9-2");
    project
        .file("lua.wasm", &v1)
        .file("t.lua", "function fetch() return 'ok' end");
    let config = |pin: &str| {
        format!(
            r#"
            [runtimes]
            lua = "lua.wasm"
            [[tenant]]
            name = "t"
            runtime = "lua{pin}"
            main = "t.lua"
            routes = ["*/*"]
            "#
        )
    };
    project.config(&config(""));
    let deployments = project.path(".islet/deployments.toml");
    {
        let server = project.serve();
        assert_eq!(server.get("any", "/").await.body, "ok");
        let records = std::fs::read_to_string(&deployments).unwrap();
        assert!(records.contains("version = \"5.4.9-1\""), "{records}");
    }

    // An upgrade of the runtime file does not move the deployed tenant.
    project.file("lua.wasm", &v2);
    {
        let server = project.serve();
        assert_eq!(server.get("any", "/").await.body, "ok");
        server.wait_for_log(&["stays on runtime `lua@5.4.9-1`", "5.4.9-2"]);
        let records = std::fs::read_to_string(&deployments).unwrap();
        assert!(records.contains("version = \"5.4.9-1\""), "{records}");
    }

    // Pinning the new version moves it.
    project.config(&config("@5.4.9-2"));
    {
        let server = project.serve();
        assert_eq!(server.get("any", "/").await.body, "ok");
        let records = std::fs::read_to_string(&deployments).unwrap();
        assert!(records.contains("version = \"5.4.9-2\""), "{records}");
    }

    // A pin nothing satisfies is a clear load error.
    project.config(&config("@6"));
    let (status, stderr) = project.serve_fails();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("tenant `t`") && stderr.contains("pins `lua@6`"),
        "{stderr}"
    );
}

fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = haystack
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern present");
    let mut out = haystack.to_vec();
    out[at..at + to.len()].copy_from_slice(to);
    out
}
