//! Cryptographic operations for Web Crypto, over RustCrypto crates.
//!
//! Hash names are the Web Crypto ones, already normalised by the JS layer:
//! `SHA-1`, `SHA-256`, `SHA-384`, `SHA-512`.

use hmac::{KeyInit, Mac};
use sha2::Digest;

/// An unsupported hash name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported hash `{0}`")]
pub struct UnknownHash(pub String);

/// Fills `buf` with cryptographically secure random bytes.
pub fn random_fill(buf: &mut [u8]) {
    // The OS random source does not fail on Linux once the system has
    // booted; a failure here is a broken host, not a tenant's fault.
    getrandom::fill(buf).expect("the OS random source works");
}

/// The digest of `data`.
pub fn digest(hash: &str, data: &[u8]) -> Result<Vec<u8>, UnknownHash> {
    Ok(match hash {
        "SHA-1" => sha1::Sha1::digest(data).to_vec(),
        "SHA-256" => sha2::Sha256::digest(data).to_vec(),
        "SHA-384" => sha2::Sha384::digest(data).to_vec(),
        "SHA-512" => sha2::Sha512::digest(data).to_vec(),
        other => return Err(UnknownHash(other.to_string())),
    })
}

fn hmac_tag<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hmac_check<M: Mac + KeyInit>(key: &[u8], data: &[u8], tag: &[u8]) -> bool {
    let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.verify_slice(tag).is_ok()
}

/// The HMAC of `data` under `key`.
pub fn hmac_sign(hash: &str, key: &[u8], data: &[u8]) -> Result<Vec<u8>, UnknownHash> {
    Ok(match hash {
        "SHA-1" => hmac_tag::<hmac::Hmac<sha1::Sha1>>(key, data),
        "SHA-256" => hmac_tag::<hmac::Hmac<sha2::Sha256>>(key, data),
        "SHA-384" => hmac_tag::<hmac::Hmac<sha2::Sha384>>(key, data),
        "SHA-512" => hmac_tag::<hmac::Hmac<sha2::Sha512>>(key, data),
        other => return Err(UnknownHash(other.to_string())),
    })
}

/// Whether `tag` is the HMAC of `data` under `key`, compared in constant
/// time.
pub fn hmac_verify(hash: &str, key: &[u8], data: &[u8], tag: &[u8]) -> Result<bool, UnknownHash> {
    Ok(match hash {
        "SHA-1" => hmac_check::<hmac::Hmac<sha1::Sha1>>(key, data, tag),
        "SHA-256" => hmac_check::<hmac::Hmac<sha2::Sha256>>(key, data, tag),
        "SHA-384" => hmac_check::<hmac::Hmac<sha2::Sha384>>(key, data, tag),
        "SHA-512" => hmac_check::<hmac::Hmac<sha2::Sha512>>(key, data, tag),
        other => return Err(UnknownHash(other.to_string())),
    })
}
