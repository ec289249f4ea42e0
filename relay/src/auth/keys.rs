//! The keys tokens are verified with: the HMAC secret file (HS256) and the public keys file
//! (one PEM public key, or a JWKS whose keys are chosen by `kid`; ES256, RS256 or EdDSA).

use std::collections::HashMap;
use std::path::Path;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};

/// The shortest HMAC secret, in bytes. Why 32: HS256's key is as strong as SHA-256 only
/// with at least 256 bits of secret; a shorter one can be guessed offline from one token.
pub const MIN_HMAC_SECRET_LEN: usize = 32;

/// The largest keys file read. Why 1 MiB: a JWKS of a few dozen RSA keys is tens of KiB.
const MAX_KEYS_FILE: u64 = 1 << 20;

/// A key file that cannot be used, said so at start-up.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

fn invalid(path: &Path, message: impl Into<String>) -> KeyError {
    KeyError::Invalid {
        path: path.display().to_string(),
        message: message.into(),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, KeyError> {
    let read_err = |source| KeyError::Read {
        path: path.display().to_string(),
        source,
    };
    let len = std::fs::metadata(path).map_err(read_err)?.len();
    if len > MAX_KEYS_FILE {
        return Err(invalid(
            path,
            format!("{len} bytes; the most is {MAX_KEYS_FILE}"),
        ));
    }
    std::fs::read(path).map_err(read_err)
}

/// The HMAC secret: the file's bytes without surrounding whitespace, at least
/// [`MIN_HMAC_SECRET_LEN`] of them.
pub fn read_hmac_secret(path: &Path) -> Result<Vec<u8>, KeyError> {
    let bytes = read(path)?;
    let secret = bytes.trim_ascii().to_vec();
    if secret.len() < MIN_HMAC_SECRET_LEN {
        return Err(invalid(
            path,
            format!(
                "the HMAC secret is {} bytes; use at least {MIN_HMAC_SECRET_LEN} random bytes \
                 (e.g. `openssl rand -base64 48 > {}`)",
                secret.len(),
                path.display()
            ),
        ));
    }
    Ok(secret)
}

/// A public key and the one algorithm it verifies.
pub struct PublicKey {
    pub key: DecodingKey,
    pub alg: Algorithm,
}

/// The public keys: by `kid` (JWKS), or one key for tokens without a `kid` (PEM).
#[derive(Default)]
pub struct PublicKeys {
    pub by_kid: HashMap<String, PublicKey>,
    pub unnamed: Option<PublicKey>,
}

impl PublicKeys {
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_kid.is_empty() && self.unnamed.is_none()
    }
}

/// Reads a PEM public key (`-----BEGIN PUBLIC KEY-----`: EC P-256, RSA or Ed25519) or a JWKS
/// (`{"keys": [...]}`, each key with a `kid`).
pub fn read_public_keys(path: &Path) -> Result<PublicKeys, KeyError> {
    let bytes = read(path)?;
    let text = bytes.trim_ascii();
    if text.starts_with(b"-----BEGIN") {
        let key = pem_key(text).ok_or_else(|| {
            invalid(
                path,
                "not an EC P-256, RSA or Ed25519 public key in PEM (-----BEGIN PUBLIC KEY-----)",
            )
        })?;
        return Ok(PublicKeys {
            by_kid: HashMap::new(),
            unnamed: Some(key),
        });
    }
    let set: JwkSet = serde_json::from_slice(text).map_err(|e| {
        invalid(
            path,
            format!("neither a PEM public key nor a JWKS ({{\"keys\": [...]}}): {e}"),
        )
    })?;
    let mut keys = PublicKeys::default();
    for jwk in &set.keys {
        let kid = jwk
            .common
            .key_id
            .clone()
            .ok_or_else(|| invalid(path, "every JWKS key needs a \"kid\""))?;
        let key = jwk_key(jwk).map_err(|e| invalid(path, format!("key {kid:?}: {e}")))?;
        if keys.by_kid.insert(kid.clone(), key).is_some() {
            return Err(invalid(path, format!("kid {kid:?} appears twice")));
        }
    }
    if keys.is_empty() {
        return Err(invalid(path, "the JWKS has no keys"));
    }
    Ok(keys)
}

fn pem_key(pem: &[u8]) -> Option<PublicKey> {
    if let Ok(key) = DecodingKey::from_ec_pem(pem) {
        return Some(PublicKey {
            key,
            alg: Algorithm::ES256,
        });
    }
    if let Ok(key) = DecodingKey::from_ed_pem(pem) {
        return Some(PublicKey {
            key,
            alg: Algorithm::EdDSA,
        });
    }
    DecodingKey::from_rsa_pem(pem).ok().map(|key| PublicKey {
        key,
        alg: Algorithm::RS256,
    })
}

fn jwk_key(jwk: &Jwk) -> Result<PublicKey, String> {
    let by_type = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        AlgorithmParameters::OctetKey(_) => {
            return Err("a symmetric key: put HMAC secrets in --auth-hmac-secret-file".into());
        }
        _ => return Err("only EC P-256, RSA and Ed25519 keys are supported".into()),
    };
    let declared = match jwk.common.key_algorithm {
        None => by_type,
        Some(KeyAlgorithm::ES256) => Algorithm::ES256,
        Some(KeyAlgorithm::RS256) => Algorithm::RS256,
        Some(KeyAlgorithm::EdDSA) => Algorithm::EdDSA,
        Some(other) => return Err(format!("alg {other:?} is not supported")),
    };
    if declared != by_type {
        return Err(format!("alg {declared:?} does not fit the key's type"));
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    Ok(PublicKey { key, alg: declared })
}
