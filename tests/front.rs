//! The HTTP front's limits: body size, head size, slow clients.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::Project;

fn project(server_section: &str) -> Project {
    let project = Project::new();
    project
        .file(
            "worker.js",
            r#"export default { async fetch(r) { return new Response(`got ${(await r.text()).length}`); } };"#,
        )
        .config(&format!(
            r#"
            [server]
            {server_section}

            [[tenant]]
            name = "app"
            main = "worker.js"
            routes = ["*/*"]
            "#
        ));
    project
}

/// Writes raw bytes and reads until the server closes or `wait` passes.
fn raw_exchange(addr: std::net::SocketAddr, request: &[u8], wait: Duration) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(wait)).unwrap();
    stream.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn bodies_over_max_body_mb_get_413() {
    let project = project("max_body_mb = 1");
    let server = project.serve();

    let ok = server
        .send("POST", "x", "/", &[], vec![b'a'; 1 << 20])
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body, format!("got {}", 1 << 20));

    // Declared too large: refused from the header alone.
    let big = server
        .send("POST", "x", "/", &[], vec![b'a'; (1 << 20) + 1])
        .await;
    assert_eq!(big.status, 413);
    assert_eq!(big.outcome(), Some("body-too-large"));

    // Chunked, with no length: refused once the limit is crossed.
    let mut request =
        b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
            .to_vec();
    for _ in 0..20 {
        request.extend_from_slice(b"10000\r\n");
        request.extend_from_slice(&[b'b'; 0x10000]);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let reply = raw_exchange(server.addr, &request, Duration::from_secs(10));
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply:.200}");
    assert!(
        reply.contains("islet-outcome: body-too-large"),
        "{reply:.300}"
    );
}

#[test]
fn oversized_and_malformed_heads_get_4xx() {
    let project = project("");
    let server = project.serve();

    let huge = format!(
        "GET / HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let reply = raw_exchange(server.addr, huge.as_bytes(), Duration::from_secs(10));
    assert!(reply.starts_with("HTTP/1.1 431"), "{reply:.200}");

    let reply = raw_exchange(
        server.addr,
        b"GET / HTTP/1.1\r\nhost: x\r\na header line without a colon\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply:.200}");

    // The server is unharmed.
    let reply = raw_exchange(
        server.addr,
        b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply:.200}");
}

#[test]
fn a_client_that_sends_its_head_slowly_is_cut_off() {
    let project = project("header_timeout_ms = 300");
    let server = project.serve();
    let started = Instant::now();
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n").unwrap();
    // Never finish the head; the server must close the connection.
    let mut out = Vec::new();
    let read = stream.read_to_end(&mut out);
    assert!(
        read.is_ok(),
        "connection closed by the server, not our timeout"
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "cut off by the header timeout"
    );
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
}
