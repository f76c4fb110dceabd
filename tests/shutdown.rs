//! SIGTERM: stop accepting, finish in-flight requests, exit 0.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::support::Project;

#[test]
fn sigterm_lets_an_in_flight_request_finish_then_exits_0() {
    let project = Project::new();
    project
        .file(
            "worker.js",
            r#"export default { async fetch(r) { return new Response(`got ${await r.text()}`); } };"#,
        )
        .config(
            r#"
            [[tenant]]
            name = "app"
            main = "worker.js"
            routes = ["*/*"]
            "#,
        );
    let mut server = project.serve();

    // A request whose body is still arriving when SIGTERM comes.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    stream
        .write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nhello")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    server.terminate();
    server.wait_for_log(&["shutting down"]);
    std::thread::sleep(Duration::from_millis(200));
    stream.write_all(b"world").unwrap();

    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.ends_with("got helloworld"), "{reply}");

    let status = server
        .wait_exit(Duration::from_secs(15))
        .expect("islet exits");
    assert_eq!(status.code(), Some(0));
    assert!(TcpStream::connect(server.addr).is_err(), "nothing listens");
}
