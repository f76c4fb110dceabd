//! Real-world style workers: npm packages bundled with esbuild into one
//! module, as users deploy them. `tests/bundles/package.json` pins the
//! packages; the first test to run installs them with `npm ci`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::support::Project;

fn bundles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/bundles")
}

/// Bundles `tests/bundles/src/NAME` into one ES module and returns it.
fn bundle(name: &str) -> String {
    static INSTALL: Mutex<()> = Mutex::new(());
    let dir = bundles_dir();
    let esbuild = dir.join("node_modules/.bin/esbuild");
    {
        let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
        if !esbuild.exists() {
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .status()
                .expect("npm (Node.js) is needed to bundle the real-world test workers");
            assert!(status.success(), "npm ci in tests/bundles failed");
        }
    }
    let out = Command::new(&esbuild)
        .arg(dir.join("src").join(name))
        .args([
            "--bundle",
            "--format=esm",
            "--platform=neutral",
            "--log-level=warning",
        ])
        .output()
        .expect("run esbuild");
    assert!(
        out.status.success(),
        "esbuild failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("a UTF-8 bundle")
}

#[tokio::test]
async fn a_hono_app_runs_unchanged() {
    let project = Project::new();
    project.file("app.js", bundle("hono-app.js")).config(
        r#"
        [[tenant]]
        name = "hono"
        main = "app.js"
        routes = ["*/*"]
        vars = { GREETING = "hej" }
        "#,
    );
    let server = project.serve();

    let home = server.get("x", "/").await;
    assert_eq!((home.status, home.body.as_str()), (200, "hello from hono"));
    assert_eq!(home.header("x-powered-by"), Some("islet+hono"));

    let user = server.get("x", "/users/42?q=find").await;
    assert_eq!(user.header("content-type"), Some("application/json"));
    assert_eq!(user.body, r#"{"id":"42","q":"find"}"#);

    let echo = server
        .send(
            "POST",
            "x",
            "/echo",
            &[("content-type", "application/json")],
            r#"{"a":[1,2]}"#,
        )
        .await;
    assert_eq!(
        (echo.status, echo.body.as_str()),
        (201, r#"{"got":{"a":[1,2]},"length":11}"#)
    );

    assert_eq!(server.get("x", "/env").await.body, "greeting: hej");
    let missing = server.get("x", "/nowhere").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body, r#"{"error":"not found","path":"/nowhere"}"#);
}

#[tokio::test]
async fn a_jwt_api_signs_and_verifies_with_webcrypto() {
    let project = Project::new();
    project.file("api.js", bundle("jwt-api.js")).config(
        r#"
        [[tenant]]
        name = "jwt"
        main = "api.js"
        routes = ["*/*"]
        vars = { JWT_SECRET = "a-very-secret-key-of-32-bytes!!!" }
        "#,
    );
    let server = project.serve();

    let login = server
        .send("POST", "x", "/login", &[], r#"{"user":"ada"}"#)
        .await;
    assert_eq!(login.status, 200, "{}", login.body);
    let token: serde_json::Value = serde_json::from_str(&login.body).unwrap();
    let token = token["token"].as_str().unwrap().to_string();
    assert_eq!(token.split('.').count(), 3);

    let bearer = format!("Bearer {token}");
    let me = server
        .send("GET", "x", "/me", &[("authorization", &bearer)], "")
        .await;
    assert_eq!(me.body, r#"{"user":"ada","role":"member","alg":"HS256"}"#);

    // A tampered signature is refused.
    let tampered = format!("Bearer {}x", token);
    let refused = server
        .send("GET", "x", "/me", &[("authorization", &tampered)], "")
        .await;
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.body,
        r#"{"error":"invalid token","reason":"ERR_JWS_SIGNATURE_VERIFICATION_FAILED"}"#
    );
    let missing = server.send("POST", "x", "/login", &[], "{}").await;
    assert_eq!(missing.status, 400);
}
