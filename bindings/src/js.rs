//! The JavaScript platform layer.
//!
//! [`PLATFORM`] is a classic script whose completion value is a function
//! `(ops) => hooks`. The engine calls it once per context with an object
//! of native operations:
//!
//! | op | does |
//! |---|---|
//! | `utf8Encode(string)` | returns the string's UTF-8 bytes as a `Uint8Array` |
//! | `utf8Decode(bytes)` | decodes UTF-8, replacing invalid sequences with U+FFFD |
//! | `log(level, message)` | logs for the tenant: 0 debug, 1 info, 2 warn, 3 error |
//!
//! and keeps the returned hooks out of the tenant's reach:
//!
//! | hook | does |
//! |---|---|
//! | `makeRequest(method, url, flatHeaders, bodyBytes)` | builds the `Request` |
//! | `makeContext()` | builds the `ctx` argument (`waitUntil`) |
//! | `readResponse(value)` | returns `[status, flatHeaders, bodyBytes]`, or throws a `TypeError` if `value` is not a `Response` |

/// The platform layer's source.
pub const PLATFORM: &str = include_str!("../js/platform.js");
