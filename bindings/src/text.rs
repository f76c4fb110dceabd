//! Text codecs shared by every engine.

use std::borrow::Cow;

/// Decodes UTF-8, replacing each invalid sequence with U+FFFD as the
/// WHATWG Encoding standard's decoder does.
pub fn utf8_decode_lossy(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// Decodes UTF-8 strictly: `None` on any invalid sequence (a `fatal`
/// `TextDecoder`).
pub fn utf8_decode_strict(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}
