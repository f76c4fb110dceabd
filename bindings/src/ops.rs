//! The platform operations as one call: a name and a list of values.
//!
//! V8 binds each operation of [`crate::js`] to a function of its own. A
//! language runtime inside WebAssembly (the QuickJS runtime) cannot link
//! Rust functions, so it reaches the same operations through the ABI's
//! `op` import: it encodes the arguments with [`encode`], the host runs
//! [`call`] and hands back the encoded result. The operations behave
//! exactly as V8's do, because both end in the same functions of
//! [`crate::url`], [`crate::text`] and [`crate::crypto`].
//!
//! # Encoding
//!
//! A value is a tag byte and its payload; integers are little-endian.
//!
//! | tag | value | payload |
//! |---|---|---|
//! | 0 | null (and undefined) | none |
//! | 1 | false | none |
//! | 2 | true | none |
//! | 3 | number | 8 bytes, an IEEE 754 double |
//! | 4 | string | `u32` length, then that many bytes of UTF-8 |
//! | 5 | bytes | `u32` length, then the bytes |
//! | 6 | array | `u32` count, then that many values |
//!
//! The arguments of a call are one array. A failed operation returns an
//! [`OpError`], which the runtime throws: a `TypeError` when `kind` says
//! so, otherwise an `Error` with the message.

use crate::crypto::{self, CryptoError, KeyDer};

/// A value crossing the boundary.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null` or `undefined`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number.
    Number(f64),
    /// A string.
    String(String),
    /// A `Uint8Array` (any view or buffer, on the way in).
    Bytes(Vec<u8>),
    /// An array.
    Array(Vec<Value>),
}

/// Why an operation failed: the error class to throw and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    /// `TypeError`, or `Error` for everything else.
    pub kind: &'static str,
    /// The message.
    pub message: String,
}

impl OpError {
    fn type_error(message: impl Into<String>) -> Self {
        OpError {
            kind: "TypeError",
            message: message.into(),
        }
    }
}

impl From<CryptoError> for OpError {
    fn from(e: CryptoError) -> Self {
        // V8's ops throw a plain Error whose message starts with the Web
        // Crypto name; the JS layer turns it into a DOMException.
        OpError {
            kind: "Error",
            message: e.to_string(),
        }
    }
}

/// The operations [`call`] knows, for documentation and tests.
pub const NAMES: &[&str] = &[
    "utf8Decode",
    "urlParse",
    "urlSet",
    "digest",
    "hmacSign",
    "hmacVerify",
    "aesGcm",
    "ecFromJwk",
    "ecFromRaw",
    "ecFromDer",
    "ecGenerate",
    "ecToJwk",
    "ecToRaw",
    "ecdsaSign",
    "ecdsaVerify",
    "rsaFromJwk",
    "rsaFromDer",
    "rsaPublicParts",
    "rsaSign",
    "rsaVerify",
];

/// Runs operation `name` with `args`.
pub fn call(name: &str, args: &[Value]) -> Result<Value, OpError> {
    let a = Args { op: name, args };
    Ok(match name {
        "utf8Decode" => {
            let bytes = a.bytes(0)?;
            if a.truthy(1) {
                match crate::text::utf8_decode_strict(bytes) {
                    Some(text) => Value::String(text.to_owned()),
                    None => Value::Null,
                }
            } else {
                Value::String(crate::text::utf8_decode_lossy(bytes).into_owned())
            }
        }
        "urlParse" => {
            let base = a.optional_string(1);
            components(crate::url::parse(&a.string(0), base.as_deref()))
        }
        "urlSet" => components(crate::url::set(&a.string(0), &a.string(1), &a.string(2))),
        "digest" => Value::Bytes(
            crypto::digest(&a.string(0), a.bytes(1)?)
                .map_err(|e| OpError::type_error(e.to_string()))?,
        ),
        "hmacSign" => Value::Bytes(
            crypto::hmac_sign(&a.string(0), a.bytes(1)?, a.bytes(2)?)
                .map_err(|e| OpError::type_error(e.to_string()))?,
        ),
        "hmacVerify" => Value::Bool(
            crypto::hmac_verify(&a.string(0), a.bytes(1)?, a.bytes(2)?, a.bytes(3)?)
                .map_err(|e| OpError::type_error(e.to_string()))?,
        ),
        "aesGcm" => Value::Bytes(crypto::aes_gcm(
            a.truthy(0),
            a.bytes(1)?,
            a.bytes(2)?,
            a.bytes(3)?,
            a.bytes(4)?,
        )?),
        "ecFromJwk" => key_der(crypto::ec_from_jwk(
            a.optional_bytes(0)?,
            a.bytes(1)?,
            a.bytes(2)?,
        )?),
        "ecFromRaw" => key_der(crypto::ec_from_raw(a.bytes(0)?)?),
        "ecFromDer" => key_der(crypto::ec_from_der(a.truthy(0), a.bytes(1)?)?),
        "ecGenerate" => key_der(crypto::ec_generate()?),
        "ecToJwk" => {
            let key = KeyDer {
                private: a.optional_bytes(0)?.map(<[u8]>::to_vec),
                public: a.bytes(1)?.to_vec(),
            };
            let jwk = crypto::ec_to_jwk(&key)?;
            Value::Array(vec![
                Value::Bytes(jwk.x),
                Value::Bytes(jwk.y),
                jwk.d.map_or(Value::Null, Value::Bytes),
            ])
        }
        "ecToRaw" => Value::Bytes(crypto::ec_to_raw(a.bytes(0)?)?),
        "ecdsaSign" => Value::Bytes(crypto::ecdsa_sign(&a.string(0), a.bytes(1)?, a.bytes(2)?)?),
        "ecdsaVerify" => Value::Bool(crypto::ecdsa_verify(
            &a.string(0),
            a.bytes(1)?,
            a.bytes(2)?,
            a.bytes(3)?,
        )?),
        "rsaFromJwk" => {
            let private = match (
                a.optional_bytes(2)?,
                a.optional_bytes(3)?,
                a.optional_bytes(4)?,
            ) {
                (Some(d), Some(p), Some(q)) => Some((d, p, q)),
                (None, _, _) => None,
                _ => {
                    return Err(CryptoError {
                        kind: "DataError",
                        message: "a private RSA JWK needs d, p and q".into(),
                    }
                    .into());
                }
            };
            key_der(crypto::rsa_from_jwk(a.bytes(0)?, a.bytes(1)?, private)?)
        }
        "rsaFromDer" => key_der(crypto::rsa_from_der(a.truthy(0), a.bytes(1)?)?),
        "rsaPublicParts" => {
            let (n, e, bits) = crypto::rsa_public_parts(a.bytes(0)?)?;
            Value::Array(vec![
                Value::Bytes(n),
                Value::Bytes(e),
                Value::Number(f64::from(bits)),
            ])
        }
        "rsaSign" => Value::Bytes(crypto::rsa_sign(&a.string(0), a.bytes(1)?, a.bytes(2)?)?),
        "rsaVerify" => Value::Bool(crypto::rsa_verify(
            &a.string(0),
            a.bytes(1)?,
            a.bytes(2)?,
            a.bytes(3)?,
        )?),
        other => return Err(OpError::type_error(format!("unknown operation `{other}`"))),
    })
}

fn components(parts: Option<crate::url::Components>) -> Value {
    match parts {
        Some(parts) => Value::Array(parts.into_iter().map(Value::String).collect()),
        None => Value::Null,
    }
}

fn key_der(key: KeyDer) -> Value {
    Value::Array(vec![
        key.private.map_or(Value::Null, Value::Bytes),
        Value::Bytes(key.public),
    ])
}

/// Argument access with JS's conversions.
struct Args<'a> {
    op: &'a str,
    args: &'a [Value],
}

impl Args<'_> {
    fn get(&self, i: usize) -> &Value {
        self.args.get(i).unwrap_or(&Value::Null)
    }

    /// `String(value)`, as far as the encodable values go.
    fn string(&self, i: usize) -> String {
        match self.get(i) {
            Value::Null => "null".into(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => number_to_string(*n),
            Value::String(s) => s.clone(),
            Value::Bytes(b) => b.iter().map(u8::to_string).collect::<Vec<_>>().join(","),
            Value::Array(_) => String::new(),
        }
    }

    fn optional_string(&self, i: usize) -> Option<String> {
        (!matches!(self.get(i), Value::Null)).then(|| self.string(i))
    }

    fn truthy(&self, i: usize) -> bool {
        matches!(self.get(i), Value::Bool(true))
    }

    fn bytes(&self, i: usize) -> Result<&[u8], OpError> {
        match self.get(i) {
            Value::Bytes(b) => Ok(b),
            _ => Err(OpError::type_error(format!("{} expects bytes", self.op))),
        }
    }

    fn optional_bytes(&self, i: usize) -> Result<Option<&[u8]>, OpError> {
        match self.get(i) {
            Value::Null => Ok(None),
            _ => self.bytes(i).map(Some),
        }
    }
}

fn number_to_string(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e21 {
        format!("{n:.0}")
    } else {
        n.to_string()
    }
}

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed op value at byte {0}")]
pub struct Malformed(pub usize);

/// Appends the encoding of `value` to `out`.
pub fn encode(value: &Value, out: &mut Vec<u8>) {
    fn len(out: &mut Vec<u8>, n: usize) {
        let n = u32::try_from(n).expect("op values are under 4 GiB");
        out.extend_from_slice(&n.to_le_bytes());
    }
    match value {
        Value::Null => out.push(0),
        Value::Bool(false) => out.push(1),
        Value::Bool(true) => out.push(2),
        Value::Number(n) => {
            out.push(3);
            out.extend_from_slice(&n.to_le_bytes());
        }
        Value::String(s) => {
            out.push(4);
            len(out, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        Value::Bytes(b) => {
            out.push(5);
            len(out, b.len());
            out.extend_from_slice(b);
        }
        Value::Array(items) => {
            out.push(6);
            len(out, items.len());
            for item in items {
                encode(item, out);
            }
        }
    }
}

/// Decodes one value that must fill `bytes` exactly.
pub fn decode(bytes: &[u8]) -> Result<Value, Malformed> {
    let mut at = 0;
    let value = decode_at(bytes, &mut at, 0)?;
    if at != bytes.len() {
        return Err(Malformed(at));
    }
    Ok(value)
}

/// Arrays nest at most this deep (the ops need two levels).
const MAX_DEPTH: usize = 8;

fn decode_at(bytes: &[u8], at: &mut usize, depth: usize) -> Result<Value, Malformed> {
    let start = *at;
    let take = |at: &mut usize, n: usize| -> Result<&[u8], Malformed> {
        let end = at.checked_add(n).filter(|&e| e <= bytes.len());
        let end = end.ok_or(Malformed(*at))?;
        let slice = &bytes[*at..end];
        *at = end;
        Ok(slice)
    };
    let tag = take(at, 1)?[0];
    let len = |at: &mut usize| -> Result<usize, Malformed> {
        let raw: [u8; 4] = take(at, 4)?.try_into().expect("four bytes");
        Ok(u32::from_le_bytes(raw) as usize)
    };
    Ok(match tag {
        0 => Value::Null,
        1 => Value::Bool(false),
        2 => Value::Bool(true),
        3 => {
            let raw: [u8; 8] = take(at, 8)?.try_into().expect("eight bytes");
            Value::Number(f64::from_le_bytes(raw))
        }
        4 => {
            let n = len(at)?;
            let text = std::str::from_utf8(take(at, n)?).map_err(|_| Malformed(start))?;
            Value::String(text.to_owned())
        }
        5 => {
            let n = len(at)?;
            Value::Bytes(take(at, n)?.to_vec())
        }
        6 if depth < MAX_DEPTH => {
            let n = len(at)?;
            // Every item takes at least one byte: bound the allocation.
            if n > bytes.len() - *at {
                return Err(Malformed(start));
            }
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(decode_at(bytes, at, depth + 1)?);
            }
            Value::Array(items)
        }
        _ => return Err(Malformed(start)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(value: Value) {
        let mut out = Vec::new();
        encode(&value, &mut out);
        assert_eq!(decode(&out).unwrap(), value);
    }

    #[test]
    fn values_roundtrip() {
        roundtrip(Value::Null);
        roundtrip(Value::Bool(true));
        roundtrip(Value::Number(-1.5));
        roundtrip(Value::String("héllo".into()));
        roundtrip(Value::Array(vec![
            Value::Bytes(vec![1, 2, 3]),
            Value::Array(vec![Value::Bool(false)]),
        ]));
    }

    #[test]
    fn malformed_input_is_refused_not_trusted() {
        assert!(decode(&[9]).is_err());
        assert!(decode(&[4, 255, 255, 255, 255]).is_err());
        assert!(decode(&[6, 255, 255, 255, 255, 0]).is_err());
        assert!(decode(&[4, 1, 0, 0, 0, 0xff]).is_err());
        assert!(decode(&[0, 0]).is_err());
        let mut deep = vec![];
        for _ in 0..20 {
            deep.extend_from_slice(&[6, 1, 0, 0, 0]);
        }
        deep.push(0);
        assert!(decode(&deep).is_err());
    }

    #[test]
    fn ops_answer_as_the_v8_ops_do() {
        let parts = call(
            "urlParse",
            &[
                Value::String("b?x".into()),
                Value::String("http://h/a/".into()),
            ],
        )
        .unwrap();
        let Value::Array(parts) = parts else {
            panic!("{parts:?}")
        };
        assert_eq!(parts[0], Value::String("http://h/a/b?x".into()));
        assert_eq!(
            call("urlParse", &[Value::String("nope".into())]).unwrap(),
            Value::Null
        );
        let digest = call(
            "digest",
            &[
                Value::String("SHA-256".into()),
                Value::Bytes(b"abc".to_vec()),
            ],
        )
        .unwrap();
        let Value::Bytes(digest) = digest else {
            panic!()
        };
        assert_eq!(digest[..4], [0xba, 0x78, 0x16, 0xbf]);
        let err = call(
            "digest",
            &[Value::String("MD5".into()), Value::Bytes(vec![])],
        );
        assert_eq!(err.unwrap_err().kind, "TypeError");
        assert_eq!(call("nope", &[]).unwrap_err().kind, "TypeError");
        assert_eq!(
            call("utf8Decode", &[Value::Bytes(vec![0xff]), Value::Bool(true)]).unwrap(),
            Value::Null
        );
    }
}
