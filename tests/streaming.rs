//! Response bodies stream to the client chunk by chunk.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;

use crate::support::Project;

const WORKER: &str = r#"
export default {
  async fetch(request, env) {
    const { readable, writable } = new TransformStream();
    const writer = writable.getWriter();
    const encoder = new TextEncoder();
    (async () => {
      await writer.write(encoder.encode("first chunk\n"));
      // The second chunk exists only once the test has seen the first.
      const gate = await fetch(`http://127.0.0.1:${env.PORT}/gate`);
      await writer.write(encoder.encode(`${await gate.text()}\n`));
      await writer.close();
    })();
    return new Response(readable, { headers: { "content-type": "text/plain" } });
  },
};
"#;

/// An upstream whose `/gate` answers only when `gate` is notified.
async fn gated_upstream(gate: Arc<Notify>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let gate = gate.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_req: http::Request<hyper::body::Incoming>| {
                    let gate = gate.clone();
                    async move {
                        gate.notified().await;
                        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(
                            "gate opened",
                        ))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    port
}

/// The same for a WASM guest: it writes a chunk, then fetches the gate
/// and writes what it got, all in one call of its handler.
const WASM_STREAMER: &str = r#"
(module
  (import "islet" "env_get" (func $env (param i32 i32 i32 i32) (result i32)))
  (import "islet" "response_write" (func $write (param i32 i32) (result i32)))
  (import "islet" "fetch" (func $fetch (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "islet" "fetch_body_read" (func $read (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "GATE")
  (data (i32.const 16) "GET")
  (data (i32.const 32) "first chunk\n")
  (data (i32.const 48) "\n")
  (func (export "islet_handle")
    (local $url_len i32) (local $handle i32)
    (drop (call $write (i32.const 32) (i32.const 12)))
    (local.set $url_len (call $env (i32.const 0) (i32.const 4) (i32.const 100) (i32.const 200)))
    (local.set $handle (call $fetch (i32.const 16) (i32.const 3) (i32.const 100) (local.get $url_len)
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
    (drop (call $write (i32.const 400)
      (call $read (local.get $handle) (i32.const 400) (i32.const 100))))
    (drop (call $write (i32.const 48) (i32.const 1)))))
"#;

#[tokio::test]
async fn each_chunk_reaches_the_client_when_it_is_written() {
    streams_chunk_by_chunk("stream.js", WORKER).await;
}

#[tokio::test]
async fn each_chunk_a_wasm_guest_writes_reaches_the_client_before_it_returns() {
    streams_chunk_by_chunk("stream.wat", WASM_STREAMER).await;
}

async fn streams_chunk_by_chunk(main: &str, code: &str) {
    let gate = Arc::new(Notify::new());
    let port = gated_upstream(gate.clone()).await;
    let project = Project::new();
    project.file(main, code).config(&format!(
        r#"
        [[tenant]]
        name = "stream"
        main = "{main}"
        routes = ["*/*"]
        vars = {{ PORT = "{port}", GATE = "http://127.0.0.1:{port}/gate" }}
        allowed_hosts = ["127.0.0.1"]
        "#
    ));
    let server = project.serve();
    let addr = server.addr;

    let client = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .unwrap();
        // Read until the first chunk is here: the body is not over yet,
        // since its second chunk waits on the gate.
        let mut seen = Vec::new();
        let mut buf = [0; 1024];
        while !String::from_utf8_lossy(&seen).contains("first chunk") {
            let n = stream
                .read(&mut buf)
                .expect("the first chunk arrives on its own");
            assert!(n > 0, "connection closed early");
            seen.extend_from_slice(&buf[..n]);
        }
        let before = String::from_utf8_lossy(&seen).into_owned();
        (stream, before)
    });
    let (mut stream, before) = client.await.unwrap();
    assert!(before.starts_with("HTTP/1.1 200"), "{before}");
    assert!(before.contains("transfer-encoding: chunked"), "{before}");
    assert!(!before.contains("gate opened"));

    gate.notify_one();
    let rest = tokio::task::spawn_blocking(move || {
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).unwrap();
        String::from_utf8_lossy(&rest).into_owned()
    })
    .await
    .unwrap();
    assert!(rest.contains("gate opened"), "{rest}");
    assert!(
        rest.ends_with("0\r\n\r\n"),
        "the chunked body ends: {rest:?}"
    );
}

const SLOW_READER: &str = r#"
export default {
  async fetch(request) {
    // Read three chunks, slowly, then give up on the rest.
    const reader = request.body.getReader();
    let consumed = 0;
    for (let i = 0; i < 3; i++) {
      const { value, done } = await reader.read();
      if (done) break;
      consumed += value.length;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await reader.cancel();
    return new Response(`consumed ${consumed}`);
  },
};
"#;

#[test]
fn a_slow_reader_slows_the_upload_and_cancel_stops_it() {
    let project = Project::new();
    project.file("slow.js", SLOW_READER).config(
        r#"
        [server]
        max_body_mb = 200

        [[tenant]]
        name = "slow"
        main = "slow.js"
        routes = ["*/*"]
        "#,
    );
    let server = project.serve();
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    const TOTAL: usize = 128 << 20;
    stream
        .write_all(
            format!("POST / HTTP/1.1\r\nhost: x\r\ncontent-length: {TOTAL}\r\n\r\n").as_bytes(),
        )
        .unwrap();

    // Upload from another thread until the server stops taking bytes.
    let mut writer = stream.try_clone().unwrap();
    let upload = std::thread::spawn(move || {
        let chunk = vec![b'u'; 64 * 1024];
        let mut written = 0;
        while written < TOTAL {
            match writer.write(&chunk) {
                Ok(n) => written += n,
                Err(_) => break, // closed by the server, or stalled
            }
        }
        written
    });

    let mut reply = Vec::new();
    let mut buf = [0; 4096];
    while !String::from_utf8_lossy(&reply).contains("consumed") {
        let n = stream.read(&mut buf).expect("a response");
        assert!(n > 0, "closed without a response");
        reply.extend_from_slice(&buf[..n]);
    }
    let reply = String::from_utf8_lossy(&reply).into_owned();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let consumed: usize = reply
        .rsplit("consumed ")
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(consumed > 0);

    let written = upload.join().unwrap();
    // Without backpressure the host would have swallowed all 128 MiB; with
    // it, the client got no further than what the tenant read plus the
    // socket buffers.
    assert!(
        written < TOTAL / 2,
        "the upload was not slowed down: {written} of {TOTAL} bytes sent, tenant read {consumed}"
    );
}
