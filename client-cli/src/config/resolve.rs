//! Which value a command uses for each setting: the flag, then its `CHITCHAT_*` variable,
//! then the context, then the built-in default. The CA file has a search of its own when
//! none of the first three names one: `./certs/ca.pem` (a relay started in this directory
//! writes its dev CA there), then the relay's certs directory (`$CHITCHAT_CERTS_DIR`, and
//! `/certs` as the container image has it).
//!
//! Each function takes the environment as a lookup ([`Env`]) and the file system's answer
//! to "does this file exist" as another, so the rules are tested without either.

use std::path::{Path, PathBuf};

use super::{ConfigError, ContextConfig};
use crate::RelayAddr;
use crate::token::{TokenError, TokenSource};

/// The relay used when nothing names one, as written: a relay started on this machine
/// with its defaults listens there.
pub const DEFAULT_RELAY: &str = "localhost:4433";

/// [`DEFAULT_RELAY`]'s host.
const DEFAULT_HOST: &str = "localhost";

/// [`DEFAULT_RELAY`]'s port: the relay's default `--listen` port.
const DEFAULT_PORT: u16 = 4433;

/// Where a relay started in the current directory writes its dev CA (its default
/// `--certs-dir` is `certs`), so the CLI run from a checkout trusts the relay run there.
pub const LOCAL_CA: &str = "./certs/ca.pem";

/// The variable naming the relay's certs directory (the relay reads it too); the CA is
/// `ca.pem` in it.
pub const CERTS_DIR_ENV: &str = "CHITCHAT_CERTS_DIR";

/// The CA in the container image's certs directory, where a mounted or generated dev CA is.
pub const IMAGE_CA: &str = "/certs/ca.pem";

/// Looks a variable up; empty counts as unset (as for flags' variables).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process's environment, empty values left out.
pub fn process_env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|value| !value.is_empty())
}

/// The relays: `--relay` (any number), else `CHITCHAT_RELAY` (comma-separated), else the
/// context's, else [`DEFAULT_RELAY`].
pub fn relays(
    flag: &[RelayAddr],
    env: Env,
    context: Option<&ContextConfig>,
) -> Result<Vec<RelayAddr>, ConfigError> {
    if !flag.is_empty() {
        return Ok(flag.to_vec());
    }
    if let Some(list) = env("CHITCHAT_RELAY") {
        return list
            .split(',')
            .map(|relay| relay.trim().parse())
            .collect::<Result<Vec<RelayAddr>, _>>()
            .map_err(|e| ConfigError::BadVariable {
                var: "CHITCHAT_RELAY",
                reason: e.to_string(),
            });
    }
    match context {
        Some(context) if !context.relays.is_empty() => Ok(context.relays.clone()),
        _ => Ok(vec![RelayAddr::new(DEFAULT_HOST, DEFAULT_PORT)]),
    }
}

/// The nick: `--nick`, else `CHITCHAT_NICK`, else the context's; `None` leaves it to the
/// built-in default (`$USER` if valid, else `guest`).
pub fn nick(flag: Option<&str>, env: Env, context: Option<&ContextConfig>) -> Option<String> {
    flag.map(str::to_owned)
        .or_else(|| env("CHITCHAT_NICK"))
        .or_else(|| context.and_then(|c| c.nick.clone()))
}

/// The CA file: `--ca`, else `CHITCHAT_CA`, else the context's (each used as given: a wrong
/// one is reported when it is read), else the first of [`LOCAL_CA`],
/// `$CHITCHAT_CERTS_DIR/ca.pem` and [`IMAGE_CA`] that `exists`; none: an error naming every
/// place looked at.
pub fn ca(
    flag: Option<&Path>,
    env: Env,
    context: Option<&ContextConfig>,
    exists: &dyn Fn(&Path) -> bool,
) -> Result<PathBuf, ConfigError> {
    if let Some(path) = flag {
        return Ok(path.to_path_buf());
    }
    if let Some(path) = env("CHITCHAT_CA") {
        return Ok(PathBuf::from(path));
    }
    if let Some(path) = context.and_then(|c| c.ca.clone()) {
        return Ok(path);
    }
    let mut looked = vec![PathBuf::from(LOCAL_CA)];
    if let Some(dir) = env(CERTS_DIR_ENV) {
        looked.push(Path::new(&dir).join("ca.pem"));
    }
    looked.push(PathBuf::from(IMAGE_CA));
    match looked.iter().find(|path| exists(path)) {
        Some(found) => Ok(found.clone()),
        None => Err(ConfigError::NoCa {
            looked: looked.iter().map(|p| p.display().to_string()).collect(),
        }),
    }
}

/// The token flags as given on the command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenFlags<'a> {
    /// `--token`.
    pub token: Option<&'a str>,
    /// `--token-file`.
    pub file: Option<&'a Path>,
    /// `--token-command`.
    pub command: Option<&'a str>,
}

/// Where the token comes from: the token flags (whichever is given), else `CHITCHAT_TOKEN`,
/// else the context's token file or command; none of them: no token (open mode).
pub fn token(
    flags: TokenFlags,
    env: Env,
    context: Option<&ContextConfig>,
) -> Result<Option<TokenSource>, TokenError> {
    let any_flag = flags.token.is_some() || flags.file.is_some() || flags.command.is_some();
    if any_flag {
        return TokenSource::from_flags(
            flags.token,
            false,
            flags.file.map(Path::to_path_buf),
            flags.command.map(str::to_owned),
        );
    }
    if let Some(token) = env("CHITCHAT_TOKEN") {
        return TokenSource::from_flags(Some(&token), true, None, None);
    }
    let Some(context) = context else {
        return Ok(None);
    };
    TokenSource::from_flags(
        None,
        false,
        context.token_file.clone(),
        context.token_command.clone(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |var| {
            pairs
                .iter()
                .find(|(k, _)| *k == var)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn context() -> ContextConfig {
        ContextConfig {
            relays: vec!["ctx:1".parse().unwrap()],
            ca: Some("/ctx/ca.pem".into()),
            nick: Some("ctxnick".into()),
            token_file: Some("/ctx/token".into()),
            token_command: None,
        }
    }

    fn shown(relays: Vec<RelayAddr>) -> Vec<String> {
        relays.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_flag_beats_its_variable_which_beats_the_context_which_beats_the_default() {
        let flag: Vec<RelayAddr> = vec!["flag:1".parse().unwrap()];
        let env = env_of(&[("CHITCHAT_RELAY", "env:1, ws://env:2")]);
        let none = env_of(&[]);
        let ctx = context();
        assert_eq!(shown(relays(&flag, &env, Some(&ctx)).unwrap()), ["flag:1"]);
        assert_eq!(
            shown(relays(&[], &env, Some(&ctx)).unwrap()),
            ["env:1", "ws://env:2"]
        );
        assert_eq!(shown(relays(&[], &none, Some(&ctx)).unwrap()), ["ctx:1"]);
        let empty = ContextConfig::default();
        assert_eq!(
            shown(relays(&[], &none, Some(&empty)).unwrap()),
            [DEFAULT_RELAY]
        );
        assert_eq!(shown(relays(&[], &none, None).unwrap()), [DEFAULT_RELAY]);

        let env = env_of(&[("CHITCHAT_NICK", "envnick")]);
        assert_eq!(
            nick(Some("flagnick"), &env, Some(&ctx)).as_deref(),
            Some("flagnick")
        );
        assert_eq!(nick(None, &env, Some(&ctx)).as_deref(), Some("envnick"));
        assert_eq!(nick(None, &none, Some(&ctx)).as_deref(), Some("ctxnick"));
        assert_eq!(nick(None, &none, None), None);
    }

    #[test]
    fn a_bad_relay_variable_is_named() {
        let env = env_of(&[("CHITCHAT_RELAY", "h:1,nope")]);
        let e = relays(&[], &env, None).unwrap_err().to_string();
        assert!(
            e.starts_with("CHITCHAT_RELAY: invalid relay address \"nope\""),
            "{e}"
        );
    }

    #[test]
    fn the_ca_is_looked_for_in_order_and_every_place_is_named_when_none_exists() {
        let ctx = context();
        let env = env_of(&[("CHITCHAT_CA", "/env/ca.pem")]);
        let none = env_of(&[]);
        let nothing = |_: &Path| false;
        let anything = |_: &Path| true;
        let pick = |flag: Option<&str>, env: Env, ctx: Option<&ContextConfig>, exists| {
            ca(flag.map(Path::new), env, ctx, exists)
        };
        // Given ones are used as they are, existing or not.
        assert_eq!(
            pick(Some("/flag/ca.pem"), &env, Some(&ctx), &nothing).unwrap(),
            Path::new("/flag/ca.pem")
        );
        assert_eq!(
            pick(None, &env, Some(&ctx), &nothing).unwrap(),
            Path::new("/env/ca.pem")
        );
        assert_eq!(
            pick(None, &none, Some(&ctx), &nothing).unwrap(),
            Path::new("/ctx/ca.pem")
        );
        assert_eq!(
            pick(None, &none, None, &anything).unwrap(),
            Path::new(LOCAL_CA)
        );
        let certs = env_of(&[("CHITCHAT_CERTS_DIR", "/srv/certs")]);
        let image_only = |p: &Path| p == Path::new(IMAGE_CA);
        let dir_only = |p: &Path| p == Path::new("/srv/certs/ca.pem");
        assert_eq!(
            pick(None, &certs, None, &image_only).unwrap(),
            Path::new(IMAGE_CA)
        );
        assert_eq!(
            pick(None, &certs, None, &dir_only).unwrap(),
            Path::new("/srv/certs/ca.pem")
        );
        let e = pick(None, &certs, None, &nothing).unwrap_err().to_string();
        for place in [
            LOCAL_CA,
            "/srv/certs/ca.pem",
            IMAGE_CA,
            "--ca FILE",
            "context add",
        ] {
            assert!(e.contains(place), "{place} missing from: {e}");
        }
    }

    #[test]
    fn the_token_comes_from_a_flag_then_the_variable_then_the_context() {
        let ctx = context();
        let env = env_of(&[("CHITCHAT_TOKEN", "env.token.x")]);
        let none = env_of(&[]);
        let flags = TokenFlags {
            command: Some("print-token"),
            ..TokenFlags::default()
        };
        assert_eq!(
            token(flags, &env, Some(&ctx)).unwrap(),
            Some(TokenSource::Command("print-token".into()))
        );
        assert_eq!(
            token(TokenFlags::default(), &env, Some(&ctx)).unwrap(),
            Some(TokenSource::Fixed {
                token: "env.token.x".into(),
                origin: "CHITCHAT_TOKEN"
            })
        );
        assert_eq!(
            token(TokenFlags::default(), &none, Some(&ctx)).unwrap(),
            Some(TokenSource::File("/ctx/token".into()))
        );
        assert_eq!(token(TokenFlags::default(), &none, None).unwrap(), None);
    }
}
