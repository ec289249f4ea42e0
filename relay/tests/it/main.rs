//! The relay's integration tests, in one binary so the relay is linked once: sessions and
//! hostile input over real QUIC against in-process relays, both brokers against real SQLite
//! files and real `redis-server` processes (each through the shared conformance suite), and
//! relays forming a cluster on one Redis.

mod conformance;
mod support;

mod abuse;
mod admission;
mod api;
mod api_archive;
mod api_entries;
mod api_rooms;
mod auth;
mod broker_embedded;
mod broker_redis;
mod cluster_presence;
mod cluster_registry;
mod entries;
mod hostile_process;
mod nick_claims;
mod nick_claims_lost;
mod read_markers;
mod rename;
mod room_epochs;
mod rooms;
mod send_once;
mod session_limits;
mod session_spec;
mod sessions;
mod storage;
mod text_rules;
mod topic;
mod transports;
mod ws_abuse;
