//! Brokers: where messages are numbered, stored, and carried between relays.
//!
//! One trait, [`Broker`], with two implementations: [`embedded::EmbeddedBroker`] (one relay,
//! in-process fan-out, SQLite history) and the Redis broker (a cluster of relays). Only this
//! module knows SQLite or Redis. Both pass the same conformance suite
//! (`relay/tests/it/conformance/`).
//!
//! The delivery guarantee: a message is numbered and stored before anyone receives it, and
//! every relay subscribed to its room receives it once, in seq order, as long as the relay
//! stays connected to the broker. Delivery to a relay is at-most-once across a lost
//! connection: the broker then re-reads history after the last seq it delivered, so the
//! relay's [`Deliver`] sink still sees each room gapless.
//!
//! Presence: the hub reports a nick's arrival and departure on this relay through
//! [`Broker::presence`]; the broker turns that into [`Signal::Presence`] once per nick for the
//! whole room (a nick present on two relays joins once and leaves once). A broker serving
//! several relays also keeps a registry of the live ones ([`Broker::relays`]) and drops the
//! members of a relay that stopped beating.

mod api;
pub mod embedded;
pub mod redis;

pub use api::{
    Broker, BrokerError, Deliver, NewMessage, RelayInfo, RoomHead, SharedBroker, Signal,
};
