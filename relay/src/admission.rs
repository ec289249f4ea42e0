//! Admission at the QUIC endpoint, before the expensive work: every new connection is
//! judged on its first Initial (quinn's `Incoming`), by its source address, before any TLS
//! state exists.
//!
//! - Handshakes in progress are capped per source and in total; over either cap a new
//!   Initial is refused (a stateless CONNECTION_REFUSED).
//! - Past `--retry-above` handshakes in progress, an address that has not proven it receives
//!   our packets is sent a QUIC Retry (stateless, a few dozen bytes): a flood of Initials
//!   from forged or silent addresses then creates no state and draws no certificate flight.
//! - Sessions are capped per source, so connections from one address (with or without a
//!   Hello) cannot fill `--max-sessions`; a source over its cap completes the handshake and
//!   is answered `TOO_MANY_FROM_ADDRESS` (see `server::farewell`).
//!
//! A source is an IPv4 address, or an IPv6 /64 (one subscriber's usual allocation).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

/// The admission flags.
#[derive(Debug, Clone, clap::Args)]
pub struct AdmissionConfig {
    /// Sessions one source address (IPv4, or IPv6 /64) may hold, counted from the end of
    /// the TLS handshake (Hello or not). Over it: closed with TOO_MANY_FROM_ADDRESS (28).
    #[arg(long, env = "CHITCHAT_MAX_SESSIONS_PER_ADDR", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_sessions_per_addr: u32,

    /// QUIC handshakes in progress one source address may have; further Initials are
    /// refused until one completes or times out.
    #[arg(long, env = "CHITCHAT_MAX_HANDSHAKES_PER_ADDR", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_handshakes_per_addr: u32,

    /// QUIC handshakes in progress in total; further Initials are refused.
    #[arg(long, env = "CHITCHAT_MAX_HANDSHAKES", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_handshakes: u32,

    /// Handshakes in progress past which a new client must first prove its address with a
    /// QUIC Retry (one extra round trip). 0: always. Low by default: a Retry costs a
    /// client one round trip, an unanswered handshake costs the relay its state and a
    /// certificate flight.
    #[arg(long, env = "CHITCHAT_RETRY_ABOVE", default_value_t = 8)]
    pub retry_above: u32,
}

/// What to do with one new connection's first Initial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go on with the handshake (holding the returned slot).
    Accept,
    /// Send a Retry: the address must be validated first.
    Retry,
    /// Refuse statelessly (CONNECTION_REFUSED).
    Refuse,
}

/// Counts per source.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    handshakes: u32,
    sessions: u32,
}

#[derive(Debug, Default)]
struct Table {
    by_source: HashMap<IpAddr, Counts>,
    handshakes: u32,
}

/// The admission state, shared by the accept loop and every connection's task.
#[derive(Debug)]
pub struct Admission {
    config: AdmissionConfig,
    table: Mutex<Table>,
}

/// The source an address is counted under: IPv4 (also IPv4-mapped IPv6) as is, IPv6 by /64.
pub fn source_of(addr: SocketAddr) -> IpAddr {
    match addr.ip() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl Admission {
    pub fn new(config: AdmissionConfig) -> Arc<Admission> {
        Arc::new(Admission {
            config,
            table: Mutex::new(Table::default()),
        })
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        // The table holds plain counters: a panic elsewhere cannot leave it inconsistent.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Judges a new connection from `remote`; `validated` is quinn's
    /// `remote_address_validated` (true after a Retry round trip). On `Accept` the
    /// handshake is counted until the returned slot is dropped.
    pub fn judge(
        self: &Arc<Self>,
        remote: SocketAddr,
        validated: bool,
    ) -> (Verdict, Option<HandshakeSlot>) {
        let source = source_of(remote);
        let mut table = self.table();
        let counts = table.by_source.get(&source).copied().unwrap_or_default();
        // Retry first: it costs one small stateless packet, and an address that never
        // answers it (forged, or a flood that does not listen) is never counted.
        if !validated && table.handshakes >= self.config.retry_above {
            return (Verdict::Retry, None);
        }
        if table.handshakes >= self.config.max_handshakes
            || counts.handshakes >= self.config.max_handshakes_per_addr
        {
            return (Verdict::Refuse, None);
        }
        table.handshakes += 1;
        table.by_source.entry(source).or_default().handshakes += 1;
        let slot = HandshakeSlot {
            admission: self.clone(),
            source,
        };
        (Verdict::Accept, Some(slot))
    }

    /// Handshakes in progress, in total.
    pub fn handshakes(&self) -> u32 {
        self.table().handshakes
    }

    fn release(&self, source: IpAddr, handshake: bool) {
        let mut table = self.table();
        if handshake {
            table.handshakes = table.handshakes.saturating_sub(1);
        }
        if let Some(c) = table.by_source.get_mut(&source) {
            if handshake {
                c.handshakes = c.handshakes.saturating_sub(1);
            } else {
                c.sessions = c.sessions.saturating_sub(1);
            }
            if c.handshakes == 0 && c.sessions == 0 {
                table.by_source.remove(&source);
            }
        }
    }
}

/// Why a completed handshake did not become a session: its source holds as many sessions
/// as it may.
#[derive(Debug, thiserror::Error)]
#[error("too many sessions from this address")]
pub struct TooManyFromAddress;

/// A handshake in progress, counted until dropped or turned into a session.
#[derive(Debug)]
pub struct HandshakeSlot {
    admission: Arc<Admission>,
    source: IpAddr,
}

impl HandshakeSlot {
    /// The handshake completed: counts a session for this source, or refuses when the
    /// source already holds as many sessions as it may. The handshake stays counted until
    /// this slot is dropped, so a connection being turned away still holds its place among
    /// the handshakes in progress.
    pub fn session(&self) -> Result<SessionSlot, TooManyFromAddress> {
        let mut table = self.admission.table();
        let counts = table.by_source.entry(self.source).or_default();
        if counts.sessions >= self.admission.config.max_sessions_per_addr {
            return Err(TooManyFromAddress);
        }
        counts.sessions += 1;
        Ok(SessionSlot {
            admission: self.admission.clone(),
            source: self.source,
        })
    }
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        self.admission.release(self.source, true);
    }
}

/// A session counted against its source, until dropped.
#[derive(Debug)]
pub struct SessionSlot {
    admission: Arc<Admission>,
    source: IpAddr,
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.admission.release(self.source, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(per_addr: u32, handshakes: u32, total: u32, retry: u32) -> AdmissionConfig {
        AdmissionConfig {
            max_sessions_per_addr: per_addr,
            max_handshakes_per_addr: handshakes,
            max_handshakes: total,
            retry_above: retry,
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn handshakes_are_capped_per_source_and_released() {
        let a = Admission::new(config(10, 2, 100, 0));
        let (v1, s1) = a.judge(addr("10.0.0.1:1"), true);
        let (v2, _s2) = a.judge(addr("10.0.0.1:2"), true);
        assert_eq!((v1, v2), (Verdict::Accept, Verdict::Accept));
        assert_eq!(a.judge(addr("10.0.0.1:3"), true).0, Verdict::Refuse);
        assert_eq!(a.judge(addr("10.0.0.2:3"), true).0, Verdict::Accept);
        drop(s1);
        assert_eq!(a.judge(addr("10.0.0.1:4"), true).0, Verdict::Accept);
    }

    #[test]
    fn retry_past_the_threshold_unless_validated() {
        let a = Admission::new(config(10, 10, 100, 1));
        let (_, _held) = a.judge(addr("10.0.0.1:1"), false);
        assert_eq!(a.judge(addr("10.0.0.2:1"), false).0, Verdict::Retry);
        assert_eq!(a.judge(addr("10.0.0.2:1"), true).0, Verdict::Accept);
    }

    #[test]
    fn sessions_are_capped_per_source_and_ipv6_counts_by_64() {
        let a = Admission::new(config(1, 10, 100, 100));
        let first = a.judge(addr("[2001:db8::1]:1"), false).1.unwrap();
        let _session = first.session().unwrap();
        drop(first);
        let second = a.judge(addr("[2001:db8::2]:1"), false).1.unwrap();
        assert!(second.session().is_err());
        let other = a.judge(addr("[2001:db8:0:1::1]:1"), false).1.unwrap();
        assert!(other.session().is_ok());
        assert_eq!(a.handshakes(), 2);
        drop((second, other));
        assert_eq!(a.handshakes(), 0);
    }

    #[test]
    fn ipv4_mapped_addresses_count_as_ipv4() {
        assert_eq!(
            source_of(addr("[::ffff:10.0.0.1]:5")),
            source_of(addr("10.0.0.1:6"))
        );
    }
}
