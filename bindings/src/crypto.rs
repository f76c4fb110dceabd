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

/// A failed crypto operation; `kind` is the Web Crypto error name the JS
/// layer throws (`DataError`, `OperationError`, `NotSupportedError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct CryptoError {
    /// The `DOMException` name.
    pub kind: &'static str,
    /// What went wrong.
    pub message: String,
}

fn data_error(message: impl std::fmt::Display) -> CryptoError {
    CryptoError {
        kind: "DataError",
        message: message.to_string(),
    }
}

fn operation_error(message: impl std::fmt::Display) -> CryptoError {
    CryptoError {
        kind: "OperationError",
        message: message.to_string(),
    }
}

impl From<UnknownHash> for CryptoError {
    fn from(e: UnknownHash) -> Self {
        CryptoError {
            kind: "NotSupportedError",
            message: e.to_string(),
        }
    }
}

// ---- AES-GCM ----------------------------------------------------------

/// AES-GCM with a 128-bit tag and a 96-bit IV; keys of 128 or 256 bits.
pub fn aes_gcm(
    encrypt: bool,
    key: &[u8],
    iv: &[u8],
    data: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    if iv.len() != 12 {
        return Err(CryptoError {
            kind: "NotSupportedError",
            message: format!(
                "AES-GCM IVs of {} bytes are not supported; use 12",
                iv.len()
            ),
        });
    }
    let nonce = aes_gcm::Nonce::<aes_gcm::aead::consts::U12>::try_from(iv).map_err(data_error)?;
    let payload = Payload { msg: data, aad };
    let result = match key.len() {
        16 => {
            let cipher = aes_gcm::Aes128Gcm::new_from_slice(key).map_err(data_error)?;
            if encrypt {
                cipher.encrypt(&nonce, payload)
            } else {
                cipher.decrypt(&nonce, payload)
            }
        }
        32 => {
            let cipher = aes_gcm::Aes256Gcm::new_from_slice(key).map_err(data_error)?;
            if encrypt {
                cipher.encrypt(&nonce, payload)
            } else {
                cipher.decrypt(&nonce, payload)
            }
        }
        n => {
            return Err(data_error(format!(
                "AES keys must be 128 or 256 bits, not {}",
                n * 8
            )));
        }
    };
    result.map_err(|_| {
        operation_error(if encrypt {
            "encryption failed"
        } else {
            "decryption failed: the data or its tag is not authentic"
        })
    })
}

// ---- ECDSA on P-256 ------------------------------------------------------

/// An EC or RSA key pair as DER: PKCS#8 for the private half (if any),
/// SPKI for the public one.
pub struct KeyDer {
    /// PKCS#8, for a private key.
    pub private: Option<Vec<u8>>,
    /// SubjectPublicKeyInfo.
    pub public: Vec<u8>,
}

fn p256_pair(
    secret: Option<p256::SecretKey>,
    public: p256::PublicKey,
) -> Result<KeyDer, CryptoError> {
    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey};
    let private = match secret {
        Some(secret) => Some(
            secret
                .to_pkcs8_der()
                .map_err(data_error)?
                .as_bytes()
                .to_vec(),
        ),
        None => None,
    };
    let public = public
        .to_public_key_der()
        .map_err(data_error)?
        .as_bytes()
        .to_vec();
    Ok(KeyDer { private, public })
}

/// A P-256 key from JWK coordinates (and `d` for a private key).
pub fn ec_from_jwk(d: Option<&[u8]>, x: &[u8], y: &[u8]) -> Result<KeyDer, CryptoError> {
    if x.len() != 32 || y.len() != 32 {
        return Err(data_error("P-256 coordinates are 32 bytes each"));
    }
    let mut point = vec![4u8];
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    let public = p256::PublicKey::from_sec1_bytes(&point)
        .map_err(|_| data_error("the point is not on P-256"))?;
    let secret = match d {
        Some(d) => {
            let secret = p256::SecretKey::from_slice(d)
                .map_err(|_| data_error("invalid P-256 private scalar"))?;
            if secret.public_key() != public {
                return Err(data_error("d does not match x and y"));
            }
            Some(secret)
        }
        None => None,
    };
    p256_pair(secret, public)
}

/// A P-256 public key from its uncompressed point (`raw` format).
pub fn ec_from_raw(point: &[u8]) -> Result<KeyDer, CryptoError> {
    let public =
        p256::PublicKey::from_sec1_bytes(point).map_err(|_| data_error("not a P-256 point"))?;
    p256_pair(None, public)
}

/// A P-256 key from SPKI or PKCS#8 DER.
pub fn ec_from_der(private: bool, der: &[u8]) -> Result<KeyDer, CryptoError> {
    use p256::pkcs8::{DecodePrivateKey, DecodePublicKey};
    if private {
        let secret = p256::SecretKey::from_pkcs8_der(der)
            .map_err(|_| data_error("not a P-256 PKCS#8 key"))?;
        let public = secret.public_key();
        p256_pair(Some(secret), public)
    } else {
        let public = p256::PublicKey::from_public_key_der(der)
            .map_err(|_| data_error("not a P-256 SPKI key"))?;
        p256_pair(None, public)
    }
}

/// A new P-256 key pair.
pub fn ec_generate() -> Result<KeyDer, CryptoError> {
    let mut scalar = [0u8; 32];
    loop {
        random_fill(&mut scalar);
        if let Ok(secret) = p256::SecretKey::from_slice(&scalar) {
            let public = secret.public_key();
            return p256_pair(Some(secret), public);
        }
    }
}

/// The JWK coordinates of a P-256 key.
pub struct EcJwk {
    /// The x coordinate.
    pub x: Vec<u8>,
    /// The y coordinate.
    pub y: Vec<u8>,
    /// The private scalar, for a private key.
    pub d: Option<Vec<u8>>,
}

/// The JWK parts of a P-256 key.
pub fn ec_to_jwk(key: &KeyDer) -> Result<EcJwk, CryptoError> {
    use p256::pkcs8::{DecodePrivateKey, DecodePublicKey};
    let public = p256::PublicKey::from_public_key_der(&key.public).map_err(data_error)?;
    let point = ec_point(&public);
    let d = match &key.private {
        Some(der) => Some(
            p256::SecretKey::from_pkcs8_der(der)
                .map_err(data_error)?
                .to_bytes()
                .to_vec(),
        ),
        None => None,
    };
    Ok(EcJwk {
        x: point[1..33].to_vec(),
        y: point[33..65].to_vec(),
        d,
    })
}

/// The uncompressed point of a P-256 public key in SPKI DER.
pub fn ec_to_raw(spki: &[u8]) -> Result<Vec<u8>, CryptoError> {
    use p256::pkcs8::DecodePublicKey;
    let public = p256::PublicKey::from_public_key_der(spki).map_err(data_error)?;
    Ok(ec_point(&public))
}

fn ec_point(public: &p256::PublicKey) -> Vec<u8> {
    use p256::elliptic_curve::sec1::ToSec1Point;
    public.to_sec1_point(false).as_bytes().to_vec()
}

/// An ECDSA P-256 signature (IEEE P1363: r ‖ s) over `data` hashed with
/// `hash`.
pub fn ecdsa_sign(hash: &str, pkcs8: &[u8], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    use p256::pkcs8::DecodePrivateKey;
    let key = p256::ecdsa::SigningKey::from_pkcs8_der(pkcs8).map_err(data_error)?;
    let digest = digest(hash, data)?;
    let signature: p256::ecdsa::Signature = key.sign_prehash(&digest).map_err(operation_error)?;
    Ok(signature.to_bytes().to_vec())
}

/// Whether `signature` is an ECDSA P-256 signature of `data`.
pub fn ecdsa_verify(
    hash: &str,
    spki: &[u8],
    data: &[u8],
    signature: &[u8],
) -> Result<bool, CryptoError> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    use p256::pkcs8::DecodePublicKey;
    let key = p256::ecdsa::VerifyingKey::from_public_key_der(spki).map_err(data_error)?;
    let Ok(signature) = p256::ecdsa::Signature::from_slice(signature) else {
        return Ok(false);
    };
    let digest = digest(hash, data)?;
    Ok(key.verify_prehash(&digest, &signature).is_ok())
}

// ---- RSASSA-PKCS1-v1_5 ---------------------------------------------------

fn rsa_pair(
    private: Option<rsa::PrivateKey>,
    public: rsa::PublicKey,
) -> Result<KeyDer, CryptoError> {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
    let private = match private {
        Some(key) => Some(key.to_pkcs8_der().map_err(data_error)?.as_bytes().to_vec()),
        None => None,
    };
    let public = public
        .to_public_key_der()
        .map_err(data_error)?
        .as_bytes()
        .to_vec();
    Ok(KeyDer { private, public })
}

/// An RSA key from JWK parts (`d`, `p`, `q` for a private key).
pub fn rsa_from_jwk(
    n: &[u8],
    e: &[u8],
    private: Option<(&[u8], &[u8], &[u8])>,
) -> Result<KeyDer, CryptoError> {
    let uint = rsa::BoxedUint::from_be_slice_vartime;
    let public = rsa::PublicKey::new(uint(n), uint(e)).map_err(data_error)?;
    let private = match private {
        Some((d, p, q)) => Some(
            rsa::PrivateKey::from_components(uint(n), uint(e), uint(d), vec![uint(p), uint(q)])
                .map_err(data_error)?,
        ),
        None => None,
    };
    rsa_pair(private, public)
}

/// An RSA key from SPKI or PKCS#8 DER.
pub fn rsa_from_der(private: bool, der: &[u8]) -> Result<KeyDer, CryptoError> {
    use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
    if private {
        let key = rsa::PrivateKey::from_pkcs8_der(der)
            .map_err(|_| data_error("not an RSA PKCS#8 key"))?;
        let public = key.to_public_key();
        rsa_pair(Some(key), public)
    } else {
        let public = rsa::PublicKey::from_public_key_der(der)
            .map_err(|_| data_error("not an RSA SPKI key"))?;
        rsa_pair(None, public)
    }
}

/// The public JWK parts (`n`, `e`) and the modulus length in bits.
pub fn rsa_public_parts(spki: &[u8]) -> Result<(Vec<u8>, Vec<u8>, u32), CryptoError> {
    use rsa::pkcs8::DecodePublicKey;
    use rsa::traits::PublicKeyParts;
    let key = rsa::PublicKey::from_public_key_der(spki).map_err(data_error)?;
    let n = key.n().as_ref().to_be_bytes_trimmed_vartime().to_vec();
    let e = key.e().to_be_bytes_trimmed_vartime().to_vec();
    let bits = (n.len() * 8) as u32 - n.first().map_or(0, |b| b.leading_zeros());
    Ok((n, e, bits))
}

macro_rules! with_rsa_hash {
    ($hash:expr, $d:ident => $body:expr) => {
        match $hash {
            "SHA-256" => {
                type $d = sha2::Sha256;
                $body
            }
            "SHA-384" => {
                type $d = sha2::Sha384;
                $body
            }
            "SHA-512" => {
                type $d = sha2::Sha512;
                $body
            }
            other => return Err(UnknownHash(other.to_string()).into()),
        }
    };
}

/// An RSASSA-PKCS1-v1_5 signature of `data`.
pub fn rsa_sign(hash: &str, pkcs8: &[u8], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::signature::{SignatureEncoding, Signer};
    let key = rsa::PrivateKey::from_pkcs8_der(pkcs8).map_err(data_error)?;
    with_rsa_hash!(hash, D => {
        let signer = rsa::pkcs1v15::SigningKey::<D>::new(key);
        let signature = signer.try_sign(data).map_err(operation_error)?;
        Ok(signature.to_vec())
    })
}

/// Whether `signature` is an RSASSA-PKCS1-v1_5 signature of `data`.
pub fn rsa_verify(
    hash: &str,
    spki: &[u8],
    data: &[u8],
    signature: &[u8],
) -> Result<bool, CryptoError> {
    use rsa::pkcs8::DecodePublicKey;
    use rsa::signature::Verifier;
    let key = rsa::PublicKey::from_public_key_der(spki).map_err(data_error)?;
    let Ok(signature) = rsa::pkcs1v15::Signature::try_from(signature) else {
        return Ok(false);
    };
    with_rsa_hash!(hash, D => {
        let verifier = rsa::pkcs1v15::VerifyingKey::<D>::new(key);
        Ok(verifier.verify(data, &signature).is_ok())
    })
}
