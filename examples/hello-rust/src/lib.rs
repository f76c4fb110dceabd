//! Hello world in Rust: the smallest useful islet tenant.
//!
//! Build: `cargo build --release --target wasm32-wasip1` (in `examples/`,
//! the target is the default), then serve
//! `target/wasm32-wasip1/release/hello_rust.wasm`.

use islet_sdk::{Env, Request, Response, Result};

fn handle(request: Request, env: Env) -> Result<Response> {
    let greeting = env.var("GREETING").unwrap_or_else(|| "Hello".into());
    Ok(Response::text(format!(
        "{greeting} from Rust! {} {}\n",
        request.method(),
        request.path()
    )))
}

islet_sdk::entry!(handle);
