//! Route patterns and the router that maps a request to its tenant.
//!
//! A pattern is `HOST/PATH`, in the style of Workers routes:
//!
//! - `HOST` is an exact host (`api.example.com`), a wildcard over every
//!   subdomain (`*.example.com`, which does not match `example.com` itself),
//!   or `*` for any host. Hosts compare case-insensitively, without the port.
//! - `PATH` is an exact path (`/health`) or a prefix ending in `*`
//!   (`/v1/*`, `/hello*`, `/*`). The query string is not part of the path.
//!
//! **Precedence.** The most specific host wins first: an exact host, then
//! wildcard hosts from the longest suffix to the shortest, then `*`. Among
//! the patterns of the winning host, an exact path beats every prefix and a
//! longer prefix beats a shorter one. A host whose patterns match no path
//! falls through to the next host.
//!
//! **Cost.** A lookup never scans the list of patterns: hosts are hash-map
//! lookups (one for the exact host and one per dot for wildcard suffixes),
//! and paths are one hash-map lookup plus one walk down a byte trie of
//! prefixes. The cost grows with the length of the host and path, not with
//! the number of routes.

use std::collections::HashMap;
use std::fmt;

/// A parsed route pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoutePattern {
    host: HostPattern,
    path: PathPattern,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum HostPattern {
    Exact(String),
    /// `*.suffix`: holds `suffix`.
    Subdomains(String),
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum PathPattern {
    Exact(String),
    /// `prefix*`: holds `prefix`.
    Prefix(String),
}

/// Why a route pattern was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The pattern has no `/` separating host and path.
    #[error("a route needs a host and a path, like `example.com/*`")]
    MissingPath,
    /// The host part is empty or malformed.
    #[error("the host `{0}` is not valid: use `name.tld`, `*.name.tld` or `*`")]
    BadHost(String),
    /// A `*` stands somewhere other than the end of the path.
    #[error("`*` may appear only at the start of the host and the end of the path")]
    MisplacedWildcard,
}

impl RoutePattern {
    /// Parses `HOST/PATH`.
    pub fn parse(pattern: &str) -> Result<Self, RouteError> {
        let slash = pattern.find('/').ok_or(RouteError::MissingPath)?;
        let (host, path) = pattern.split_at(slash);
        let host = host.to_ascii_lowercase();

        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            if !valid_host(suffix) {
                return Err(RouteError::BadHost(host));
            }
            HostPattern::Subdomains(suffix.to_string())
        } else if valid_host(&host) {
            HostPattern::Exact(host)
        } else if host.contains('*') {
            return Err(RouteError::MisplacedWildcard);
        } else {
            return Err(RouteError::BadHost(host));
        };

        let path = match path.strip_suffix('*') {
            Some(prefix) if !prefix.contains('*') => PathPattern::Prefix(prefix.to_string()),
            None if !path.contains('*') => PathPattern::Exact(path.to_string()),
            _ => return Err(RouteError::MisplacedWildcard),
        };
        Ok(Self { host, path })
    }
}

fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && !host.starts_with('.')
        && !host.ends_with('.')
        && !host.contains("..")
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

impl fmt::Display for RoutePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            HostPattern::Exact(h) => f.write_str(h)?,
            HostPattern::Subdomains(s) => write!(f, "*.{s}")?,
            HostPattern::Any => f.write_str("*")?,
        }
        match &self.path {
            PathPattern::Exact(p) => f.write_str(p),
            PathPattern::Prefix(p) => write!(f, "{p}*"),
        }
    }
}

/// Maps `(host, path)` to the target of the most specific matching
/// pattern. See the module docs for the precedence rule.
#[derive(Debug, Clone)]
pub struct Router<T> {
    exact: HashMap<Box<str>, PathTable>,
    subdomains: HashMap<Box<str>, PathTable>,
    any: PathTable,
    targets: Vec<T>,
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Self {
            exact: HashMap::new(),
            subdomains: HashMap::new(),
            any: PathTable::default(),
            targets: Vec::new(),
        }
    }
}

/// A pattern that was added twice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("route `{0}` is defined twice")]
pub struct DuplicateRoute(pub String);

impl<T> Router<T> {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a pattern. Fails if the same pattern is already present.
    pub fn insert(&mut self, pattern: &RoutePattern, target: T) -> Result<(), DuplicateRoute> {
        let table = match &pattern.host {
            HostPattern::Exact(h) => self.exact.entry(h.as_str().into()).or_default(),
            HostPattern::Subdomains(s) => self.subdomains.entry(s.as_str().into()).or_default(),
            HostPattern::Any => &mut self.any,
        };
        let index = u32::try_from(self.targets.len()).expect("fewer than 2^32 routes");
        let fresh = match &pattern.path {
            PathPattern::Exact(p) => table.exact.insert(p.as_str().into(), index).is_none(),
            PathPattern::Prefix(p) => table.prefixes.insert(p.as_bytes(), index),
        };
        if !fresh {
            return Err(DuplicateRoute(pattern.to_string()));
        }
        self.targets.push(target);
        Ok(())
    }

    /// The target for a request's `Host` header (port allowed) and path
    /// (query allowed; it is ignored).
    pub fn lookup(&self, host: &str, path: &str) -> Option<&T> {
        let host = strip_port(host).trim_end_matches('.');
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        let path = if path.is_empty() { "/" } else { path };

        // Hosts are usually lowercase already; avoid the allocation then.
        let lowered;
        let host = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            lowered = host.to_ascii_lowercase();
            lowered.as_str()
        } else {
            host
        };

        let hit = self
            .exact
            .get(host)
            .and_then(|t| t.lookup(path))
            .or_else(|| {
                // Longest suffix first: `a.b.example.com` tries
                // `b.example.com`, then `example.com`, then `com`.
                host.match_indices('.').find_map(|(i, _)| {
                    self.subdomains
                        .get(&host[i + 1..])
                        .and_then(|t| t.lookup(path))
                })
            })
            .or_else(|| self.any.lookup(path))?;
        self.targets.get(hit as usize)
    }

    /// Number of patterns.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there are no patterns.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }
}

fn strip_port(host: &str) -> &str {
    // An IPv6 literal keeps its colons inside brackets.
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h)
}

/// The path patterns of one host pattern.
#[derive(Debug, Clone, Default)]
struct PathTable {
    exact: HashMap<Box<str>, u32>,
    prefixes: PrefixTrie,
}

impl PathTable {
    fn lookup(&self, path: &str) -> Option<u32> {
        self.exact
            .get(path)
            .copied()
            .or_else(|| self.prefixes.longest_prefix(path.as_bytes()))
    }
}

/// A byte trie whose lookups return the value of the longest stored prefix
/// of the key.
#[derive(Debug, Clone)]
struct PrefixTrie {
    nodes: Vec<TrieNode>,
}

#[derive(Debug, Clone, Default)]
struct TrieNode {
    /// Sorted by byte.
    children: Vec<(u8, u32)>,
    value: Option<u32>,
}

impl Default for PrefixTrie {
    fn default() -> Self {
        Self {
            nodes: vec![TrieNode::default()],
        }
    }
}

impl PrefixTrie {
    /// Returns false if the prefix was already present.
    fn insert(&mut self, key: &[u8], value: u32) -> bool {
        let mut node = 0usize;
        for &b in key {
            node = match self.nodes[node].children.binary_search_by_key(&b, |c| c.0) {
                Ok(i) => self.nodes[node].children[i].1 as usize,
                Err(i) => {
                    let next = self.nodes.len();
                    self.nodes.push(TrieNode::default());
                    self.nodes[node].children.insert(i, (b, next as u32));
                    next
                }
            };
        }
        let slot = &mut self.nodes[node].value;
        if slot.is_some() {
            return false;
        }
        *slot = Some(value);
        true
    }

    fn longest_prefix(&self, key: &[u8]) -> Option<u32> {
        let mut node = &self.nodes[0];
        let mut best = node.value;
        for &b in key {
            match node.children.binary_search_by_key(&b, |c| c.0) {
                Ok(i) => node = &self.nodes[node.children[i].1 as usize],
                Err(_) => break,
            }
            best = node.value.or(best);
        }
        best
    }
}
