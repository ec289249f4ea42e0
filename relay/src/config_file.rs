//! The relay's configuration file: TOML whose keys are the long flags (`listen`,
//! `max-sessions`, ...). Each value is checked by its flag's own parser, then becomes
//! command-line arguments placed before the real ones, for the flags given neither on the
//! command line nor in a `CHITCHAT_*` variable. clap then applies every rule a flag has
//! (ranges, `requires`), and the precedence is flag > variable > file > default.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, CommandFactory, FromArgMatches};

use crate::config::Config;

/// The arg id of `--config` itself, which a file cannot set.
const CONFIG_ID: &str = "config";

/// One thing wrong in a configuration file, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub path: PathBuf,
    /// The line (from 1), or 0 for the file as a whole.
    pub line: usize,
    /// The key at fault, if the problem is one key's.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file named by `--config` or `CHITCHAT_RELAY_CONFIG` cannot be read.
    #[error("cannot read the configuration file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file has unknown keys, bad values or bad TOML; one line each.
    #[error("{}", lines(.0))]
    Invalid(Vec<Problem>),
    /// The command line (with the file's settings) is wrong, or asks for help.
    #[error(transparent)]
    Args(#[from] clap::Error),
}

fn lines(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(Problem::to_string).collect();
    lines.join("\n")
}

/// A file's settings, checked: for each key, the flag it sets and its arguments.
#[derive(Debug, Clone)]
pub struct FileSettings {
    /// The file they come from.
    pub path: PathBuf,
    settings: Vec<Setting>,
}

#[derive(Debug, Clone)]
struct Setting {
    /// The flag's arg id.
    id: String,
    /// The key: the flag's long name.
    long: String,
    /// `--key=value` for each value.
    args: Vec<OsString>,
}

impl FileSettings {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<FileSettings, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        FileSettings::parse(path, &text).map_err(LoadError::Invalid)
    }

    /// Checks `text`, the contents of the file at `path`: every problem, in file order.
    pub fn parse(path: &Path, text: &str) -> Result<FileSettings, Vec<Problem>> {
        type Entries =
            std::collections::BTreeMap<toml::Spanned<String>, toml::Spanned<toml::Value>>;
        let problem = |line, key: Option<&str>, message: String| Problem {
            path: path.to_path_buf(),
            line,
            key: key.map(str::to_string),
            message,
        };
        let entries: Entries = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |span| line_of(text, span.start));
            vec![problem(
                line,
                None,
                format!("not valid TOML: {}", e.message().trim()),
            )]
        })?;
        let mut entries: Vec<_> = entries.into_iter().collect();
        entries.sort_by_key(|(key, _)| key.span().start);
        let command = Config::command();
        let mut settings = Vec::new();
        let mut problems = Vec::new();
        for (key, value) in &entries {
            let line = line_of(text, key.span().start);
            match setting(&command, key.get_ref(), value.get_ref()) {
                Ok(setting) => settings.push(setting),
                Err(message) => problems.push(problem(line, Some(key.get_ref()), message)),
            }
        }
        if problems.is_empty() {
            Ok(FileSettings {
                path: path.to_path_buf(),
                settings,
            })
        } else {
            Err(problems)
        }
    }

    /// All the file's settings as arguments, as if every one were given as a flag.
    fn args(&self) -> impl Iterator<Item = &OsString> {
        self.settings.iter().flat_map(|s| &s.args)
    }
}

/// The line (from 1) of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |before| before.matches('\n').count())
        + 1
}

/// The arguments `key = value` stands for, or what is wrong with it.
fn setting(command: &clap::Command, key: &str, value: &toml::Value) -> Result<Setting, String> {
    if key == CONFIG_ID {
        return Err("a configuration file cannot name another one".into());
    }
    let Some(arg) = command.get_arguments().find(|a| {
        a.get_long() == Some(key)
            && matches!(
                a.get_action(),
                ArgAction::Set | ArgAction::Append | ArgAction::SetTrue
            )
    }) else {
        return Err(unknown_key(command, key));
    };
    let flag = format!("--{key}");
    let args = match (arg.get_action(), value) {
        (ArgAction::SetTrue, toml::Value::Boolean(true)) => vec![OsString::from(flag)],
        (ArgAction::SetTrue, toml::Value::Boolean(false)) => Vec::new(),
        (ArgAction::SetTrue, _) => return Err("expected true or false".into()),
        (ArgAction::Append, toml::Value::Array(items)) => items
            .iter()
            .map(|item| checked(arg, item).map(|v| OsString::from(format!("{flag}={v}"))))
            .collect::<Result<_, _>>()?,
        (_, toml::Value::Array(_)) => return Err("takes one value, not a list".into()),
        (_, value) => vec![OsString::from(format!("{flag}={}", checked(arg, value)?))],
    };
    Ok(Setting {
        id: arg.get_id().to_string(),
        long: key.to_string(),
        args,
    })
}

fn unknown_key(command: &clap::Command, key: &str) -> String {
    let dashed = key.replace('_', "-");
    if dashed != key
        && command
            .get_arguments()
            .any(|a| a.get_long() == Some(&dashed))
    {
        format!("unknown key (did you mean `{dashed}`? keys are spelt like the flags)")
    } else {
        "unknown key (the keys are the long flags of chitchat-relay --help, without --)".into()
    }
}

/// One scalar as the text its flag parses, checked by the flag's own parser.
fn checked(arg: &clap::Arg, value: &toml::Value) -> Result<String, String> {
    let text = match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(_) => return Err("a list inside a list".into()),
        toml::Value::Table(_) => {
            return Err("expected a value, found a table (keys are not grouped)".into());
        }
    };
    // A command of this one flag with the flag's parser alone: no variables, no defaults, no
    // rules between flags, so only the value is judged.
    let probe = clap::Command::new("chitchat-relay")
        .no_binary_name(true)
        .disable_help_flag(true)
        .arg(
            clap::Arg::new("value")
                .long("value")
                .value_parser(arg.get_value_parser().clone()),
        );
    match probe.try_get_matches_from([format!("--value={text}")]) {
        Ok(_) => Ok(text),
        Err(e) => Err(format!("invalid value {value}: {}", clap_reason(&e))),
    }
}

/// The reason in a clap error, without its usage lines.
fn clap_reason(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    use std::error::Error as _;
    if let Some(source) = e.source() {
        return source.to_string();
    }
    if let Some(ContextValue::Strings(valid)) = e.get(ContextKind::ValidValue) {
        return format!("expected one of {}", valid.join(", "));
    }
    let rendered = e.render().to_string();
    let first: Vec<&str> = rendered
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    first.join(" ").trim_start_matches("error: ").to_string()
}

/// The configuration of a process: the flags, `CHITCHAT_*` variables and the file `--config`
/// names, parsed together.
#[derive(Debug)]
pub struct Loaded {
    /// What the relay runs with.
    pub config: Config,
    matches: ArgMatches,
    file: Option<FileSettings>,
    /// Arg ids whose value came from the file.
    from_file: BTreeSet<String>,
}

/// Parses `args` (the process's arguments, its name first) with the configuration file
/// `--config` or `CHITCHAT_RELAY_CONFIG` names, if any.
pub fn parse(args: Vec<OsString>) -> Result<Loaded, LoadError> {
    // First without the file, errors ignored: which file, and which flags the command line
    // and the variables already give.
    let first = Config::command()
        .ignore_errors(true)
        .try_get_matches_from(&args)
        .ok();
    let checking = first.as_ref().is_some_and(|m| {
        matches!(m.subcommand(), Some(("config", sub)) if sub.subcommand_name() == Some("check"))
    });
    let path = first
        .as_ref()
        .and_then(|m| m.get_one::<PathBuf>(CONFIG_ID).cloned())
        .filter(|_| !checking);
    let file = path.as_deref().map(FileSettings::load).transpose()?;
    let mut injected = Vec::new();
    let mut from_file = BTreeSet::new();
    if let Some(file) = &file {
        for setting in &file.settings {
            let given = first.as_ref().and_then(|m| m.value_source(&setting.id));
            if !matches!(
                given,
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            ) {
                injected.extend(setting.args.iter().cloned());
                from_file.insert(setting.id.clone());
            }
        }
    }
    let token_args = match (&file, first.as_ref().and_then(ArgMatches::subcommand)) {
        (Some(file), Some(("token", given))) => token_settings(file, given),
        _ => Vec::new(),
    };
    let mut args = args.into_iter();
    let name = args.next().unwrap_or_else(|| "chitchat-relay".into());
    let all: Vec<OsString> = std::iter::once(name)
        .chain(injected)
        .chain(args)
        .chain(token_args)
        .collect();
    let matches = Config::command().try_get_matches_from(all)?;
    let config = Config::from_arg_matches(&matches)?;
    Ok(Loaded {
        config,
        matches,
        file,
        from_file,
    })
}

/// The file's settings `chitchat-relay token` shares with the relay (its HMAC secret file,
/// issuer and audience), for those its command line and variables do not give: arguments
/// that go after the subcommand's own (it takes no positional argument).
fn token_settings(file: &FileSettings, given: &ArgMatches) -> Vec<OsString> {
    let command = Config::command();
    let Some(token) = command.find_subcommand("token") else {
        return Vec::new();
    };
    let mut args = Vec::new();
    for setting in &file.settings {
        let Some(arg) = token
            .get_arguments()
            .find(|a| a.get_long() == Some(setting.long.as_str()))
        else {
            continue;
        };
        let source = given.value_source(arg.get_id().as_str());
        if !matches!(
            source,
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            args.extend(setting.args.iter().cloned());
        }
    }
    args
}

/// `chitchat-relay config check FILE`: every problem of the file, its keys and values, then
/// how its flags go together (e.g. `tls-cert` without `tls-key`).
pub fn check(path: &Path) -> Result<(), Vec<String>> {
    let file = FileSettings::load(path).map_err(|e| match e {
        LoadError::Invalid(problems) => problems.iter().map(Problem::to_string).collect(),
        LoadError::Read { ref source, .. } => vec![format!("{e}: {source}")],
        LoadError::Args(_) => vec![e.to_string()],
    })?;
    let args = std::iter::once(OsString::from("chitchat-relay")).chain(file.args().cloned());
    match Config::command().try_get_matches_from(args) {
        Ok(_) => Ok(()),
        Err(e) => Err(vec![format!("{}: {}", path.display(), clap_reason(&e))]),
    }
}

impl Loaded {
    /// Whether the value of arg `id` (e.g. `log_level`) came from the file.
    pub fn from_file(&self, id: &str) -> bool {
        self.from_file.contains(id)
    }

    /// The effective configuration as TOML, every key, each noted with where it came from
    /// when not its default. Passwords in URLs are hidden; secrets are files, named by path.
    pub fn to_toml(&self) -> String {
        let mut out = String::from(
            "# chitchat-relay's effective configuration: each key from a flag, a CHITCHAT_*\n\
             # variable, the configuration file or its default, in that order of precedence.\n",
        );
        for arg in Config::command().get_arguments() {
            let (Some(long), id) = (arg.get_long(), arg.get_id().as_str()) else {
                continue;
            };
            let action = arg.get_action();
            if id == CONFIG_ID
                || !matches!(
                    action,
                    ArgAction::Set | ArgAction::Append | ArgAction::SetTrue
                )
            {
                continue;
            }
            let raw: Vec<String> = self
                .matches
                .get_raw(id)
                .map(|values| values.map(|v| v.to_string_lossy().into_owned()).collect())
                .unwrap_or_default();
            let mut hidden = false;
            let values: Vec<String> = raw
                .iter()
                .map(|v| {
                    let (shown, was_hidden) = hide_password(v);
                    hidden |= was_hidden;
                    toml_scalar(arg, &shown)
                })
                .collect();
            let line = match action {
                ArgAction::SetTrue => format!("{long} = {}", self.matches.get_flag(id)),
                ArgAction::Append => format!("{long} = [{}]", values.join(", ")),
                _ => match values.first() {
                    Some(value) => format!("{long} = {value}"),
                    None => format!("# {long} = (not set)"),
                },
            };
            let mut notes = Vec::new();
            if let Some(source) = self.source(arg, long) {
                notes.push(source);
            }
            if hidden {
                notes.push("password hidden".to_string());
            }
            out.push_str(&line);
            if !notes.is_empty() {
                out.push_str("  # ");
                out.push_str(&notes.join("; "));
            }
            out.push('\n');
        }
        out
    }

    /// Where arg's value came from, unless it is its default.
    fn source(&self, arg: &clap::Arg, long: &str) -> Option<String> {
        let id = arg.get_id().as_str();
        if self.from_file(id) {
            let file = self.file.as_ref()?;
            return Some(format!("from {}", file.path.display()));
        }
        match self.matches.value_source(id)? {
            ValueSource::CommandLine => Some(format!("from --{long}")),
            ValueSource::EnvVariable => {
                let var = arg.get_env()?.to_string_lossy().into_owned();
                Some(format!("from {var}"))
            }
            _ => None,
        }
    }
}

/// A raw value as TOML: a number for a numeric flag, else a string.
fn toml_scalar(arg: &clap::Arg, raw: &str) -> String {
    use std::any::TypeId;
    let numeric = [
        TypeId::of::<u8>(),
        TypeId::of::<u16>(),
        TypeId::of::<u32>(),
        TypeId::of::<u64>(),
        TypeId::of::<usize>(),
        TypeId::of::<i64>(),
        TypeId::of::<std::num::NonZeroU32>(),
        TypeId::of::<std::num::NonZeroU64>(),
        TypeId::of::<std::num::NonZeroUsize>(),
    ];
    let parser = arg.get_value_parser().type_id();
    if numeric.iter().any(|t| parser == *t) && raw.parse::<i64>().is_ok() {
        raw.to_string()
    } else {
        toml::Value::String(raw.to_string()).to_string()
    }
}

/// `value` with the password of a URL's user info (`redis://user:PASSWORD@host`) replaced by
/// `***`, and whether there was one.
fn hide_password(value: &str) -> (String, bool) {
    let Some((scheme, rest)) = value.split_once("://") else {
        return (value.to_string(), false);
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let Some((user_info, _)) = authority.rsplit_once('@') else {
        return (value.to_string(), false);
    };
    let Some((user, password)) = user_info.split_once(':') else {
        return (value.to_string(), false);
    };
    if password.is_empty() {
        return (value.to_string(), false);
    }
    let after = &rest[user_info.len()..];
    (format!("{scheme}://{user}:***{after}"), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        match FileSettings::parse(Path::new("relay.toml"), text) {
            Ok(_) => Vec::new(),
            Err(problems) => problems.iter().map(Problem::to_string).collect(),
        }
    }

    #[test]
    fn good_keys_become_flags() {
        let file = FileSettings::parse(
            Path::new("relay.toml"),
            "listen = \"127.0.0.1:4433\"\nmax-sessions = 10\nauth-dev-login = true\n\
             tls-name = [\"a.example\", \"b.example\"]\n",
        )
        .unwrap();
        let args: Vec<_> = file
            .args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "--listen=127.0.0.1:4433",
                "--max-sessions=10",
                "--auth-dev-login",
                "--tls-name=a.example",
                "--tls-name=b.example"
            ]
        );
    }

    #[test]
    fn problems_name_the_file_the_line_and_the_key() {
        let text = "listen = \"127.0.0.1:4433\"\nmax-sesions = 5\n\nmax-sessions = \"many\"\n\
                    log-format = \"xml\"\nmax_rooms = 3\nlisten2 = { a = 1 }\nlog-level = \"loud\"\n";
        let got = problems(text);
        assert_eq!(got.len(), 6, "{got:#?}");
        assert!(
            got[0].starts_with("relay.toml:2: max-sesions: unknown key"),
            "{got:#?}"
        );
        assert!(
            got[1].starts_with("relay.toml:4: max-sessions: invalid value \"many\""),
            "{got:#?}"
        );
        assert!(
            got[2].starts_with("relay.toml:5: log-format: invalid value"),
            "{got:#?}"
        );
        assert!(got[2].contains("text, json"), "{got:#?}");
        assert!(got[3].contains("did you mean `max-rooms`"), "{got:#?}");
        assert!(
            got[4].starts_with("relay.toml:7: listen2: unknown key"),
            "{got:#?}"
        );
        assert!(
            got[5].starts_with("relay.toml:8: log-level: invalid value"),
            "{got:#?}"
        );
    }

    #[test]
    fn shapes_that_do_not_fit_a_flag() {
        let got =
            problems("listen = [\"a\", \"b\"]\nauth-dev-login = \"yes\"\nconfig = \"x.toml\"\n");
        assert_eq!(got.len(), 3, "{got:#?}");
        assert!(got[0].contains("not a list"), "{got:#?}");
        assert!(got[1].contains("true or false"), "{got:#?}");
        assert!(got[2].contains("cannot name another"), "{got:#?}");
        let got = problems("listen = \"127.0.0.1:1\"\nlisten = \"127.0.0.1:2\"\n");
        assert!(
            got[0].starts_with("relay.toml:2: not valid TOML"),
            "{got:#?}"
        );
    }

    #[test]
    fn passwords_in_urls_are_hidden() {
        assert_eq!(
            hide_password("redis://:hunter2@10.0.0.1:6379/0"),
            ("redis://:***@10.0.0.1:6379/0".to_string(), true)
        );
        assert_eq!(
            hide_password("redis://app:s3cr@t@redis/"),
            ("redis://app:***@redis/".to_string(), true)
        );
        assert_eq!(
            hide_password("redis://redis:6379/"),
            ("redis://redis:6379/".to_string(), false)
        );
        assert_eq!(hide_password("certs"), ("certs".to_string(), false));
    }
}
