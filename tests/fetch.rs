//! Outbound `fetch` against a local upstream, the `allowed_hosts` policy,
//! and `ctx.waitUntil`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use crate::support::Project;

/// A small upstream: `/hello`, `/redirect` (to `/hello`), `/echo`,
/// `/json`, `/slow` (answers after 300 ms).
pub(crate) async fn upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                break;
            };
            tokio::spawn(async move {
                let service = service_fn(|req: http::Request<hyper::body::Incoming>| async move {
                    let path = req.uri().path().to_string();
                    let method = req.method().to_string();
                    let agent = req
                        .headers()
                        .get("x-from")
                        .map(|v| v.to_str().unwrap().to_string())
                        .unwrap_or_default();
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    let mut response = http::Response::builder();
                    let text = match path.as_str() {
                        "/hello" => {
                            response = response.header("x-upstream", "yes");
                            "upstream says hi".to_string()
                        }
                        "/redirect" => {
                            response = response.status(302).header("location", "/hello");
                            String::new()
                        }
                        "/echo" => format!("{method} {agent} {}", String::from_utf8_lossy(&body)),
                        "/json" => {
                            response = response.header("content-type", "application/json");
                            r#"{"n":1,"list":["a","b"]}"#.to_string()
                        }
                        "/slow" => {
                            tokio::time::sleep(Duration::from_millis(300)).await;
                            "slow but here".to_string()
                        }
                        _ => {
                            response = response.status(404);
                            "nothing".to_string()
                        }
                    };
                    Ok::<_, Infallible>(response.body(Full::new(Bytes::from(text))).unwrap())
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

const WORKER: &str = r#"
export default {
  async fetch(request, env) {
    const base = `http://127.0.0.1:${env.PORT}`;
    const path = new URL(request.url).pathname;
    const out = [];
    if (path === "/basic") {
      const r = await fetch(`${base}/hello`);
      out.push(`${r.status} ${r.ok} ${r.headers.get("x-upstream")} ${await r.text()} ${r.url === base + "/hello"}`);
      const redirected = await fetch(`${base}/redirect`);
      out.push(`redirect: ${redirected.status} ${redirected.redirected} ${new URL(redirected.url).pathname}`);
      const manual = await fetch(`${base}/redirect`, { redirect: "manual" });
      out.push(`manual: ${manual.status} ${manual.headers.get("location")}`);
      const echo = await fetch(new Request(`${base}/echo`, { method: "POST", body: "payload", headers: { "x-from": "tenant" } }));
      out.push(`echo: ${await echo.text()}`);
      const missing = await fetch(`${base}/missing`);
      out.push(`404: ${missing.status} ${missing.ok}`);
    }
    if (path === "/denied") {
      for (const url of ["http://example.com/", `http://localhost:${env.PORT}/hello`, "file:///etc/passwd"]) {
        try {
          await fetch(url);
          out.push(`${url}: allowed?!`);
        } catch (e) {
          out.push(`${e.name}: ${e.message}`);
        }
      }
    }
    if (path === "/abort") {
      try {
        await fetch(`${base}/slow`, { signal: AbortSignal.timeout(50) });
      } catch (e) {
        out.push(`aborted: ${e.name}`);
      }
    }
    if (path === "/slow") {
      // Waiting 300 ms for the upstream costs no CPU time.
      const r = await fetch(`${base}/slow`);
      out.push(await r.text());
    }
    if (path === "/wait-until") {
      ctx_wait(arguments[2]);
      return new Response("answered first");
    }
    return new Response(out.join("\n"));
  },
};

function ctx_wait(ctx) {
  ctx.waitUntil(new Promise((resolve) => setTimeout(() => {
    console.log("waitUntil work done");
    resolve();
  }, 300)));
}
"#;

fn project(port: u16) -> Project {
    let project = Project::new();
    project.file("worker.js", WORKER).config(&format!(
        r#"
        [limits]
        cpu_ms = 50

        [[tenant]]
        name = "allowed"
        main = "worker.js"
        routes = ["allowed.test/*"]
        vars = {{ PORT = "{port}" }}
        allowed_hosts = ["127.0.0.1"]

        [[tenant]]
        name = "closed"
        main = "worker.js"
        routes = ["closed.test/*"]
        vars = {{ PORT = "{port}" }}
        "#
    ));
    project
}

#[tokio::test]
async fn fetch_reaches_allowed_hosts_and_follows_redirects() {
    let upstream = upstream().await;
    let project = project(upstream.port());
    let server = project.serve();
    let reply = server.get("allowed.test", "/basic").await;
    assert_eq!(reply.status, 200, "{}", server.logs());
    assert_eq!(
        reply.body,
        "200 true yes upstream says hi true\n\
         redirect: 200 true /hello\n\
         manual: 302 /hello\n\
         echo: POST tenant payload\n\
         404: 404 false"
    );
}

#[tokio::test]
async fn fetch_is_denied_by_default_with_a_type_error_naming_the_host() {
    let upstream = upstream().await;
    let project = project(upstream.port());
    let server = project.serve();
    let port = upstream.port();
    let reply = server.get("allowed.test", "/denied").await;
    assert_eq!(
        reply.body,
        format!(
            "TypeError: fetch to `example.com` is not allowed: the host is not in the tenant's `allowed_hosts`\n\
             TypeError: fetch to `localhost:{port}` is not allowed: the host is not in the tenant's `allowed_hosts`\n\
             TypeError: fetch of `file` URLs is not supported; use http: or https:"
        )
    );
    // A tenant with no `allowed_hosts` may not reach even the upstream.
    let reply = server.get("closed.test", "/basic").await;
    assert_eq!((reply.status, reply.outcome()), (500, Some("exception")));
    server.wait_for_log(&[
        "closed",
        &format!("fetch to `127.0.0.1:{port}` is not allowed"),
    ]);
}

#[tokio::test]
async fn fetch_can_be_aborted_and_waiting_costs_no_cpu() {
    let upstream = upstream().await;
    let project = project(upstream.port());
    let server = project.serve();
    let reply = server.get("allowed.test", "/abort").await;
    assert_eq!(reply.body, "aborted: TimeoutError");
    // 300 ms of waiting under a 50 ms CPU limit.
    let reply = server.get("allowed.test", "/slow").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "slow but here"));
}

#[tokio::test]
async fn wait_until_work_runs_after_the_response() {
    let upstream = upstream().await;
    let project = project(upstream.port());
    let server = project.serve();
    let reply = server.get("allowed.test", "/wait-until").await;
    assert_eq!(reply.body, "answered first");
    // The response came before the work finished...
    assert!(!server.logs().contains("waitUntil work done"));
    // ...and the work still ran.
    server.wait_for_log(&["allowed", "waitUntil work done"]);
}

/// An https upstream on localhost with a fresh self-signed certificate;
/// returns its port and the certificate's PEM.
async fn tls_upstream() -> (u16, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_pem = certified.cert.pem();
    let cert_der = certified.cert.der().clone();
    let key_der =
        rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der], key_der)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = service_fn(|_req: http::Request<hyper::body::Incoming>| async {
                    Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(
                        "hello over tls",
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (port, cert_pem)
}

const TLS_WORKER: &str = r#"
export default {
  async fetch(request, env) {
    try {
      const r = await fetch(`https://localhost:${env.PORT}/`);
      return new Response(`${r.status} ${await r.text()}`);
    } catch (e) {
      return new Response(`${e.name}: ${e.message}`);
    }
  },
};
"#;

#[tokio::test]
async fn fetch_speaks_https_and_checks_certificates() {
    let (port, cert) = tls_upstream().await;
    let tenant = |extra: &str| {
        format!(
            r#"
            {extra}

            [[tenant]]
            name = "tls"
            main = "tls.js"
            routes = ["*/*"]
            vars = {{ PORT = "{port}" }}
            allowed_hosts = ["localhost"]
            "#
        )
    };

    // Trusting the upstream's CA: the request goes through.
    let trusting = Project::new();
    trusting
        .file("tls.js", TLS_WORKER)
        .file("ca.pem", &cert)
        .config(&tenant("[outbound]\nca_file = \"ca.pem\""));
    let server = trusting.serve();
    assert_eq!(server.get("x", "/").await.body, "200 hello over tls");
    drop(server);

    // Not trusting it: the certificate is refused.
    let strict = Project::new();
    strict.file("tls.js", TLS_WORKER).config(&tenant(""));
    let server = strict.serve();
    let body = server.get("x", "/").await.body;
    assert!(
        body.starts_with("TypeError: fetch of `https://localhost:"),
        "{body}"
    );
    assert!(body.contains("certificate"), "{body}");
}
