//! WHATWG URL parsing and setters, over the `url` crate.

use url::{Url, quirks};

/// A URL's components as the WHATWG `URL` getters return them, in this
/// order: href, origin, protocol, username, password, host, hostname,
/// port, pathname, search, hash.
pub type Components = [String; 11];

fn components(url: &Url) -> Components {
    [
        quirks::href(url).to_string(),
        quirks::origin(url),
        quirks::protocol(url).to_string(),
        quirks::username(url).to_string(),
        quirks::password(url).to_string(),
        quirks::host(url).to_string(),
        quirks::hostname(url).to_string(),
        quirks::port(url).to_string(),
        quirks::pathname(url).to_string(),
        quirks::search(url).to_string(),
        quirks::hash(url).to_string(),
    ]
}

/// Parses `input` against an optional `base`; `None` if either fails.
pub fn parse(input: &str, base: Option<&str>) -> Option<Components> {
    let url = match base {
        Some(base) => Url::parse(base).ok()?.join(input).ok()?,
        None => Url::parse(input).ok()?,
    };
    Some(components(&url))
}

/// Applies a `URL` setter (`protocol`, `username`, `password`, `host`,
/// `hostname`, `port`, `pathname`, `search`, `hash`) to `href`. Returns the
/// new components, or `None` for an unknown setter or an invalid `href`.
/// A value the setter rejects leaves the URL unchanged, as the spec says.
pub fn set(href: &str, component: &str, value: &str) -> Option<Components> {
    let mut url = Url::parse(href).ok()?;
    let _ = match component {
        "protocol" => quirks::set_protocol(&mut url, value),
        "username" => quirks::set_username(&mut url, value),
        "password" => quirks::set_password(&mut url, value),
        "host" => quirks::set_host(&mut url, value),
        "hostname" => quirks::set_hostname(&mut url, value),
        "port" => quirks::set_port(&mut url, value),
        "pathname" => {
            quirks::set_pathname(&mut url, value);
            Ok(())
        }
        "search" => {
            quirks::set_search(&mut url, value);
            Ok(())
        }
        "hash" => {
            quirks::set_hash(&mut url, value);
            Ok(())
        }
        _ => return None,
    };
    Some(components(&url))
}
