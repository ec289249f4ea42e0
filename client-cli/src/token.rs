//! Where a client's sign-in token comes from in token mode (`--auth jwt` relays), and how a
//! fresh one is had when the relay says the current one is about to expire.
//!
//! A token is given as it is (`--token`, `CHITCHAT_TOKEN`), read from a file
//! (`--token-file`, read again for each refresh) or printed by a command (`--token-command`,
//! run again through the shell for each refresh). Whatever the source, what it yields is
//! checked the same way before it goes into `Hello.token` or `Refresh.token`: not empty, at
//! most [`MAX_TOKEN_LEN`] bytes, printable ASCII (a JWT is three base64url parts).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use chitchat_protocol::MAX_TOKEN_LEN;
use tokio::io::AsyncReadExt;

use crate::output::clock;

/// How long `--token-command` may run. A command that asks an identity provider over the
/// network answers within seconds; one still running after this is stuck, and the session
/// must say so rather than wait for ever while its token runs out.
pub const TOKEN_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// The most a token file or a token command's output may hold before it is refused unread:
/// a token is at most [`MAX_TOKEN_LEN`] bytes, and a little room is left for white space
/// around it, so a wrong file (a log, a binary) is not read whole into memory.
const MAX_SOURCE_BYTES: u64 = MAX_TOKEN_LEN as u64 + 1024;

/// How much of a failing token command's stderr is kept: enough for its error message.
const STDERR_BYTES: u64 = 4096;

/// How much of that is shown: a line or two.
const STDERR_SHOWN: usize = 400;

/// Where the session's token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// Given on the command line (`--token`) or in the environment (`CHITCHAT_TOKEN`):
    /// cannot be refreshed.
    Fixed {
        /// The token, checked.
        token: String,
        /// Which flag or variable gave it, for messages (`--token`, `CHITCHAT_TOKEN`).
        origin: &'static str,
    },
    /// Read from a file, again at each refresh.
    File(PathBuf),
    /// Printed on stdout by a shell command, run again at each refresh.
    Command(String),
}

/// Why no token could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token itself breaks the rules (empty, too long, not printable ASCII).
    #[error("the token from {origin} {problem}")]
    Invalid { origin: String, problem: String },
    /// The token file could not be read.
    #[error("cannot read the token file {}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    /// The token command failed, timed out or could not be started.
    #[error("the token command `{command}` {reason}")]
    Command { command: String, reason: String },
    /// The token expired and this source cannot give a fresh one; says what to do.
    #[error("{0}")]
    Expired(String),
}

impl TokenSource {
    /// The source named by the flags; at most one of them may be given (clap checks that),
    /// `--token`/`CHITCHAT_TOKEN` checked at once.
    pub fn from_flags(
        token: Option<&str>,
        token_from_env: bool,
        file: Option<PathBuf>,
        command: Option<String>,
    ) -> Result<Option<Self>, TokenError> {
        if let Some(token) = token {
            let origin = if token_from_env {
                "CHITCHAT_TOKEN"
            } else {
                "--token"
            };
            let token = check(token, origin)?;
            return Ok(Some(TokenSource::Fixed { token, origin }));
        }
        Ok(file
            .map(TokenSource::File)
            .or(command.map(TokenSource::Command)))
    }

    /// Whether a fresh token can be had from this source (a file or a command).
    pub fn refreshable(&self) -> bool {
        !matches!(self, TokenSource::Fixed { .. })
    }

    /// The token: as given, read from the file, or printed by the command (within
    /// [`TOKEN_COMMAND_TIMEOUT`]), checked.
    pub async fn fetch(&self) -> Result<String, TokenError> {
        match self {
            TokenSource::Fixed { token, .. } => Ok(token.clone()),
            TokenSource::File(path) => {
                let file_error = |reason: String| TokenError::File {
                    path: path.clone(),
                    reason,
                };
                let file = tokio::fs::File::open(path)
                    .await
                    .map_err(|e| file_error(e.to_string()))?;
                let mut bytes = Vec::new();
                file.take(MAX_SOURCE_BYTES + 1)
                    .read_to_end(&mut bytes)
                    .await
                    .map_err(|e| file_error(e.to_string()))?;
                check_bytes(&bytes, &format!("the file {}", path.display()))
            }
            TokenSource::Command(command) => run_command(command).await,
        }
    }

    /// What the user should do to give a fresh token, for error messages.
    pub fn advice(&self) -> String {
        match self {
            TokenSource::Fixed { origin, .. } => format!("run with a fresh {origin}"),
            TokenSource::File(path) => format!("put a fresh token in {}", path.display()),
            TokenSource::Command(command) => {
                format!("check that `{command}` prints a valid token")
            }
        }
    }
}

/// When `token` expires (ms since the Unix epoch), if it is a JWT with an `exp` claim. Read
/// without checking the signature: only the relay can judge a token; the client uses this to
/// say when its token ran out, and to get a fresh one before reconnecting.
pub fn expiry_ms(token: &str) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Exp {
        exp: Option<u64>,
    }
    let header = jsonwebtoken::decode_header(token).ok()?;
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.insecure_disable_signature_validation();
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let key = jsonwebtoken::DecodingKey::from_secret(&[]);
    let claims = jsonwebtoken::decode::<Exp>(token, &key, &validation)
        .ok()?
        .claims;
    claims.exp.map(|exp| exp.saturating_mul(1000))
}

/// The wall clock, ms since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The token, unless it has visibly expired: then an error that says when, and what to
/// do. The relay judges the rest.
pub fn unexpired(token: String, source: &TokenSource) -> Result<String, TokenError> {
    match expiry_ms(&token) {
        Some(at) if at <= now_ms() => Err(TokenError::Expired(expired_at(Some(at), source))),
        _ => Ok(token),
    }
}

/// `"token expired at 14:02:10 UTC; run with a fresh --token"`, or without the time when
/// the token does not say.
pub fn expired_message(token: Option<&str>, source: &TokenSource) -> String {
    expired_at(token.and_then(expiry_ms), source)
}

/// [`expired_message`] for an expiry known otherwise (e.g. from the relay's warning).
pub fn expired_at(at_ms: Option<u64>, source: &TokenSource) -> String {
    match at_ms {
        Some(at) => format!("token expired at {} UTC; {}", clock(at), source.advice()),
        None => format!("token expired; {}", source.advice()),
    }
}

fn check(token: &str, origin: &str) -> Result<String, TokenError> {
    let invalid = |problem: String| TokenError::Invalid {
        origin: origin.to_owned(),
        problem,
    };
    let token = token.trim();
    if token.is_empty() {
        return Err(invalid("is empty".into()));
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(invalid(format!(
            "is {} bytes; the most a relay takes is {MAX_TOKEN_LEN}",
            token.len()
        )));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(
            "holds characters no token has (spaces, control or non-ASCII characters)".into(),
        ));
    }
    Ok(token.to_owned())
}

fn check_bytes(bytes: &[u8], origin: &str) -> Result<String, TokenError> {
    if bytes.len() as u64 > MAX_SOURCE_BYTES {
        return Err(TokenError::Invalid {
            origin: origin.to_owned(),
            problem: format!(
                "is over {MAX_SOURCE_BYTES} bytes; a token is at most {MAX_TOKEN_LEN}"
            ),
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| TokenError::Invalid {
        origin: origin.to_owned(),
        problem: "is not text".into(),
    })?;
    check(text, origin)
}

/// Runs `command` through `sh -c`, stdout piped (bounded), stderr kept for the error
/// message, killed if it outlives [`TOKEN_COMMAND_TIMEOUT`].
async fn run_command(command: &str) -> Result<String, TokenError> {
    let failed = |reason: String| TokenError::Command {
        command: command.to_owned(),
        reason,
    };
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed(format!("cannot be started: {e}")))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(failed("has no output pipes".into()));
    };
    // stderr is read aside, so a command that writes too much on stdout is left at once.
    let stderr = tokio::spawn(async move {
        let mut err = Vec::new();
        let _ = stderr.take(STDERR_BYTES).read_to_end(&mut err).await;
        err
    });
    let run = async {
        let mut out = Vec::new();
        let mut stdout = stdout.take(MAX_SOURCE_BYTES + 1);
        stdout
            .read_to_end(&mut out)
            .await
            .map_err(|e| failed(format!("cannot be read: {e}")))?;
        if out.len() as u64 > MAX_SOURCE_BYTES {
            // Do not wait for a command that keeps on writing.
            return Ok((None, out, Vec::new()));
        }
        let status = child
            .wait()
            .await
            .map_err(|e| failed(format!("cannot be waited for: {e}")))?;
        let err = stderr.await.unwrap_or_default();
        Ok((Some(status), out, err))
    };
    let (status, out, err) = tokio::time::timeout(TOKEN_COMMAND_TIMEOUT, run)
        .await
        .map_err(|_| {
            failed(format!(
                "did not finish within {} s",
                TOKEN_COMMAND_TIMEOUT.as_secs()
            ))
        })??;
    if let Some(status) = status
        && !status.success()
    {
        let err = String::from_utf8_lossy(&err);
        let err: String = err.trim().chars().take(STDERR_SHOWN).collect();
        let said = if err.is_empty() {
            String::new()
        } else {
            format!(": {err}")
        };
        return Err(failed(format!("failed ({status}){said}")));
    }
    check_bytes(&out, &format!("`{command}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_is_read_again_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let source = TokenSource::File(path.clone());
        let missing = source.fetch().await.unwrap_err();
        assert!(matches!(missing, TokenError::File { .. }), "{missing}");
        std::fs::write(&path, "  \n").unwrap();
        let empty = source.fetch().await.unwrap_err().to_string();
        assert!(empty.contains("is empty"), "{empty}");
        std::fs::write(&path, "a.b.c\n").unwrap();
        assert_eq!(source.fetch().await.unwrap(), "a.b.c");
        std::fs::write(&path, "x".repeat(MAX_TOKEN_LEN + 1)).unwrap();
        let long = source.fetch().await.unwrap_err().to_string();
        assert!(long.contains("the most a relay takes is 4096"), "{long}");
        std::fs::write(&path, vec![b'x'; 1 << 20]).unwrap();
        let huge = source.fetch().await.unwrap_err().to_string();
        assert!(huge.contains("is over"), "{huge}");
    }

    #[tokio::test]
    async fn a_command_is_run_and_its_failures_said() {
        let ok = TokenSource::Command("echo a.b.c".into());
        assert_eq!(ok.fetch().await.unwrap(), "a.b.c");
        let failing = TokenSource::Command("echo no way >&2; exit 3".into());
        let e = failing.fetch().await.unwrap_err().to_string();
        assert!(e.contains("failed (exit status: 3): no way"), "{e}");
        let empty = TokenSource::Command("true".into());
        let e = empty.fetch().await.unwrap_err().to_string();
        assert!(e.contains("is empty"), "{e}");
        let spaced = TokenSource::Command("echo two words".into());
        let e = spaced.fetch().await.unwrap_err().to_string();
        assert!(e.contains("characters no token has"), "{e}");
        let endless = TokenSource::Command("yes".into());
        let e = endless.fetch().await.unwrap_err().to_string();
        assert!(e.contains("is over"), "{e}");
    }

    #[test]
    fn flags_are_checked_and_expiry_read() {
        let fixed = TokenSource::from_flags(Some(" t.o.k \n"), true, None, None).unwrap();
        assert_eq!(
            fixed,
            Some(TokenSource::Fixed {
                token: "t.o.k".into(),
                origin: "CHITCHAT_TOKEN"
            })
        );
        let e = TokenSource::from_flags(Some(""), false, None, None).unwrap_err();
        assert_eq!(e.to_string(), "the token from --token is empty");
        // {"alg":"HS256"} . {"sub":"a","exp":1700000000} . (no signature needed to read it)
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIiwiZXhwIjoxNzAwMDAwMDAwfQ.c2ln";
        assert_eq!(expiry_ms(token), Some(1_700_000_000_000));
        assert_eq!(expiry_ms("not-a-jwt"), None);
        let source = TokenSource::Fixed {
            token: token.into(),
            origin: "--token",
        };
        assert_eq!(
            expired_message(Some(token), &source),
            "token expired at 22:13:20 UTC; run with a fresh --token"
        );
    }
}
