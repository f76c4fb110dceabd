//! The JavaScript platform, tested from script files.
//!
//! Each `tests/js/NAME.js` is a worker whose `fetch` exercises an API and
//! returns what it saw as text; the file ends with the text expected, in a
//! block comment that starts with `/* expected`. The build script makes
//! two tests per file, one on V8 and one on the QuickJS runtime, so adding
//! a case is adding a file.

use crate::support::Server;

/// Serves `tests/js/NAME` with `islet dev` and compares its answer with
/// the file's expected block.
pub async fn run_case(name: &str) {
    let (path, source) = read_case(name);
    let server = Server::start(&["dev", path.to_str().unwrap()]);
    check(name, "", &source, &server).await;
}

/// Runs a case of `tests/js` on the QuickJS runtime: the same file must
/// give the same answer as on V8. Interpreted code is slower, so the CPU
/// limit is raised for the cases that loop on purpose.
pub async fn run_case_on_quickjs(name: &str) {
    let (_, source) = read_case(name);
    let project = crate::support::Project::new();
    project.file(name, &source).config(&format!(
        r#"
        {}
        [[tenant]]
        name = "case"
        runtime = "quickjs"
        main = "{name}"
        routes = ["*/*"]
        limits = {{ cpu_ms = 5000 }}
        "#,
        crate::runtimes::runtimes_section()
    ));
    check(name, " on QuickJS", &source, &project.serve()).await;
}

fn read_case(name: &str) -> (std::path::PathBuf, String) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/js")
        .join(name);
    let source = std::fs::read_to_string(&path).expect("read case");
    (path, source)
}

/// Sends the case's request and compares the answer with the file's
/// expected block.
async fn check(name: &str, on: &str, source: &str, server: &Server) {
    let expected = source
        .rsplit_once("/* expected")
        .map(|(_, tail)| tail.trim_end().trim_end_matches("*/"))
        .unwrap_or_else(|| panic!("{name} has no `/* expected` block"))
        .trim_matches('\n')
        .trim_end();
    let reply = server
        .send(
            "POST",
            "case.test",
            "/path?q=1",
            &[("x-case", name)],
            "case body",
        )
        .await;
    let got = reply.body.trim_end();
    if got != expected {
        panic!(
            "{name}{on}: status {}\n--- expected\n{expected}\n--- got\n{got}\n--- log\n{}",
            reply.status,
            server.logs()
        );
    }
}

include!(concat!(env!("OUT_DIR"), "/js_cases.rs"));
