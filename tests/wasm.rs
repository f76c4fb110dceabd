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
