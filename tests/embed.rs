//! islet as a library: a `Host` inside this test process, no HTTP.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;

#[tokio::test]
async fn an_application_runs_tenant_code_in_process() {
    islet::init_v8();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("w.js"),
        r#"export default { async fetch(r, env) { return new Response(`${env.WHO}: ${await r.text()}`); } };"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("islet.toml"),
        r#"
        [server]
        workers = 1

        [[tenant]]
        name = "client"
        main = "w.js"
        routes = ["client.internal/*"]
        vars = { WHO = "client code" }
        "#,
    )
    .unwrap();
    let config = islet::Config::load(&dir.path().join("islet.toml")).unwrap();
    let host = islet::Host::new(&config).unwrap();

    // Routed like an HTTP request...
    let request = http::Request::post("http://client.internal/x")
        .header("host", "client.internal")
        .body(Full::new(Bytes::from("ping")))
        .unwrap();
    let response = host.handle(request).await;
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect_bytes().await.unwrap();
    assert_eq!(&body[..], b"client code: ping");

    // ...or sent straight to a tenant the application picked.
    let tenant = host.tenant("client").unwrap().clone();
    let request = http::Request::post("/anything")
        .body(Full::new(Bytes::from("direct")))
        .unwrap();
    let response = host.handle_for(&tenant, request).await;
    let body = response.into_body().collect_bytes().await.unwrap();
    assert_eq!(&body[..], b"client code: direct");

    host.shutdown(Duration::from_secs(1));
}
