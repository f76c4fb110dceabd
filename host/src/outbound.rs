//! Outbound HTTP for tenants: what `fetch` does on the host side.
//!
//! Every engine reaches the network through [`fetch`], which applies the
//! tenant's [`FetchPolicy`] to the first URL and to every redirect hop,
//! bounds the response body, and runs on the calling worker thread's
//! runtime (connections are pooled per worker thread). Waiting here costs
//! the tenant no CPU time: the request's code is not running.
//!
//! `https:` goes through rustls (with the *ring* provider), trusting the
//! bundled Mozilla root certificates plus the CAs of `[outbound]
//! ca_file`, set once per process by [`configure_tls`].

use std::cell::RefCell;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use islet_bindings::policy::FetchPolicy;
use url::Url;

/// Redirects a request follows at the most.
const MAX_REDIRECTS: usize = 20;

/// What to do with a redirect response (`Request.redirect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectMode {
    /// Follow it (the default).
    Follow,
    /// Hand it to the caller.
    Manual,
    /// Fail the fetch.
    Error,
}

/// An outbound request.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    /// The method.
    pub method: Method,
    /// The absolute URL.
    pub url: String,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
    /// What to do with redirects.
    pub redirect: RedirectMode,
}

/// A response to an outbound request.
#[derive(Debug, Clone)]
pub struct OutboundResponse {
    /// The status.
    pub status: u16,
    /// The status's reason phrase.
    pub status_text: String,
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Bytes,
    /// The final URL, after redirects.
    pub url: String,
    /// Whether a redirect was followed.
    pub redirected: bool,
}

type OutboundClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

thread_local! {
    static CLIENT: RefCell<Option<OutboundClient>> = const { RefCell::new(None) };
}

static TLS: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();

/// Sets which certificate authorities outbound `https:` trusts: the
/// bundled Mozilla roots, plus the PEM certificates in `ca_file`. The
/// first call in a process decides; later calls change nothing.
pub fn configure_tls(ca_file: Option<&Path>) -> Result<(), String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        let mut added = 0;
        for cert in certs {
            let cert = cert.map_err(|e| format!("`{}`: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("`{}`: {e}", path.display()))?;
            added += 1;
        }
        if added == 0 {
            return Err(format!("`{}` holds no PEM certificate", path.display()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let _ = TLS.set(Arc::new(config));
    Ok(())
}

fn client() -> OutboundClient {
    CLIENT.with(|c| {
        c.borrow_mut()
            .get_or_insert_with(|| {
                if TLS.get().is_none() {
                    // Bundled roots only; they always parse.
                    let _ = configure_tls(None);
                }
                let tls = TLS.get().expect("configured above").as_ref().clone();
                let connector = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(tls)
                    .https_or_http()
                    .enable_http1()
                    .build();
                Client::builder(TokioExecutor::new()).build(connector)
            })
            .clone()
    })
}

/// Sends `request` if `policy` allows it, following redirects; the error
/// is a message for a `TypeError`.
pub async fn fetch(
    policy: &FetchPolicy,
    request: OutboundRequest,
    max_body: usize,
) -> Result<OutboundResponse, String> {
    let mut url =
        Url::parse(&request.url).map_err(|e| format!("invalid URL `{}`: {e}", request.url))?;
    let mut method = request.method;
    let mut body = request.body;
    let mut redirected = false;

    for _ in 0..=MAX_REDIRECTS {
        policy.check(&url).map_err(|e| e.to_string())?;

        // Build and send one hop.
        let mut builder = Request::builder().method(method.clone()).uri(url.as_str());
        for (name, value) in &request.headers {
            let lower = name.to_ascii_lowercase();
            if matches!(
                lower.as_str(),
                "host" | "connection" | "content-length" | "transfer-encoding"
            ) {
                continue;
            }
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) else {
                return Err(format!("invalid header `{name}`"));
            };
            builder = builder.header(name, value);
        }
        let outgoing = builder
            .body(Full::new(body.clone()))
            .map_err(|e| format!("cannot build the request to `{url}`: {e}"))?;
        let response = client()
            .request(outgoing)
            .await
            .map_err(|e| format!("fetch of `{url}` failed: {}", error_chain(&e)))?;
        let status = response.status();

        // Follow a redirect?
        let location = response
            .headers()
            .get(http::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| url.join(l).ok());
        if status.is_redirection()
            && request.redirect != RedirectMode::Manual
            && let Some(next) = location
        {
            if request.redirect == RedirectMode::Error {
                return Err(format!(
                    "fetch of `{url}` was redirected and `redirect` is \"error\""
                ));
            }
            // 303, and 301/302 after a POST, turn into a GET.
            if status == StatusCode::SEE_OTHER
                || (matches!(status.as_u16(), 301 | 302) && method == Method::POST)
            {
                method = Method::GET;
                body = Bytes::new();
            }
            url = next;
            redirected = true;
            continue;
        }

        // The final response.
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let bytes = Limited::new(response.into_body(), max_body)
            .collect()
            .await
            .map_err(|e| format!("reading the response of `{url}` failed: {e}"))?
            .to_bytes();
        return Ok(OutboundResponse {
            status: status.as_u16(),
            status_text: status.canonical_reason().unwrap_or("").to_string(),
            headers,
            body: bytes,
            url: url.to_string(),
            redirected,
        });
    }
    Err(format!(
        "fetch of `{}` was redirected more than {MAX_REDIRECTS} times",
        request.url
    ))
}

/// An error and its causes, e.g. the certificate problem behind a failed
/// connection.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
