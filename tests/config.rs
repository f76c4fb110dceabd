//! Configuration errors: exit status 2 and one line that names the file,
//! the key or tenant, and the problem.

use crate::support::Project;

const WORKER: &str = r#"export default { fetch() { return new Response("ok"); } };"#;

/// Runs `islet serve` on `toml` and returns the single line it printed.
fn fails(project: &Project, toml: &str) -> String {
    project.config(toml);
    let (status, stderr) = project.serve_fails();
    assert_eq!(status.code(), Some(2), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(lines[0].contains("islet.toml"), "names the file: {stderr}");
    lines[0].to_string()
}

#[test]
fn unknown_keys_are_refused_with_their_place() {
    let project = Project::new();
    project.file("w.js", WORKER);
    let line = fails(
        &project,
        "[server]\nlisten = \"127.0.0.1:1\"\nthreads = 4\n",
    );
    assert!(line.contains("unknown field `threads`"), "{line}");
    assert!(line.contains(":3:"), "line number: {line}");

    let line = fails(
        &project,
        "[[tenant]]\nname = \"a\"\nmain = \"w.js\"\nroute = [\"*/*\"]\n",
    );
    assert!(line.contains("unknown field `route`"), "{line}");
}

#[test]
fn duplicate_tenants_and_routes_are_refused() {
    let project = Project::new();
    project.file("w.js", WORKER);
    let line = fails(
        &project,
        r#"
        [[tenant]]
        name = "a"
        main = "w.js"
        [[tenant]]
        name = "a"
        main = "w.js"
        "#,
    );
    assert!(line.contains("tenant `a` is defined twice"), "{line}");

    let line = fails(
        &project,
        r#"
        [[tenant]]
        name = "a"
        main = "w.js"
        routes = ["x.com/*"]
        [[tenant]]
        name = "b"
        main = "w.js"
        routes = ["X.com/*"]
        "#,
    );
    assert!(
        line.contains("tenant `b`: route `X.com/*` is already used by tenant `a`"),
        "{line}"
    );

    let line = fails(
        &project,
        "[[tenant]]\nname = \"a\"\nmain = \"w.js\"\nroutes = [\"nopath\"]\n",
    );
    assert!(line.contains("tenant `a`: route `nopath`"), "{line}");
}

#[test]
fn a_missing_main_is_refused() {
    let project = Project::new();
    let line = fails(
        &project,
        "[[tenant]]\nname = \"ghost\"\nmain = \"nowhere.js\"\n",
    );
    assert!(line.contains("tenant `ghost`"), "{line}");
    assert!(
        line.contains("nowhere.js") && line.contains("does not exist"),
        "{line}"
    );
}

#[test]
fn modules_over_the_size_limit_are_refused() {
    let project = Project::new();
    // Valid wasm padded past 1 MiB with a custom section: the size alone
    // is what is refused.
    let mut module =
        wat::parse_str("(module (memory (export \"memory\") 1) (func (export \"islet_handle\")))")
            .unwrap();
    let padding = 1 << 20;
    module.push(0); // custom section id
    let mut size = padding + 2;
    loop {
        let byte = (size & 0x7f) as u8;
        size >>= 7;
        module.push(if size == 0 { byte } else { byte | 0x80 });
        if size == 0 {
            break;
        }
    }
    module.extend_from_slice(&[1, b'x']);
    module.resize(module.len() + padding, 0);
    project.file("big.wasm", &module);
    let config = "[server]\nmax_module_mb = 1\n[[tenant]]\nname = \"big\"\nmain = \"big.wasm\"\nroutes = [\"*/*\"]\n";
    let line = fails(&project, config);
    assert!(line.contains("tenant `big`"), "{line}");
    assert!(line.contains("over the limit of 1048576 bytes"), "{line}");
    assert!(line.contains("server.max_module_mb"), "{line}");

    // The same module loads under the default limit of 10 MiB.
    project.config("[[tenant]]\nname = \"big\"\nmain = \"big.wasm\"\nroutes = [\"*/*\"]\n");
    let server = project.serve();
    drop(server);
}

#[test]
fn unparsable_code_is_refused_with_the_tenant_and_position() {
    let project = Project::new();
    project
        .file("syntax.js", "export default {\n  fetch() { return new Response(; }\n};\n")
        .file("imports.js", "import x from './x.js';\nexport default x;\n")
        .file("garbage.wasm", "definitely not wasm")
        .file("bad.wat", "(module (func $f (result i32)))")
        .file("noexport.wat", "(module (memory (export \"memory\") 1))")
        .file(
            "unknown.wat",
            "(module (import \"islet\" \"teleport\" (func)) (memory (export \"memory\") 1) (func (export \"islet_handle\")))",
        )
        .file("worker.py", "print('hi')");
    let cases = [
        ("syntax.js", "syntax.js:2:"),
        ("syntax.js", "SyntaxError"),
        ("imports.js", "imports are not supported"),
        ("garbage.wasm", "not a WebAssembly module"),
        ("bad.wat", "bad.wat"),
        ("noexport.wat", "does not export `islet_handle`"),
        ("unknown.wat", "islet::teleport"),
        ("worker.py", "unknown kind of module"),
    ];
    for (file, expected) in cases {
        let line = fails(
            &project,
            &format!("[[tenant]]\nname = \"t\"\nmain = \"{file}\"\nroutes = [\"*/*\"]\n"),
        );
        assert!(line.contains("tenant `t`"), "{file}: {line}");
        assert!(
            line.contains(expected),
            "{file}: expected `{expected}` in: {line}"
        );
    }
}

#[test]
fn bad_values_are_refused() {
    let project = Project::new();
    let line = fails(&project, "[server]\nlisten = \"nowhere\"\n");
    assert!(line.contains("`server.listen`"), "{line}");
    let line = fails(&project, "[server]\nworkers = 0\n");
    assert!(
        line.contains("`server.workers` must be at least 1"),
        "{line}"
    );
    let line = fails(&project, "[limits]\ncpu_ms = \"lots\"\n");
    assert!(
        line.contains("cpu_ms") || line.contains("invalid type"),
        "{line}"
    );
}

#[test]
fn a_bad_outbound_ca_file_is_refused() {
    let project = Project::new();
    let line = fails(&project, "[outbound]\nca_file = \"missing.pem\"\n");
    assert!(
        line.contains("`outbound.ca_file`") && line.contains("does not exist"),
        "{line}"
    );
    project.file("not-a-cert.pem", "hello");
    let line = fails(&project, "[outbound]\nca_file = \"not-a-cert.pem\"\n");
    assert!(
        line.contains("`outbound.ca_file`") && line.contains("no PEM certificate"),
        "{line}"
    );
}
