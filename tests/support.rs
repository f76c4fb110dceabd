//! Test helpers: a real `islet serve` process and a small HTTP client.

#![allow(dead_code)] // Each test module uses a different subset.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

/// A directory of tenant files and an `islet.toml`.
pub struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Project {
        Project {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Writes a file relative to the project directory.
    pub fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> &Self {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
        self
    }

    /// Writes `islet.toml`.
    pub fn config(&self, toml: &str) -> &Self {
        self.file("islet.toml", toml)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts `islet serve` on this project's `islet.toml`.
    pub fn serve(&self) -> Server {
        Server::start(&[
            "serve",
            "--config",
            self.path("islet.toml").to_str().unwrap(),
        ])
    }

    /// Runs `islet serve` expecting it to exit at once; returns its status
    /// and standard error.
    pub fn serve_fails(&self) -> (ExitStatus, String) {
        let out = Command::new(islet_bin())
            .args(["serve", "--config"])
            .arg(self.path("islet.toml"))
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .expect("run islet");
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

pub fn islet_bin() -> &'static str {
    env!("CARGO_BIN_EXE_islet")
}

/// A running `islet` process, killed when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn start(args: &[&str]) -> Server {
        Self::start_with_env(args, &[])
    }

    /// Starts `islet` with extra environment variables.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(islet_bin())
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info,islet::tenant=debug,islet::engine=debug")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start islet");
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = logs.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("islet listening")
                    && let Some(addr) = line.split(" addr=").nth(1)
                    && let Some(tx) = tx.take()
                {
                    let addr = addr.split_whitespace().next().unwrap().to_string();
                    let _ = tx.send(addr);
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(180)) {
            Ok(addr) => addr.parse().expect("listen address"),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "islet did not start; its log:\n{}",
                    logs.lock().unwrap().join("\n")
                );
            }
        };
        Server { child, addr, logs }
    }

    /// The admin listener's address, when `[admin] listen` is set.
    pub fn admin_addr(&self) -> SocketAddr {
        let line = self.wait_for_log(&["admin_addr="]);
        let addr = line.split("admin_addr=").nth(1).unwrap();
        addr.split_whitespace().next().unwrap().parse().unwrap()
    }

    /// The metrics page of the admin listener.
    pub async fn metrics(&self) -> String {
        send(
            self.admin_addr(),
            "GET",
            "admin",
            "/metrics",
            &[],
            Bytes::new(),
        )
        .await
        .body
    }

    /// Resident memory of the server process, in bytes.
    pub fn rss(&self) -> usize {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        let kb: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kb * 1024
    }

    /// Everything the server logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Waits up to 10 s for a log line containing every one of `parts`.
    pub fn wait_for_log(&self, parts: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(line) = self
                .logs
                .lock()
                .unwrap()
                .iter()
                .find(|l| parts.iter().all(|p| l.contains(p)))
            {
                return line.clone();
            }
            if Instant::now() > deadline {
                panic!("no log line with {parts:?}; logs:\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        // SAFETY: `kill` has no memory-safety preconditions; the pid is
        // our own child's.
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A GET request with this `Host` header.
    pub async fn get(&self, host: &str, path: &str) -> Reply {
        self.send("GET", host, path, &[], Bytes::new()).await
    }

    pub async fn send(
        &self,
        method: &str,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        send(self.addr, method, host, path, headers, body.into()).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A complete response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn outcome(&self) -> Option<&str> {
        self.header("islet-outcome")
    }
}

/// Sends one request on a fresh connection and reads the whole response.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Reply {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", host);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let request = request.body(Full::new(body)).unwrap();
    let response = sender.send_request(request).await.expect("response");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Path of a bundled example, from the repository root.
pub fn example(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(path)
}
