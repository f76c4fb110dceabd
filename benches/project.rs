//! The benchmarks' tenant projects: a temporary directory holding the
//! tenants' files and an `islet.toml` that routes each tenant at
//! `NAME.bench/*`. Shared by the in-process benches and the macro runner.

use std::collections::HashSet;
use std::fmt::Write as _;

/// Writes `tenants` as (name, file, code) and a config that starts with
/// `head` (the `[server]` and `[limits]` sections). Tenants may share a
/// file; it is written once.
pub fn project(head: &str, tenants: &[(&str, &str, &[u8])]) -> tempfile::TempDir {
    project_with(head, tenants, "")
}

/// [`project`], with `extra` (TOML lines, e.g. `runtime = "quickjs"`)
/// added to every tenant.
pub fn project_with(head: &str, tenants: &[(&str, &str, &[u8])], extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut toml = String::from(head);
    let mut written = HashSet::new();
    for (name, file, code) in tenants {
        if written.insert(*file) {
            std::fs::write(dir.path().join(file), code).expect("write tenant");
        }
        write!(
            toml,
            "\n[[tenant]]\nname = \"{name}\"\nmain = \"{file}\"\nroutes = [\"{name}.bench/*\"]\n{extra}\n"
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("islet.toml"), toml).expect("write config");
    dir
}
