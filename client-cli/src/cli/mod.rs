//! The `chitchat` command line: the commands (one module each) over the shared flags of
//! [`crate::options`].

mod chat;
mod context;
mod entries;
mod history;
pub(crate) mod rooms;
mod secret;
mod send;
mod tail;

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use chitchat_protocol::validate_room;
use clap::{Parser, Subcommand};

use crate::ClientError;
use crate::client::entries::Change;
use crate::guest::GuestSecrets;
use crate::options::{Context, ContextChoice, Global};

/// Chat through ChitChat relays from the terminal.
#[derive(Debug, Parser)]
#[command(name = "chitchat", version)]
pub struct Cli {
    /// Flags every command takes.
    #[command(flatten)]
    pub global: Global,
    /// Which context of the configuration file to use.
    #[command(flatten)]
    pub choice: ContextChoice,
    /// The file holding the guest secret sent for the nick (for scripts and tests) [default:
    /// one file per nick under the user's config directory, e.g.
    /// ~/.config/chitchat/guest/NICK.secret, made on first use].
    #[arg(
        long,
        value_name = "FILE",
        env = "CHITCHAT_GUEST_SECRET_FILE",
        global = true
    )]
    pub guest_secret_file: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send one message to a room and print the seq it was stored under.
    Send {
        /// The room (a leading '#' is dropped).
        #[arg(value_parser = room_arg)]
        room: String,
        /// The message; several words are joined with spaces. Without words (or with `-`)
        /// each line read from stdin is sent as one message, waiting out the rate limit.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        text: Vec<String>,
        /// Send as a reply to the message with this seq (one message, not stdin's lines).
        #[arg(long, value_name = "SEQ")]
        reply_to: Option<u64>,
    },
    /// Replace the text of one of your messages.
    Edit {
        /// The room (a leading '#' is dropped).
        #[arg(value_parser = room_arg)]
        room: String,
        /// The message's seq.
        seq: u64,
        /// The new text; several words are joined with spaces.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        text: Vec<String>,
    },
    /// Delete one of your messages (a tombstone stays in its place).
    Delete {
        /// The room (a leading '#' is dropped).
        #[arg(value_parser = room_arg)]
        room: String,
        /// The message's seq.
        seq: u64,
    },
    /// React to a message with one of 👍 ❤️ 😂 🎉 😮 😢 🙏 👀, or take the reaction back.
    React {
        /// The room (a leading '#' is dropped).
        #[arg(value_parser = room_arg)]
        room: String,
        /// The message's seq.
        seq: u64,
        /// The emoji: one of 👍 ❤️ 😂 🎉 😮 😢 🙏 👀.
        #[arg(value_parser = reaction_arg)]
        emoji: String,
        /// Take the reaction back.
        #[arg(long)]
        off: bool,
    },
    /// Print a room's messages (and members' renames and topic changes) as they arrive; reconnects and resumes
    /// if the relay goes away.
    Tail {
        /// The room (a leading '#' is dropped).
        #[arg(value_parser = room_arg)]
        room: String,
        /// Start with the stored messages after this seq (0: from the first).
        #[arg(long, value_name = "SEQ")]
        since: Option<u64>,
        /// Exit after printing this many messages.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        count: Option<u64>,
        /// One JSON object per line: {"room","seq","epoch","from","text","ts"}.
        #[arg(long)]
        json: bool,
    },
    /// Print a room's newest messages, oldest first.
    History {
        /// The room (a leading '#' is dropped).
        #[arg(value_parser = room_arg)]
        room: String,
        /// How many messages.
        #[arg(long, value_name = "N", default_value_t = 50,
              value_parser = clap::value_parser!(u64).range(1..))]
        limit: u64,
        /// One JSON object per line: {"room","seq","epoch","from","text","ts"}.
        #[arg(long)]
        json: bool,
    },
    /// Chat: lines read from stdin are sent to the current room; /help lists the commands.
    /// Full-screen on a terminal, line mode when stdin or stdout is not one.
    Chat {
        /// The room to start in (a leading '#' is dropped).
        #[arg(value_parser = room_arg)]
        room: String,
        /// Line mode even on a terminal.
        #[arg(long)]
        line: bool,
    },
    /// The room directory: public rooms, their members and last activity, one per line.
    Rooms {
        /// Only rooms whose name or topic contains this (case-insensitive).
        #[arg(long, value_name = "TEXT", default_value = "")]
        search: String,
        /// At most this many rooms.
        #[arg(long, value_name = "N", default_value_t = 50,
              value_parser = clap::value_parser!(u64).range(1..))]
        limit: u64,
        /// One JSON object per line: {"name","topic","members","last_seq","last_activity","created_by"}.
        #[arg(long)]
        json: bool,
    },
    /// Make a room with a topic, or change a room's topic.
    #[command(subcommand)]
    Room(RoomCommand),
    /// Print the nick's guest secret, to use the nick on another device; or save one copied
    /// from another device with --import.
    Secret {
        /// Save this secret for the nick instead (`-`: read it from stdin).
        #[arg(long, value_name = "SECRET")]
        import: Option<String>,
        /// With --import: replace a different secret already saved for the nick.
        #[arg(long, requires = "import")]
        replace: bool,
    },
    /// Saved settings (relays, CA, nick, token source) by name, in the configuration file
    /// (~/.config/chitchat/config.toml, or CHITCHAT_CONFIG).
    #[command(subcommand)]
    Context(context::ContextCommand),
}

/// `chitchat room ...`.
#[derive(Debug, Subcommand)]
pub enum RoomCommand {
    /// Make ROOM with a topic (refused if the room exists).
    Create {
        room: String,
        /// What the room is about: one line, at most 256 bytes.
        #[arg(long, value_name = "TEXT", default_value = "")]
        topic: String,
        /// Print the room as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change ROOM's topic (an empty one clears it).
    Topic {
        room: String,
        /// The new topic; several words are joined with spaces.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        topic: Vec<String>,
        /// Print the room as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs the command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Context(command) = cli.command {
        return context::run(command, &cli.global, &cli.choice);
    }
    let mut ctx = Context::load(&cli.global, &cli.choice)?;
    let secrets = GuestSecrets::new(cli.guest_secret_file)?;
    ctx.client.guest_secrets = Some(secrets.clone());
    let result = match cli.command {
        Command::Send {
            room,
            text,
            reply_to: Some(to),
        } => entries::reply(&ctx, &room, &text, to).await,
        Command::Send { room, text, .. } => send::run(&ctx, &room, &text).await,
        Command::Edit { room, seq, text } => {
            let change = Change::Edit(text.join(" "));
            entries::change(&ctx, &room, seq, change).await
        }
        Command::Delete { room, seq } => entries::change(&ctx, &room, seq, Change::Delete).await,
        Command::React {
            room,
            seq,
            emoji,
            off,
        } => entries::change(&ctx, &room, seq, Change::React(emoji, !off)).await,
        Command::Tail {
            room,
            since,
            count,
            json,
        } => tail::run(&ctx, &room, since, count, json).await,
        Command::History { room, limit, json } => history::run(&ctx, &room, limit, json).await,
        Command::Chat { room, line } => chat::run(&ctx, &room, line).await,
        Command::Rooms {
            search,
            limit,
            json,
        } => rooms::list(&ctx, &search, limit, json).await,
        Command::Room(RoomCommand::Create { room, topic, json }) => {
            rooms::create(&ctx, &room, &topic, json).await
        }
        Command::Room(RoomCommand::Topic { room, topic, json }) => {
            rooms::topic(&ctx, &room, &topic.join(" "), json).await
        }
        Command::Secret { import, replace } => {
            secret::run(&secrets, &ctx.nick, import.as_deref(), replace)
        }
        Command::Context(_) => Ok(()),
    };
    result.map_err(|e| secret::explain(e, &ctx.nick, &secrets))
}

/// Resolves on Ctrl-C (SIGINT). The handler is in place when this returns, not only once the
/// future is first polled, so an interrupt that comes early is not lost to the default
/// action (which would skip telling the relay goodbye).
fn interrupted() -> futures::future::BoxFuture<'static, ()> {
    use futures::FutureExt;
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::interrupt()) {
            Ok(mut sigint) => async move {
                sigint.recv().await;
            }
            .boxed(),
            // No handler: Ctrl-C keeps its default action.
            Err(_) => futures::future::pending().boxed(),
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
        .boxed()
    }
}

/// Checks a room name before any connection is made.
fn check_room(room: &str) -> Result<(), ClientError> {
    validate_room(room).map_err(ClientError::from)
}

/// A request refused with `FORBIDDEN` says which room it was about ("cannot send to
/// team-b: ..."); other errors stay as they are.
fn name_room(error: ClientError, room: &str, verb: &str) -> anyhow::Error {
    let forbidden = error.code() == Some(chitchat_protocol::ErrorCode::FORBIDDEN);
    let error = anyhow::Error::from(error);
    if forbidden {
        error.context(format!("cannot {verb} {room}"))
    } else {
        error
    }
}

/// Prints one line on stdout and flushes it, so a reader sees it at once. A closed stdout
/// (`| head`) is reported as `Ok(false)`: the command should stop quietly.
fn print_line(line: &str) -> anyhow::Result<bool> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e).context("cannot write to stdout"),
    }
}

/// A ROOM argument as written, without one leading '#' (`#random` is the room `random`);
/// checked later like any room name.
/// A `react` emoji: one of the relay's reactions, else a usage error (exit 2).
fn reaction_arg(written: &str) -> Result<String, String> {
    if chitchat_protocol::is_reaction(written) {
        Ok(written.to_owned())
    } else {
        Err(format!(
            "{written:?} is not a reaction; use one of {}",
            chitchat_protocol::REACTIONS.join(" ")
        ))
    }
}

fn room_arg(written: &str) -> Result<String, std::convert::Infallible> {
    Ok(crate::tui::command::room_name(written).to_owned())
}
