//! The CLI's configuration file: named contexts (as the nats CLI has them), each a relay
//! list, a CA file, a nick and where the sign-in token comes from, and the current one.
//!
//! The file is TOML at `<config dir>/chitchat/config.toml` (on Linux `$XDG_CONFIG_HOME` or
//! `~/.config`), or wherever `CHITCHAT_CONFIG` says:
//!
//! ```toml
//! current = "local"
//!
//! [contexts.local]
//! relays = ["localhost:4433"]
//! ca = "/home/ada/chitchat/certs/ca.pem"
//! nick = "ada"
//! ```
//!
//! Relative paths in it are relative to the file's directory. It is written whole, to a
//! temporary file in the same directory that is then renamed over it, readable by its owner
//! only (it may name a token command). A malformed file is refused with its path and line.
//! [`resolve`] puts flags, variables, the context and the defaults together.

pub mod resolve;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use chitchat_protocol::validate_nick;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::RelayAddr;

/// The variable naming the configuration file instead of the default one.
pub const CONFIG_ENV: &str = "CHITCHAT_CONFIG";

/// The variable naming the context to use instead of the file's current one.
pub const CONTEXT_ENV: &str = "CHITCHAT_CONTEXT";

/// The largest configuration file read: a few contexts take a few hundred bytes, so
/// anything near this is not a configuration file, and is refused unread.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The longest context name: a short label typed on the command line.
const MAX_NAME_LEN: usize = 64;

/// Why the configuration could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// There is no config directory and `CHITCHAT_CONFIG` is not set.
    #[error(
        "this system has no config directory for the user (is $HOME set?); \
         name a configuration file with {CONFIG_ENV}"
    )]
    NoConfigDir,
    /// The file exists but could not be read.
    #[error("cannot read the configuration file {}: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
    /// The file is not valid TOML, or not a valid configuration.
    #[error(
        "{}:{line}:{column}: {message} (fix the configuration file or remove it)",
        path.display()
    )]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// The file could not be written.
    #[error("cannot write the configuration file {}: {reason}", path.display())]
    Write { path: PathBuf, reason: String },
    /// A context was asked for by a name the file does not have.
    #[error("no context named {name:?} in {} (known: {}); add it with: chitchat context add {name} --relay HOST:PORT", path.display(), known_list(known))]
    NoSuchContext {
        name: String,
        path: PathBuf,
        known: Vec<String>,
    },
    /// A context name that breaks the rules.
    #[error("invalid context name {name:?}: {reason}")]
    BadName { name: String, reason: &'static str },
    /// A `CHITCHAT_*` variable holds something unusable.
    #[error("{var}: {reason}")]
    BadVariable { var: &'static str, reason: String },
    /// No CA file was given and none was found where one is looked for.
    #[error(
        "no CA certificate found: looked for {}; pass --ca FILE, or save it in a context: \
         chitchat context add NAME --relay HOST:PORT --ca FILE --use",
        looked.join(", ")
    )]
    NoCa { looked: Vec<String> },
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        "none".to_owned()
    } else {
        known.join(", ")
    }
}

/// One named context: what a command uses when no flag or variable says otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ContextConfig {
    /// Relays to try, in order (`HOST:PORT`, `ws://HOST:PORT`, `wss://HOST:PORT`).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "write_relays",
        deserialize_with = "read_relays"
    )]
    pub relays: Vec<RelayAddr>,
    /// The CA file the relays' certificates are signed by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    /// The nick.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "read_nick"
    )]
    pub nick: Option<String>,
    /// A file holding the sign-in token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// A shell command printing the sign-in token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_command: Option<String>,
}

fn write_relays<S: Serializer>(relays: &[RelayAddr], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(relays.iter().map(ToString::to_string))
}

fn read_relays<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<RelayAddr>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|relay| relay.parse().map_err(serde::de::Error::custom))
        .collect()
}

fn read_nick<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let nick = String::deserialize(d)?;
    validate_nick(&nick).map_err(|e| serde::de::Error::custom(e.message))?;
    Ok(Some(nick))
}

impl ContextConfig {
    /// This context with its relative paths made relative to `base` (the configuration
    /// file's directory).
    pub fn anchored(&self, base: &Path) -> ContextConfig {
        ContextConfig {
            ca: self.ca.as_ref().map(|p| base.join(p)),
            token_file: self.token_file.as_ref().map(|p| base.join(p)),
            ..self.clone()
        }
    }
}

/// What the file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The context used when none is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    /// The contexts by name.
    #[serde(default)]
    pub contexts: BTreeMap<String, ContextConfig>,
}

/// The configuration file and what it holds (empty if it does not exist yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where it is read from and written to.
    pub path: PathBuf,
    /// Its contents.
    pub file: ConfigFile,
}

/// Checks a context name: 1 to [`MAX_NAME_LEN`] letters, digits, `-`, `_` or `.`, so it
/// is one word on a command line and a plain TOML key.
pub fn check_name(name: &str) -> Result<(), ConfigError> {
    let bad = |reason| {
        Err(ConfigError::BadName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return bad("it is longer than 64 bytes");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return bad("use letters, digits, '-', '_' and '.' only");
    }
    Ok(())
}

impl Config {
    /// Where the configuration file is: `CHITCHAT_CONFIG` if set, else
    /// `<config dir>/chitchat/config.toml`.
    pub fn default_path() -> Result<PathBuf, ConfigError> {
        if let Some(path) = std::env::var_os(CONFIG_ENV).filter(|p| !p.is_empty()) {
            return Ok(PathBuf::from(path));
        }
        dirs::config_dir()
            .map(|dir| dir.join("chitchat").join("config.toml"))
            .ok_or(ConfigError::NoConfigDir)
    }

    /// Reads the file at `path`; a file that does not exist is an empty configuration.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let read_error = |reason: String| ConfigError::Read {
            path: path.to_owned(),
            reason,
        };
        let text = match std::fs::File::open(path) {
            Ok(file) => {
                let mut text = String::new();
                std::io::Read::read_to_string(
                    &mut std::io::Read::take(file, MAX_FILE_BYTES + 1),
                    &mut text,
                )
                .map_err(|e| read_error(e.to_string()))?;
                if text.len() as u64 > MAX_FILE_BYTES {
                    return Err(read_error(format!(
                        "it is larger than {MAX_FILE_BYTES} bytes: not a configuration file"
                    )));
                }
                text
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(read_error(e.to_string())),
        };
        let file = Self::parse(path, &text)?;
        Ok(Config {
            path: path.to_owned(),
            file,
        })
    }

    /// Parses the text of the file at `path`; an error names the line and column.
    pub fn parse(path: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| {
            let at = e.span().map_or(0, |span| span.start).min(text.len());
            let before = &text[..at];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            ConfigError::Parse {
                path: path.to_owned(),
                line,
                column,
                message: e.message().trim().to_owned(),
            }
        })?;
        for name in file.contexts.keys() {
            check_name(name)?;
        }
        Ok(file)
    }

    /// The directory relative paths in the file are relative to.
    pub fn base_dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// The context named `name`, its paths anchored at the file's directory.
    pub fn context(&self, name: &str) -> Result<ContextConfig, ConfigError> {
        match self.file.contexts.get(name) {
            Some(context) => Ok(context.anchored(&self.base_dir())),
            None => Err(ConfigError::NoSuchContext {
                name: name.to_owned(),
                path: self.path.clone(),
                known: self.file.contexts.keys().cloned().collect(),
            }),
        }
    }

    /// The context a command uses: the one named by `--context`, else by
    /// `CHITCHAT_CONTEXT` (`env`), else the file's current one; `None` if none is named.
    pub fn select(
        &self,
        flag: Option<&str>,
        env: Option<String>,
    ) -> Result<Option<(String, ContextConfig)>, ConfigError> {
        let name = flag
            .map(str::to_owned)
            .or(env)
            .or_else(|| self.file.current.clone());
        name.map(|name| self.context(&name).map(|context| (name, context)))
            .transpose()
    }

    /// Writes the file: to a new file (mode 0600) in the same directory, flushed to disk,
    /// then renamed over the old one, so a reader sees the old file or the new one whole.
    /// The directory is made (0700) if it is missing.
    pub fn save(&self) -> Result<(), ConfigError> {
        let write_error = |reason: String| ConfigError::Write {
            path: self.path.clone(),
            reason,
        };
        // A symbolic link (a dotfiles checkout) stays one: its target is replaced.
        let target = std::fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone());
        let dir = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&dir)
            .map_err(|e| write_error(format!("cannot create {}: {e}", dir.display())))?;
        let text = toml::to_string_pretty(&self.file).map_err(|e| write_error(e.to_string()))?;
        // tempfile creates the file readable and writable by its owner only.
        let mut temp = tempfile::Builder::new()
            .prefix(".config.toml.")
            .tempfile_in(&dir)
            .map_err(|e| write_error(format!("cannot create a file in {}: {e}", dir.display())))?;
        temp.write_all(text.as_bytes())
            .and_then(|()| temp.as_file().sync_all())
            .map_err(|e| write_error(e.to_string()))?;
        temp.persist(&target)
            .map_err(|e| write_error(e.error.to_string()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_round_trips() {
        let mut file = ConfigFile {
            current: Some("local".into()),
            ..ConfigFile::default()
        };
        file.contexts.insert(
            "local".into(),
            ContextConfig {
                relays: vec![
                    "localhost:4433".parse().unwrap(),
                    "wss://h:443".parse().unwrap(),
                ],
                ca: Some("/x/ca.pem".into()),
                nick: Some("ada".into()),
                token_file: None,
                token_command: Some("echo t".into()),
            },
        );
        let text = toml::to_string_pretty(&file).unwrap();
        assert!(text.contains("token-command = \"echo t\""), "{text}");
        assert_eq!(Config::parse(Path::new("c.toml"), &text).unwrap(), file);
    }

    #[test]
    fn errors_name_the_file_and_the_line() {
        let path = Path::new("/cfg/config.toml");
        let cases = [
            (
                "current = \"a\"\n[contexts.a]\nrelays = [\"nope\"]\n",
                3,
                "invalid relay",
            ),
            ("[contexts.a]\n\nnick = \"a b\"\n", 3, "nick"),
            ("[contexts.a]\nrelay = [\"h:1\"]\n", 2, "unknown field"),
            ("current = \n", 1, ""),
            ("[contexts.\"a b\"]\n", 0, "invalid context name"),
        ];
        for (text, line, words) in cases {
            let e = Config::parse(path, text).unwrap_err();
            let shown = e.to_string();
            assert!(shown.contains(words), "{text:?}: {shown}");
            if line > 0 {
                assert!(
                    shown.starts_with(&format!("/cfg/config.toml:{line}:")),
                    "{text:?}: {shown}"
                );
            }
        }
    }

    #[test]
    fn relative_paths_are_relative_to_the_file() {
        let text = "[contexts.a]\nca = \"certs/ca.pem\"\ntoken-file = \"/abs/t\"\n";
        let config = Config {
            path: "/home/u/.config/chitchat/config.toml".into(),
            file: Config::parse(Path::new("x"), text).unwrap(),
        };
        let a = config.context("a").unwrap();
        assert_eq!(
            a.ca.as_deref(),
            Some(Path::new("/home/u/.config/chitchat/certs/ca.pem"))
        );
        assert_eq!(a.token_file.as_deref(), Some(Path::new("/abs/t")));
    }

    #[test]
    fn the_context_comes_from_the_flag_then_the_variable_then_the_file() {
        let text = "current = \"a\"\n[contexts.a]\n[contexts.b]\n[contexts.c]\n";
        let config = Config {
            path: "config.toml".into(),
            file: Config::parse(Path::new("x"), text).unwrap(),
        };
        let pick = |flag: Option<&str>, env: Option<&str>| {
            config
                .select(flag, env.map(str::to_owned))
                .unwrap()
                .map(|(name, _)| name)
        };
        assert_eq!(pick(Some("b"), Some("c")).as_deref(), Some("b"));
        assert_eq!(pick(None, Some("c")).as_deref(), Some("c"));
        assert_eq!(pick(None, None).as_deref(), Some("a"));
        let missing = config.select(Some("zz"), None).unwrap_err().to_string();
        assert!(
            missing.contains("\"zz\"") && missing.contains("a, b, c"),
            "{missing}"
        );
        let empty = Config {
            path: "config.toml".into(),
            file: ConfigFile::default(),
        };
        assert_eq!(empty.select(None, None).unwrap(), None);
    }

    #[test]
    fn saving_replaces_the_file_whole_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("config.toml");
        let mut config = Config::load(&path).unwrap();
        assert_eq!(config.file, ConfigFile::default());
        config.file.current = Some("a".into());
        config
            .file
            .contexts
            .insert("a".into(), ContextConfig::default());
        config.save().unwrap();
        config.file.current = None;
        config.save().unwrap();
        assert_eq!(Config::load(&path).unwrap(), config);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("config.toml")]);
    }

    #[test]
    fn a_huge_file_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let comment = format!("# {}\n", "x".repeat(MAX_FILE_BYTES as usize));
        std::fs::write(&path, comment).unwrap();
        let e = Config::load(&path).unwrap_err().to_string();
        assert!(e.contains("not a configuration file"), "{e}");
    }

    #[test]
    fn context_names_are_one_plain_word() {
        for good in ["local", "prod-eu.1", "a_b"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        let long = "x".repeat(65);
        for bad in ["", "a b", "a/b", "é", long.as_str()] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
