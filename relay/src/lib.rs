//! The ChitChat relay: accepts native QUIC and WebTransport sessions on one UDP port (and
//! the same sessions over a WebSocket on its HTTP port, see [`ws`]), keeps rooms, and moves
//! messages through a broker.
//!
//! Layers, each knowing only the ones below it: [`server`] (start-up, endpoint, admission,
//! shutdown) -> [`session`] (one client's frames over [`transport`], which also tells the
//! two kinds of client apart) -> [`hub`] (rooms and fan-out on this relay) -> [`broker`]
//! (numbering, storage, other relays); [`claims`] keeps guest nicks for their owners. Each module owns its configuration; [`config`]
//! flattens them. The wire format lives in the `chitchat-protocol` crate.

pub mod admission;
pub mod api;
pub mod auth;
pub mod broker;
pub mod claims;
pub mod clock;
pub mod config;
pub mod config_file;
pub mod gate;
pub mod http;
pub mod hub;
pub mod lookalike;
pub mod markers;
pub mod metrics;
pub mod page_policy;
pub mod rooms;
pub mod server;
pub mod session;
pub mod tls;
pub mod transport;
pub mod web;
pub mod ws;

pub use config::Config;
pub use server::Relay;
