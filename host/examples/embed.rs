//! Embedding islet: an application runs its clients' code in-process.
//!
//! Run with `cargo run -p islet --example embed`. No HTTP server is
//! involved: the application builds requests itself and hands them to a
//! tenant through [`islet::Host`].

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;

fn main() -> anyhow::Result<()> {
    // V8 first, before any thread that may run JavaScript.
    islet::init_v8();

    // One tenant: the bundled JavaScript example, with a var of our own.
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut config = islet::Config::single(&examples.join("hello-js/worker.js"))?;
    config.server.workers = 1;
    config.tenants[0]
        .vars
        .insert("GREETING".into(), "Hello, embedder".into());
    let host = islet::Host::new(&config)?;
    let tenant = host
        .tenant("worker")
        .expect("the tenant is named after its file")
        .clone();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        for order in [7, 42] {
            let request = http::Request::get(format!("http://orders.internal/orders/{order}"))
                .body(Full::new(Bytes::new()))?;
            let response = host.handle_for(&tenant, request).await;
            let status = response.status();
            let body = response.into_body().collect_bytes().await?;
            println!("{status} {}", String::from_utf8_lossy(&body).trim_end());
        }
        anyhow::Ok(())
    })?;

    host.shutdown(Duration::from_secs(1));
    Ok(())
}
