//! Brokers: where messages are numbered, stored, and carried between relays.
//!
//! One contract (`api`: the [`Broker`] trait and its delivery guarantee) with two
//! implementations: [`embedded::EmbeddedBroker`] (one relay, SQLite history) and
//! [`redis::RedisBroker`] (a cluster of relays). [`open`] chooses one from the
//! configuration. Only this module knows SQLite or Redis. Both pass the same conformance
//! suite (`relay/tests/it/conformance/`).

mod api;
pub mod embedded;
pub mod redis;
mod store;

pub use api::{
    Broker, BrokerError, ClaimOutcome, Deliver, NewEntry, NewMessage, NickClaim, READ_MARKER_TTL,
    RelayInfo, RoomChange, RoomHead, RoomPage, RoomRecord, SEND_ID_TTL, SharedBroker, Signal,
};
pub use store::{Store, StoreConfig, open};
