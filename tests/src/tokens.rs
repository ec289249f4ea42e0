//! Token mode for the end-to-end tests: a relay started with `--auth jwt` and an HMAC secret
//! of its own, and tokens minted for it by `chitchat-relay token`, the way an operator's
//! scripts would.

use std::path::{Path, PathBuf};

use crate::child::{command, relay_bin};
use crate::relay::RelayProcess;

/// A relay in token mode and the secret its tokens are signed with.
pub struct TokenRelay {
    /// The relay process.
    pub relay: RelayProcess,
    secret: PathBuf,
    _dir: tempfile::TempDir,
}

impl TokenRelay {
    /// Starts a relay with `--auth jwt --auth-hmac-secret-file` (a fresh 32-byte secret)
    /// and `args`.
    pub fn start(args: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("chitchat-secret-")
            .tempdir()
            .expect("a temporary directory");
        let secret = dir.path().join("hmac-secret");
        // 32 random bytes, hex: every relay its own secret.
        let mut random = [0u8; 32];
        std::io::Read::read_exact(
            &mut std::fs::File::open("/dev/urandom").expect("opening /dev/urandom"),
            &mut random,
        )
        .expect("reading /dev/urandom");
        let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(&secret, hex).expect("writing the secret");
        let secret_arg = secret.to_string_lossy().into_owned();
        let mut all = vec!["--auth", "jwt", "--auth-hmac-secret-file", &secret_arg];
        all.extend_from_slice(args);
        TokenRelay {
            relay: RelayProcess::start(&all),
            secret,
            _dir: dir,
        }
    }

    /// The secret file (the relay's `--auth-hmac-secret-file`).
    pub fn secret_file(&self) -> &Path {
        &self.secret
    }

    /// The `chitchat-relay token` arguments for `sub` with `rooms` grants
    /// (`PATTERN=ACCESS`) valid for `ttl` (`30s`, `8h`).
    fn token_args(&self, sub: &str, rooms: &[&str], ttl: &str) -> Vec<String> {
        let mut args = vec!["token".to_owned(), "--sub".into(), sub.into()];
        for grant in rooms {
            args.extend(["--rooms".to_owned(), (*grant).to_owned()]);
        }
        args.extend([
            "--ttl".to_owned(),
            ttl.to_owned(),
            "--auth-hmac-secret-file".into(),
            self.secret.to_string_lossy().into_owned(),
        ]);
        args
    }

    /// A token minted by `chitchat-relay token`; panics with its stderr if that fails.
    pub fn mint(&self, sub: &str, rooms: &[&str], ttl: &str) -> String {
        let out = command(relay_bin())
            .args(self.token_args(sub, rooms, ttl))
            .output()
            .expect("running chitchat-relay token");
        assert!(
            out.status.success(),
            "chitchat-relay token failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("a token is text")
            .trim()
            .to_owned()
    }

    /// A shell command that prints a fresh token each time it runs (for `--token-command`).
    pub fn mint_command(&self, sub: &str, rooms: &[&str], ttl: &str) -> String {
        let mut words = vec![shell_quote(&relay_bin().to_string_lossy())];
        words.extend(
            self.token_args(sub, rooms, ttl)
                .iter()
                .map(|a| shell_quote(a)),
        );
        words.join(" ")
    }
}

/// `text` in single quotes for `sh`.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// When a token expires (ms since the Unix epoch), read from its payload.
pub fn token_expiry_ms(token: &str) -> u64 {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("the payload is base64url");
    let claims: serde_json::Value = serde_json::from_slice(&json).expect("the payload is JSON");
    claims["exp"].as_u64().expect("an exp claim") * 1000
}
