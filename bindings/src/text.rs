//! Text codecs shared by every engine.

use std::borrow::Cow;

/// Decodes UTF-8, replacing each invalid sequence with U+FFFD as the
/// WHATWG Encoding standard's decoder does.
pub fn utf8_decode_lossy(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}
