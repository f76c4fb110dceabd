//! WebAssembly tenants on wasmtime, through the islet ABI.

use crate::support::{Project, Server, example};

#[tokio::test]
async fn islet_dev_serves_the_hello_example() {
    let server = Server::start(&["dev", example("hello-wat/hello.wat").to_str().unwrap()]);
    let reply = server.get("x", "/").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(reply.body, "Hello from WebAssembly!\n");
}

#[tokio::test]
async fn the_echo_example_returns_the_request() {
    let server = Server::start(&["dev", example("echo-wat/echo.wat").to_str().unwrap()]);
    let body = "x".repeat(10_000);
    let reply = server
        .send(
            "PUT",
            "echo.test",
            "/p?q=1",
            &[("x-one", "1")],
            body.clone(),
        )
        .await;
    assert_eq!(reply.status, 200);
    let (head, echoed) = reply.body.split_once("\n\n").expect("blank line");
    let mut lines = head.lines();
    assert_eq!(lines.next(), Some("PUT http://echo.test/p?q=1"));
    let headers: Vec<&str> = lines.collect();
    assert!(headers.contains(&"x-one: 1"), "{headers:?}");
    assert!(headers.contains(&"host: echo.test"), "{headers:?}");
    assert_eq!(echoed, body);
}

#[tokio::test]
async fn vars_status_and_headers_through_the_abi() {
    let project = Project::new();
    project
        .file(
            "app.wat",
            r#"
            (module
              (import "islet" "env_get" (func $env (param i32 i32 i32 i32) (result i32)))
              (import "islet" "response_set_status" (func $status (param i32) (result i32)))
              (import "islet" "response_add_header" (func $header (param i32 i32 i32 i32) (result i32)))
              (import "islet" "response_write" (func $write (param i32 i32) (result i32)))
              (memory (export "memory") 1)
              (data (i32.const 0) "COLOUR")
              (data (i32.const 16) "x-colour")
              (data (i32.const 32) "MISSING")
              (func (export "islet_handle")
                (local $n i32)
                (drop (call $status (i32.const 418)))
                (local.set $n (call $env (i32.const 0) (i32.const 6) (i32.const 100) (i32.const 64)))
                (drop (call $header (i32.const 16) (i32.const 8) (i32.const 100) (local.get $n)))
                ;; An absent var answers -1; write "-1" when that holds.
                (if (i32.eq (call $env (i32.const 32) (i32.const 7) (i32.const 200) (i32.const 8)) (i32.const -1))
                  (then (i32.store8 (i32.const 300) (i32.const 0x2d)) (i32.store8 (i32.const 301) (i32.const 0x31))))
                (drop (call $write (i32.const 300) (i32.const 2)))))
            "#,
        )
        .config(
            r#"
            [[tenant]]
            name = "app"
            main = "app.wat"
            routes = ["*/*"]
            vars = { COLOUR = "teal" }
            "#,
        );
    let server = project.serve();
    let reply = server.get("x", "/").await;
    assert_eq!(reply.status, 418);
    assert_eq!(reply.header("x-colour"), Some("teal"));
    assert_eq!(reply.body, "-1");
}

#[tokio::test]
async fn precompiled_wasm_binaries_load_too() {
    let project = Project::new();
    let wasm = wat::parse_file(example("hello-wat/hello.wat")).unwrap();
    project.file("hello.wasm", wasm).config(
        r#"
        [[tenant]]
        name = "bin"
        main = "hello.wasm"
        routes = ["*/*"]
        "#,
    );
    let server = project.serve();
    assert_eq!(server.get("x", "/").await.body, "Hello from WebAssembly!\n");
}

#[tokio::test]
async fn compiled_modules_are_cached_on_disk() {
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().to_str().unwrap();
    let module = example("hello-wat/hello.wat");
    let args = ["dev", module.to_str().unwrap()];
    let env = [("ISLET_CACHE_DIR", cache_dir)];
    let cached = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(cache.path())
            .unwrap()
            .flatten()
            .map(|f| f.path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("wasm-")
            })
            .collect()
    };

    // The first start compiles the module and caches the code...
    let first = Server::start_with_env(&args, &env);
    assert_eq!(first.get("x", "/").await.status, 200);
    drop(first);
    let files = cached();
    assert_eq!(files.len(), 1, "one cached module");
    let mode = std::fs::metadata(cache.path()).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o700,
        "the cache is private"
    );

    // ...the next loads it instead of compiling...
    let second = Server::start_with_env(&args, &env);
    second.wait_for_log(&["compiled module loaded from the cache"]);
    assert_eq!(second.get("x", "/").await.body, "Hello from WebAssembly!\n");
    drop(second);

    // ...and a corrupt file is compiled again, never run.
    let mut corrupt = std::fs::read(&files[0]).unwrap();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0xff;
    std::fs::write(&files[0], corrupt).unwrap();
    let third = Server::start_with_env(&args, &env);
    assert_eq!(third.get("x", "/").await.body, "Hello from WebAssembly!\n");
    assert!(
        !third
            .logs()
            .contains("compiled module loaded from the cache"),
        "{}",
        third.logs()
    );
}
