//! Guest secrets (open mode): the secret a nick is claimed with on the relays, sent as
//! `Hello.token`. One per nick, made on first use (32 random bytes, base64url) and kept in
//! a file only the user can read: `<config dir>/chitchat/guest/<nick>.secret` (on Linux
//! `$XDG_CONFIG_HOME` or `~/.config`), or one file named by `--guest-secret-file` for every
//! nick. Copying the secret to another device lets the same person use the nick there.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chitchat_protocol::validate_guest_secret;

use crate::ClientError;

/// Random bytes in a new secret: 256 bits, beyond guessing.
const SECRET_BYTES: usize = 32;

/// Where guest secrets are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestSecrets {
    /// One file per nick in this directory, `<nick>.secret`.
    Dir(PathBuf),
    /// This one file, whatever the nick.
    File(PathBuf),
}

impl GuestSecrets {
    /// `file` if given, else the user's config directory's `chitchat/guest`.
    pub fn new(file: Option<PathBuf>) -> Result<GuestSecrets, ClientError> {
        if let Some(file) = file {
            return Ok(GuestSecrets::File(file));
        }
        match dirs::config_dir() {
            Some(dir) => Ok(GuestSecrets::Dir(dir.join("chitchat").join("guest"))),
            None => Err(ClientError::GuestSecret {
                path: PathBuf::from("(config directory)"),
                reason: "this system has no config directory for the user (is $HOME set?); \
                         name a file with --guest-secret-file"
                    .into(),
            }),
        }
    }

    /// The file holding `nick`'s secret. The suffix keeps nicks such as `..` from naming
    /// anything but a file in the directory.
    pub fn path(&self, nick: &str) -> PathBuf {
        match self {
            GuestSecrets::Dir(dir) => dir.join(format!("{nick}.secret")),
            GuestSecrets::File(file) => file.clone(),
        }
    }

    /// `nick`'s secret, made and saved first if it has none yet.
    pub fn secret(&self, nick: &str) -> Result<String, ClientError> {
        let path = self.path(nick);
        match read(&path)? {
            Some(secret) => Ok(secret),
            None => {
                let secret = new_secret();
                match write_new(&path, &secret) {
                    Ok(()) => Ok(secret),
                    // Another process made it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        read(&path)?.ok_or_else(|| failed(&path, "it vanished".into()))
                    }
                    Err(e) => Err(failed(&path, format!("cannot create it: {e}"))),
                }
            }
        }
    }

    /// Saves `secret` (copied from another device) as `nick`'s. A different secret already
    /// saved is replaced only with `replace`: the nick's claim may depend on it.
    pub fn import(&self, nick: &str, secret: &str, replace: bool) -> Result<PathBuf, ClientError> {
        let path = self.path(nick);
        let secret = secret.trim();
        validate_guest_secret(secret).map_err(|e| failed(&path, e.message))?;
        match read(&path)? {
            Some(known) if known == secret => return Ok(path),
            Some(_) if !replace => {
                return Err(failed(
                    &path,
                    "it already holds another secret for this nick; add --replace to \
                     overwrite it (the nick's claim may be held by the old one)"
                        .into(),
                ));
            }
            Some(_) => std::fs::remove_file(&path)
                .map_err(|e| failed(&path, format!("cannot replace it: {e}")))?,
            None => {}
        }
        write_new(&path, secret).map_err(|e| failed(&path, format!("cannot write it: {e}")))?;
        Ok(path)
    }
}

fn failed(path: &Path, reason: String) -> ClientError {
    ClientError::GuestSecret {
        path: path.to_path_buf(),
        reason,
    }
}

/// The secret in `path`, `None` if there is no such file; a file that does not hold a valid
/// secret is an error (sending it would only be refused).
fn read(path: &Path) -> Result<Option<String>, ClientError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let secret = text.trim();
            validate_guest_secret(secret).map_err(|e| {
                failed(
                    path,
                    format!("it does not hold a guest secret: {}", e.message),
                )
            })?;
            Ok(Some(secret.to_owned()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(failed(path, format!("cannot read it: {e}"))),
    }
}

/// Creates `path` (and its directory, readable by the user alone) holding `secret`; fails
/// with `AlreadyExists` if it exists. The file is the user's alone from the start (mode
/// 0600 on Unix) and appears whole: it is written under a temporary name and linked into
/// place, so a process racing to make the same nick's secret reads this one or its own.
fn write_new(path: &Path, secret: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
    }
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{:016x}.tmp", rand::random::<u64>()));
    let temp = PathBuf::from(name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temp).and_then(|mut file| {
        file.write_all(format!("{secret}\n").as_bytes())?;
        file.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&temp, path));
    let _ = std::fs::remove_file(&temp);
    linked
}

/// A fresh guest secret as this client makes them: 32 random bytes, base64url (43
/// characters).
pub fn new_secret() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; SECRET_BYTES]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_made_once_kept_private_and_imported_with_care() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = GuestSecrets::Dir(dir.path().join("guest"));
        let first = secrets.secret("ada").unwrap();
        assert_eq!(first.len(), 43, "32 bytes in base64url without padding");
        assert_eq!(
            secrets.secret("ada").unwrap(),
            first,
            "kept, not made again"
        );
        assert_ne!(secrets.secret("bob").unwrap(), first, "one per nick");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(secrets.path("ada"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(secrets.path(".."), dir.path().join("guest/...secret"));

        let other = "b".repeat(43);
        let refused = secrets.import("ada", &other, false).unwrap_err();
        assert!(refused.to_string().contains("--replace"), "{refused}");
        assert_eq!(secrets.secret("ada").unwrap(), first, "nothing replaced");
        secrets.import("ada", &format!("{other}\n"), true).unwrap();
        assert_eq!(secrets.secret("ada").unwrap(), other);
        assert!(secrets.import("ada", "short", true).is_err());

        std::fs::write(secrets.path("eve"), "not a secret\n").unwrap();
        let bad = secrets.secret("eve").unwrap_err();
        assert!(
            bad.to_string().contains("does not hold a guest secret"),
            "{bad}"
        );
    }
}
