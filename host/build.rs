//! Generates one integration test per JavaScript case in `tests/js/`, so
//! that adding a case is adding a file (see `tests/platform.rs`).

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/js");
    println!("cargo::rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".js"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut out = String::new();
    for name in names {
        let ident: String = name
            .trim_end_matches(".js")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        writeln!(
            out,
            "#[tokio::test]\nasync fn {ident}() {{\n    crate::platform::run_case({name:?}).await;\n}}\n\n\
             #[tokio::test]\nasync fn {ident}_on_quickjs() {{\n    \
             crate::platform::run_case_on_quickjs({name:?}).await;\n}}\n"
        )
        .expect("writing to a String");
    }
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    std::fs::write(Path::new(&out_dir).join("js_cases.rs"), out).expect("write js_cases.rs");
}
