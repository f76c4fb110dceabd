//! The JavaScript platform layer.
//!
//! [`PLATFORM`] lists the layer's files in evaluation order. Each is a
//! classic script whose value is a function `(ops, platform) => void`. The
//! engine evaluates them in one fresh context, calls each with the same two
//! objects, and afterwards keeps `platform.hooks` out of the tenant's
//! reach.
//!
//! `ops` are the native operations, the same for every engine:
//!
//! | op | does |
//! |---|---|
//! | `utf8Encode(string)` | the string's UTF-8 bytes as a `Uint8Array` |
//! | `utf8Decode(bytes, fatal)` | decodes UTF-8; invalid input gives U+FFFD, or `null` when `fatal` |
//! | `log(level, message)` | logs for the tenant: 0 debug, 1 info, 2 warn, 3 error |
//! | `now()` | the frozen clock: ms since the epoch when the current slice began |
//! | `timerStart(ms, id?)` | arms a timer for the running request; returns its id |
//! | `timerCancel(id)` | disarms it |
//! | `urlParse(input, base?)` | [`crate::url::parse`]'s components as an array, or `null` |
//! | `urlSet(href, component, value)` | [`crate::url::set`], likewise |
//! | `randomFill(bytes)` | fills a `Uint8Array` with random bytes and returns it |
//! | `digest(hash, bytes)` | `SHA-1`/`SHA-256`/`SHA-384`/`SHA-512` of the bytes |
//! | `hmacSign(hash, key, data)` | the HMAC tag |
//! | `hmacVerify(hash, key, data, tag)` | constant-time check of a tag |
//! | `fetchStart(method, url, flatHeaders, body, redirect)` | sends an outbound request if the tenant's policy allows it; the result arrives through `fetchDone` / `fetchFailed` |
//! | `fetchCancel(id)` | abandons it |
//! | `waitUntilUsed()` | tells the host the running request called `ctx.waitUntil`, so that it waits for that work after the response |
//! | `bodyWrite(bytes)` | hands a response body chunk to the client; `bodyWritten` reports when it was taken |
//!
//! and the hooks the engine calls:
//!
//! | hook | does |
//! |---|---|
//! | `makeRequest(method, url, flatHeaders, bodyBytes)` | builds the `Request` |
//! | `makeContext()` | builds the `ctx` argument (`waitUntil`) |
//! | `readResponse(value)` | returns `[status, flatHeaders, bodyBytes]` or `[status, flatHeaders, null, stream]`, or throws a `TypeError` if `value` is not a `Response` |
//! | `fireTimer(id)` | runs a timer's callback |
//! | `fetchDone(id, status, statusText, flatHeaders, body, url, redirected)`, `fetchFailed(id, message)` | settle a `fetch` |
//! | `waitUntilPromise(ctx)` | a promise for the work passed to `ctx.waitUntil`, or `undefined` |
//! | `pumpBody(stream)` | streams a response body through `bodyWrite`; `bodyWritten(id, accepted)` resumes it |
//! | `initContext()` | sets per-context state (the clock's origin) after a snapshot is loaded |

/// The platform layer's files: `(name, source)`, in evaluation order.
pub const PLATFORM: &[(&str, &str)] = &[
    ("islet:00_core.js", include_str!("../js/00_core.js")),
    ("islet:05_timers.js", include_str!("../js/05_timers.js")),
    ("islet:06_clock.js", include_str!("../js/06_clock.js")),
    ("islet:10_events.js", include_str!("../js/10_events.js")),
    ("islet:15_streams.js", include_str!("../js/15_streams.js")),
    ("islet:20_encoding.js", include_str!("../js/20_encoding.js")),
    ("islet:30_url.js", include_str!("../js/30_url.js")),
    ("islet:40_clone.js", include_str!("../js/40_clone.js")),
    ("islet:50_crypto.js", include_str!("../js/50_crypto.js")),
    ("islet:80_blob.js", include_str!("../js/80_blob.js")),
    ("islet:90_fetch.js", include_str!("../js/90_fetch.js")),
];
