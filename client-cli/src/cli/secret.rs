//! `chitchat secret`: shows a nick's guest secret, to copy to another device, or saves one
//! copied from another device; and the words for a nick another secret holds.

use std::io::Read as _;

use anyhow::Context as _;
use chitchat_protocol::ErrorCode;

use crate::ClientError;
use crate::guest::GuestSecrets;

/// Prints `nick`'s secret on stdout (made first if it has none) with how to use it
/// elsewhere on stderr; with `import`, saves that secret (`-`: read from stdin) instead.
pub fn run(
    secrets: &GuestSecrets,
    nick: &str,
    import: Option<&str>,
    replace: bool,
) -> anyhow::Result<()> {
    match import {
        None => {
            let secret = secrets.secret(nick)?;
            super::print_line(&secret)?;
            eprintln!(
                "This is the guest secret of nick '{nick}' (kept in {}). Anyone who has it can \
                 chat as '{nick}'. To use '{nick}' on another device, run there:\n  \
                 chitchat secret --nick {nick} --import -\nand paste it.",
                secrets.path(nick).display()
            );
        }
        Some(import) => {
            let secret = if import == "-" {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("cannot read the secret from stdin")?;
                text
            } else {
                import.to_owned()
            };
            let path = secrets.import(nick, &secret, replace)?;
            eprintln!(
                "Saved the guest secret of nick '{nick}' in {}.",
                path.display()
            );
        }
    }
    Ok(())
}

/// `error` in plain words if it says `nick` is held by another secret; `error` otherwise.
pub fn explain(error: anyhow::Error, nick: &str, secrets: &GuestSecrets) -> anyhow::Error {
    let taken = error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<ClientError>())
        .any(is_nick_taken);
    if !taken {
        return error;
    }
    anyhow::anyhow!(
        "nick '{nick}' is taken by someone else (NICK_TAKEN); pick another nick with --nick, \
         or, if '{nick}' is yours, copy its secret from the device that uses it: run \
         `chitchat secret --nick {nick}` there, then `chitchat secret --nick {nick} \
         --import - --replace` here (this device's secret is in {})",
        secrets.path(nick).display()
    )
}

fn is_nick_taken(error: &ClientError) -> bool {
    match error {
        ClientError::NoRelay(all) => all.iter().any(is_nick_taken),
        other => other.code() == Some(ErrorCode::NICK_TAKEN),
    }
}
