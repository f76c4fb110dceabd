//! Absolute URLs, parsed just enough for routing: scheme, host, port,
//! path and query. Small on purpose (a full WHATWG parser would double the
//! size of a hello-world module); use the `url` crate when you need more.

use crate::{Error, Result};

/// An absolute `http:` or `https:` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    text: String,
    scheme_end: usize,
    host: (usize, usize),
    port: Option<u16>,
    path: (usize, usize),
    query: Option<(usize, usize)>,
}

impl Url {
    /// Parses an absolute URL such as `https://api.example.com/a?b=c`.
    pub fn parse(text: &str) -> Result<Url> {
        let invalid = |why: &str| {
            Error::with_kind(
                crate::ErrorKind::Invalid,
                format!("invalid URL `{text}`: {why}"),
            )
        };
        let scheme_end = text.find("://").ok_or_else(|| invalid("no scheme"))?;
        let scheme = &text[..scheme_end];
        if scheme.is_empty()
            || !scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            return Err(invalid("bad scheme"));
        }
        let rest_start = scheme_end + 3;
        let rest = &text[rest_start..];
        let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_len];
        // Drop user info; split host and port (IPv6 hosts are bracketed).
        let host_start = authority.rfind('@').map_or(0, |at| at + 1);
        let host_port = &authority[host_start..];
        let (host_len, port) = match host_port.rfind(':') {
            Some(colon) if !host_port[colon..].contains(']') => {
                let port = host_port[colon + 1..]
                    .parse::<u16>()
                    .map_err(|_| invalid("bad port"))?;
                (colon, Some(port))
            }
            _ => (host_port.len(), None),
        };
        if host_len == 0 {
            return Err(invalid("no host"));
        }
        let host = (rest_start + host_start, rest_start + host_start + host_len);
        let after = rest_start + authority_len;
        let end = text.find('#').unwrap_or(text.len());
        let query_at = text[after..end].find('?').map(|q| after + q);
        let path = (after, query_at.unwrap_or(end));
        let query = query_at.map(|q| (q + 1, end));
        Ok(Url {
            text: text.to_string(),
            scheme_end,
            host,
            port,
            path,
            query,
        })
    }

    /// The whole URL.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The scheme, e.g. `https`.
    pub fn scheme(&self) -> &str {
        &self.text[..self.scheme_end]
    }

    /// The host, without the port.
    pub fn host(&self) -> &str {
        &self.text[self.host.0..self.host.1]
    }

    /// The port, if the URL names one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The path, `/` when the URL has none.
    pub fn path(&self) -> &str {
        match &self.text[self.path.0..self.path.1] {
            "" => "/",
            path => path,
        }
    }

    /// The path split at `/`, without empty segments: `/a/b/` gives
    /// `["a", "b"]`.
    pub fn path_segments(&self) -> impl Iterator<Item = &str> {
        self.path().split('/').filter(|s| !s.is_empty())
    }

    /// The raw query, without `?`.
    pub fn query(&self) -> Option<&str> {
        self.query.map(|(a, b)| &self.text[a..b])
    }

    /// The query's `name=value` pairs, percent-decoded (`+` is a space).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query()
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(name), decode(value))
            })
            .collect()
    }

    /// The first value of query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Decodes `%XX` escapes and `+` in a query component; invalid escapes
/// stay as they are, invalid UTF-8 becomes U+FFFD.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
