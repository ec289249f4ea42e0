//! The chitchat client: a library for talking to ChitChat relays over QUIC, and the
//! `chitchat` command line built on it. The load generator (`chitchat-bench`, in bench/)
//! uses the library and the shared options too.
//!
//! Layers, bottom up:
//! - [`client`]: one connection to one relay: requests matched to answers by id, room streams
//!   and datagrams as [`client::Event`]s.
//! - [`resume`]: the pure bookkeeping behind exactly-once delivery across reconnections.
//! - [`session`]: a session that reconnects (cycling relays, with backoff), re-joins every
//!   room from where it stopped and drops duplicates.
//! - [`output`]: how messages are printed.
//! - [`guest`]: the guest secret each nick is claimed with (open mode), kept in a file.
//! - [`config`]: the configuration file's named contexts, and which setting wins.
//! - [`options`]: the flags every client binary takes, and the checked [`options::Context`].
//! - [`process`]: logging, the runtime and the exit code around a binary's command.
//! - [`token`]: where the sign-in token comes from (token mode), and fresh ones.
//! - [`cli`]: the commands (`send`, `tail`, `history`, `chat`).
//! - [`tui`]: the full-screen `chat` on a terminal.

pub mod addr;
pub mod cli;
pub mod client;
pub mod config;
pub mod entry_output;
pub mod error;
pub mod guest;
pub mod options;
pub mod output;
pub mod process;
pub mod resume;
pub mod session;
pub mod token;
pub mod tui;

pub use addr::RelayAddr;
pub use client::{Client, ClientConfig, Connector, Event, Events, Sent};
pub use error::{ClientError, CloseReason};
pub use session::{SessionConfig, SessionEvent, SessionEvents, SessionHandle};
