//! The API keys of `--api-key-file`: read once at start, kept as SHA-256 digests, and
//! compared in constant time (`subtle`), so neither memory dumps of the running relay nor the
//! time an answer takes give a key away.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The shortest key accepted. Why 32: keys are made by machines for machines
/// (`openssl rand -hex 32` gives 64 characters); 32 characters of hex are 128 bits, beyond
/// guessing, and a short key is more likely a mistake (a placeholder, a truncated paste).
pub const MIN_KEY_LEN: usize = 32;

/// The most keys a file may hold: enough to rotate keys per backend service, few enough
/// that checking every key on each request stays negligible.
pub const MAX_KEYS: usize = 64;

/// Why the key file cannot be used; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("cannot read the API key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the API key file {path} holds no key (one per line; '#' starts a comment)")]
    Empty { path: PathBuf },
    #[error(
        "the API key on line {line} of {path} is {len} characters; keys must be at least \
         {MIN_KEY_LEN} (make one with: openssl rand -hex 32)"
    )]
    TooShort {
        path: PathBuf,
        line: usize,
        len: usize,
    },
    #[error("the API key on line {line} of {path} holds a space or a control character")]
    BadCharacter { path: PathBuf, line: usize },
    #[error("the API key file {path} holds more than {MAX_KEYS} keys")]
    TooMany { path: PathBuf },
}

/// The accepted keys, as digests.
#[derive(Debug)]
pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
}

impl ApiKeys {
    /// Reads the keys of `path`.
    pub fn load(path: &Path) -> Result<ApiKeys, KeysError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeysError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// The keys in `text`, the contents of `path`.
    pub fn parse(text: &str, path: &Path) -> Result<ApiKeys, KeysError> {
        let mut digests = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let key = line.trim();
            if key.is_empty() || key.starts_with('#') {
                continue;
            }
            let line = index + 1;
            if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(KeysError::BadCharacter {
                    path: path.to_owned(),
                    line,
                });
            }
            if key.len() < MIN_KEY_LEN {
                return Err(KeysError::TooShort {
                    path: path.to_owned(),
                    line,
                    len: key.len(),
                });
            }
            if digests.len() == MAX_KEYS {
                return Err(KeysError::TooMany {
                    path: path.to_owned(),
                });
            }
            digests.push(digest(key));
        }
        if digests.is_empty() {
            return Err(KeysError::Empty {
                path: path.to_owned(),
            });
        }
        Ok(ApiKeys { digests })
    }

    /// Whether `key` is one of the keys; every key is compared, in constant time.
    pub fn accepts(&self, key: &str) -> bool {
        let presented = digest(key);
        self.digests
            .iter()
            .fold(subtle::Choice::from(0), |found, d| {
                found | d.ct_eq(&presented)
            })
            .into()
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef0123456789abcdef";
    const B: &str = "fedcba9876543210fedcba9876543210-b";

    fn parse(text: &str) -> Result<ApiKeys, KeysError> {
        ApiKeys::parse(text, Path::new("keys.txt"))
    }

    #[test]
    fn every_listed_key_is_accepted_and_nothing_else() {
        let keys = parse(&format!("# backend\n{A}\n\n  {B}  \n")).unwrap();
        assert!(keys.accepts(A));
        assert!(keys.accepts(B));
        assert!(!keys.accepts(""));
        assert!(!keys.accepts(&A[..31]));
        assert!(!keys.accepts(&format!("{A}x")));
        assert!(!keys.accepts("# backend"));
    }

    #[test]
    fn bad_files_are_refused_naming_file_and_line() {
        let short = parse(&format!("{A}\nshort\n")).unwrap_err().to_string();
        assert!(short.contains("line 2 of keys.txt"), "{short}");
        assert!(short.contains("5 characters"), "{short}");
        let empty = parse("# nothing\n\n").unwrap_err().to_string();
        assert!(empty.contains("holds no key"), "{empty}");
        let spaced = parse(&format!("{A} {B}\n")).unwrap_err().to_string();
        assert!(spaced.contains("line 1"), "{spaced}");
        let many = format!("{A}\n").repeat(MAX_KEYS + 1);
        assert!(matches!(parse(&many), Err(KeysError::TooMany { .. })));
        let missing = ApiKeys::load(Path::new("/nonexistent/keys")).unwrap_err();
        assert!(missing.to_string().contains("/nonexistent/keys"));
    }
}
