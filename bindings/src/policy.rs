//! Outbound request policy: which hosts a tenant may `fetch`.
//!
//! Deny by default. A tenant's `allowed_hosts` lists patterns:
//! `api.example.com` (that host, any port), `api.example.com:8443` (that
//! host and port), `*.example.com` (any subdomain, not the apex). Hosts
//! compare case-insensitively. Only `http:` and `https:` URLs are
//! fetched at all. The check applies to every hop of a redirect.

use url::{Host, Url};

/// Why a fetch was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchDenied {
    /// The URL's host is not in `allowed_hosts`.
    #[error("fetch to `{0}` is not allowed: the host is not in the tenant's `allowed_hosts`")]
    Host(String),
    /// Not an `http:` or `https:` URL.
    #[error("fetch of `{0}` URLs is not supported; use http: or https:")]
    Scheme(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    Host { host: String, port: Option<u16> },
    Subdomains(String),
}

/// A tenant's outbound policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchPolicy {
    rules: Vec<Rule>,
}

/// An `allowed_hosts` entry that is not a host pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a host pattern like `api.example.com`, `host:8080` or `*.example.com`")]
pub struct BadPattern(pub String);

impl FetchPolicy {
    /// Parses `allowed_hosts` patterns.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<FetchPolicy, BadPattern> {
        let mut rules = Vec::with_capacity(patterns.len());
        for pattern in patterns {
            let pattern = pattern.as_ref();
            let bad = || BadPattern(pattern.to_string());
            let lower = pattern.trim().to_ascii_lowercase();
            if let Some(suffix) = lower.strip_prefix("*.") {
                if suffix.is_empty() || suffix.contains(['*', ':', '/']) {
                    return Err(bad());
                }
                rules.push(Rule::Subdomains(suffix.to_string()));
                continue;
            }
            // Parse through `url` so that IPv6 literals and ports work.
            let url = Url::parse(&format!("http://{lower}/")).map_err(|_| bad())?;
            if url.path() != "/" || url.username() != "" || lower.contains('*') {
                return Err(bad());
            }
            let host = url.host_str().ok_or_else(bad)?.to_string();
            rules.push(Rule::Host {
                host,
                port: url.port(),
            });
        }
        Ok(FetchPolicy { rules })
    }

    /// Whether `url` may be fetched.
    pub fn check(&self, url: &Url) -> Result<(), FetchDenied> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchDenied::Scheme(url.scheme().to_string()));
        }
        let host = match url.host() {
            Some(Host::Domain(d)) => d.to_ascii_lowercase(),
            Some(Host::Ipv4(ip)) => ip.to_string(),
            Some(Host::Ipv6(ip)) => format!("[{ip}]"),
            None => return Err(FetchDenied::Host(String::new())),
        };
        let port = url.port_or_known_default();
        let allowed = self.rules.iter().any(|rule| match rule {
            Rule::Host { host: h, port: p } => *h == host && p.is_none_or(|p| Some(p) == port),
            Rule::Subdomains(suffix) => host
                .strip_suffix(suffix.as_str())
                .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1),
        });
        if allowed {
            Ok(())
        } else {
            Err(FetchDenied::Host(match url.port() {
                Some(p) => format!("{host}:{p}"),
                None => host,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(patterns: &[&str], url: &str) -> bool {
        FetchPolicy::new(patterns)
            .unwrap()
            .check(&Url::parse(url).unwrap())
            .is_ok()
    }

    #[test]
    fn deny_by_default() {
        assert!(!allows(&[], "http://example.com/"));
    }

    #[test]
    fn hosts_ports_and_subdomains() {
        let p = ["api.example.com", "127.0.0.1:8080", "*.cdn.org", "[::1]"];
        assert!(allows(&p, "https://API.example.com/x"));
        assert!(allows(&p, "http://api.example.com:9999/"));
        assert!(!allows(&p, "http://example.com/"));
        assert!(!allows(&p, "http://api.example.com.evil.net/"));
        assert!(allows(&p, "http://127.0.0.1:8080/"));
        assert!(!allows(&p, "http://127.0.0.1:8081/"));
        assert!(!allows(&p, "http://127.0.0.1/"));
        assert!(allows(&p, "https://a.b.cdn.org/"));
        assert!(!allows(&p, "https://cdn.org/"));
        assert!(!allows(&p, "https://xcdn.org/"));
        assert!(allows(&p, "http://[::1]:3000/"));
    }

    #[test]
    fn other_schemes_and_bad_patterns() {
        assert!(!allows(&["example.com"], "file:///etc/passwd"));
        assert!(!allows(&["example.com"], "ftp://example.com/"));
        assert!(FetchPolicy::new(&["a.com/path"]).is_err());
        assert!(FetchPolicy::new(&["*"]).is_err());
        assert!(FetchPolicy::new(&["user@a.com"]).is_err());
    }
}
