//! `chitchat context add|use|ls|show|rm`: the named contexts of the configuration file
//! ([`crate::config`]), so that commands work from any directory without flags.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chitchat_protocol::validate_nick;
use clap::Subcommand;
use serde_json::json;

use super::print_line;
use crate::config::resolve::process_env;
use crate::config::{CONTEXT_ENV, Config, ContextConfig, check_name};
use crate::options::{ContextChoice, Global};

/// The context commands.
#[derive(Debug, Subcommand)]
pub enum ContextCommand {
    /// Save a context (replacing one of the same name) from the flags given with it:
    /// --relay (required), --ca, --nick, --token-file or --token-command. Paths are saved
    /// absolute.
    Add {
        /// The context's name: letters, digits, '-', '_' and '.'.
        name: String,
        /// Make it the current context too.
        #[arg(long = "use")]
        make_current: bool,
    },
    /// Make a context the current one: commands use it when no --context or
    /// CHITCHAT_CONTEXT names another.
    Use {
        /// The context's name.
        name: String,
    },
    /// List the contexts, the current one marked with '*'.
    Ls {
        /// One JSON object per line: {"name","current","relays","ca","nick","token_file",
        /// "token_command"}.
        #[arg(long)]
        json: bool,
    },
    /// Print a context's settings (paths as they will be used).
    Show {
        /// The context [default: the one commands use now: --context, CHITCHAT_CONTEXT, else
        /// the current one].
        name: Option<String>,
    },
    /// Remove a context (and unset it as the current one if it was).
    Rm {
        /// The context's name.
        name: String,
    },
}

/// Runs a context command on the configuration file (`CHITCHAT_CONFIG` or the default).
pub fn run(command: ContextCommand, global: &Global, choice: &ContextChoice) -> anyhow::Result<()> {
    let path = Config::default_path()?;
    let mut config = Config::load(&path)?;
    match command {
        ContextCommand::Add { name, make_current } => {
            let context = from_flags(&name, global)?;
            let replaced = config.file.contexts.insert(name.clone(), context).is_some();
            if make_current {
                config.file.current = Some(name.clone());
            }
            config.save()?;
            let what = if replaced { "replaced" } else { "saved" };
            let current = if make_current {
                "; it is the current context"
            } else {
                ""
            };
            print_line(&format!(
                "{what} context {name} in {}{current}",
                path.display()
            ))?;
        }
        ContextCommand::Use { name } => {
            config.context(&name)?;
            config.file.current = Some(name.clone());
            config.save()?;
            print_line(&format!("the current context is {name}"))?;
        }
        ContextCommand::Ls { json } => list(&config, json)?,
        ContextCommand::Show { name } => {
            let named = name
                .or_else(|| choice.name.clone())
                .or_else(|| process_env(CONTEXT_ENV));
            let (name, context) = match config.select(named.as_deref(), None)? {
                Some(selected) => selected,
                None => anyhow::bail!(
                    "no current context in {}; name one, or make one current with: \
                     chitchat context use NAME",
                    path.display()
                ),
            };
            let text = toml::to_string_pretty(&context).context("cannot show the context")?;
            print_line(&format!("# context {name}\n{}", text.trim_end()))?;
        }
        ContextCommand::Rm { name } => {
            config.context(&name)?;
            config.file.contexts.remove(&name);
            if config.file.current.as_deref() == Some(name.as_str()) {
                config.file.current = None;
            }
            config.save()?;
            print_line(&format!("removed context {name}"))?;
        }
    }
    Ok(())
}

/// The context the flags of `context add` describe, checked: a valid name and nick, at
/// least one relay, a CA file that exists, and no literal token (it would be stored in
/// plain text: a token file or command is).
fn from_flags(name: &str, global: &Global) -> anyhow::Result<ContextConfig> {
    check_name(name)?;
    if global.relays.is_empty() {
        anyhow::bail!("context add needs at least one --relay HOST:PORT");
    }
    if global.token.is_some() {
        anyhow::bail!(
            "a context does not keep a literal --token; save --token-file FILE or \
             --token-command CMD instead"
        );
    }
    if let Some(nick) = &global.nick {
        validate_nick(nick)?;
    }
    let ca = global.ca.as_deref().map(absolute).transpose()?;
    if let Some(ca) = &ca
        && !ca.is_file()
    {
        anyhow::bail!("CA file {} does not exist", ca.display());
    }
    Ok(ContextConfig {
        relays: global.relays.clone(),
        ca,
        nick: global.nick.clone(),
        token_file: global.token_file.as_deref().map(absolute).transpose()?,
        token_command: global.token_command.clone(),
    })
}

/// `path` made absolute against the current directory, so the context works from anywhere.
fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot make {} absolute", path.display()))
}

/// Prints every context, the current one marked.
fn list(config: &Config, json: bool) -> anyhow::Result<()> {
    let current = config.file.current.as_deref();
    for name in config.file.contexts.keys() {
        let context = config.context(name)?;
        let is_current = current == Some(name.as_str());
        let relays: Vec<String> = context.relays.iter().map(ToString::to_string).collect();
        let line = if json {
            json!({
                "name": name,
                "current": is_current,
                "relays": relays,
                "ca": context.ca,
                "nick": context.nick,
                "token_file": context.token_file,
                "token_command": context.token_command,
            })
            .to_string()
        } else {
            let mark = if is_current { '*' } else { ' ' };
            format!("{mark} {name}\t{}", relays.join(","))
        };
        if !print_line(&line)? {
            break;
        }
    }
    Ok(())
}
