//! The JavaScript platform, tested from script files.
//!
//! Each `tests/js/NAME.js` is a worker whose `fetch` exercises an API and
//! returns what it saw as text; the file ends with the text expected, in a
//! block comment that starts with `/* expected`. The build script makes
//! one test per file, so adding a case is adding a file.

use crate::support::Server;

/// Serves `tests/js/NAME` with `islet dev` and compares its answer with
/// the file's expected block.
pub async fn run_case(name: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/js")
        .join(name);
    let source = std::fs::read_to_string(&path).expect("read case");
    let expected = source
        .rsplit_once("/* expected")
        .map(|(_, tail)| tail.trim_end().trim_end_matches("*/"))
        .unwrap_or_else(|| panic!("{name} has no `/* expected` block"))
        .trim_matches('\n')
        .trim_end();
    let server = Server::start(&["dev", path.to_str().unwrap()]);
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
            "{name}: status {}\n--- expected\n{expected}\n--- got\n{got}\n--- log\n{}",
            reply.status,
            server.logs()
        );
    }
}

include!(concat!(env!("OUT_DIR"), "/js_cases.rs"));
