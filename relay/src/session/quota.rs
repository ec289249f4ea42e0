//! Quotas per source address, shared by every session from it: new rooms and stored bytes
//! per minute. A per-session rate limit alone lets one host open many sessions and fill the
//! disk; these bound what one address can make the relay store.
//!
//! An address is an IPv4 address, or an IPv6 /64 (one host usually holds a whole /64). The
//! table holds at most [`MAX_ADDRESSES`] addresses; a window ends a minute after it began and
//! is dropped once the table fills up. When it is full of live windows, further addresses
//! share one overflow entry, so the quotas still bound them together.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How long one quota window lasts: the quotas are "per minute".
const WINDOW: Duration = Duration::from_secs(60);

/// Addresses tracked at once. Each entry is a few dozen bytes, so the table stays under a
/// few MB however many addresses send; more than this many sending in one minute share the
/// overflow entry.
pub(super) const MAX_ADDRESSES: usize = 65_536;

/// The per-address quotas' configuration.
#[derive(Debug, Clone, clap::Args)]
pub struct QuotaConfig {
    /// New rooms (rooms with no stored message yet) one source address may create per
    /// minute, across all its sessions; more are refused with QUOTA_EXCEEDED.
    #[arg(long, env = "CHITCHAT_NEW_ROOMS_PER_MIN", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub new_rooms_per_min: u32,

    /// Bytes of message text one source address may have stored per minute, across all its
    /// sessions; more are refused with QUOTA_EXCEEDED.
    #[arg(long, env = "CHITCHAT_STORED_BYTES_PER_MIN", default_value_t = 8 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub stored_bytes_per_min: u64,
}

/// Which quota refused a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(super) enum QuotaExceeded {
    #[error(
        "your address created {0} new rooms in the last minute, the most allowed; send to an existing room or wait"
    )]
    NewRooms(u32),
    #[error(
        "your address stored {0} bytes of messages in the last minute, the most allowed; wait a minute"
    )]
    StoredBytes(u64),
}

/// The key an address is counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    V4(u32),
    /// The /64 prefix.
    V6(u64),
    /// Every address that found the table full.
    Overflow,
}

impl Key {
    fn of(ip: IpAddr) -> Key {
        match ip {
            IpAddr::V4(v4) => Key::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Key::V4(u32::from(v4)),
                None => Key::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

/// One address's use in its current window.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    rooms: u32,
    bytes: u64,
}

/// The quota table every session shares.
pub(super) struct AddressQuotas {
    config: QuotaConfig,
    windows: Mutex<HashMap<Key, Window>>,
}

impl AddressQuotas {
    pub(super) fn new(config: QuotaConfig) -> AddressQuotas {
        AddressQuotas {
            config,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `ip` may still create a room this minute.
    pub(super) fn may_create_room(&self, ip: IpAddr) -> Result<(), QuotaExceeded> {
        let max = self.config.new_rooms_per_min;
        self.with(ip, Instant::now(), |w| {
            if w.rooms >= max {
                Err(QuotaExceeded::NewRooms(w.rooms))
            } else {
                Ok(())
            }
        })
    }

    /// Counts a room `ip` created (its first message was stored).
    pub(super) fn room_created(&self, ip: IpAddr) {
        self.with(ip, Instant::now(), |w| {
            w.rooms = w.rooms.saturating_add(1);
        });
    }

    /// Counts `bytes` about to be stored for `ip`, or refuses them if they would pass the
    /// quota (counting nothing).
    pub(super) fn charge_bytes(&self, ip: IpAddr, bytes: u64) -> Result<(), QuotaExceeded> {
        let max = self.config.stored_bytes_per_min;
        self.with(ip, Instant::now(), |w| {
            if w.bytes.saturating_add(bytes) > max {
                Err(QuotaExceeded::StoredBytes(w.bytes))
            } else {
                w.bytes += bytes;
                Ok(())
            }
        })
    }

    /// Addresses tracked now (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Window>> {
        // Every update is a few plain fields: a panic cannot leave a window inconsistent.
        self.windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` on `ip`'s window current at `now` (a fresh one if the last has ended).
    fn with<T>(&self, ip: IpAddr, now: Instant, f: impl FnOnce(&mut Window) -> T) -> T {
        let fresh = Window {
            start: now,
            rooms: 0,
            bytes: 0,
        };
        let mut windows = self.lock();
        let mut key = Key::of(ip);
        if !windows.contains_key(&key) && windows.len() >= MAX_ADDRESSES {
            windows.retain(|_, w| now.duration_since(w.start) < WINDOW);
            if windows.len() >= MAX_ADDRESSES {
                key = Key::Overflow;
            }
        }
        let window = windows.entry(key).or_insert(fresh);
        if now.duration_since(window.start) >= WINDOW {
            *window = fresh;
        }
        f(window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn quotas(rooms: u32, bytes: u64) -> AddressQuotas {
        AddressQuotas::new(QuotaConfig {
            new_rooms_per_min: rooms,
            stored_bytes_per_min: bytes,
        })
    }

    #[derive(clap::Parser)]
    struct Flags {
        #[command(flatten)]
        quota: QuotaConfig,
    }

    #[test]
    fn flags_refuse_zero_and_garbage_and_default_far_above_a_person() {
        use clap::Parser;
        for bad in [
            &["--new-rooms-per-min", "0"][..],
            &["--stored-bytes-per-min", "0"],
            &["--stored-bytes-per-min", "lots"],
            &["--new-rooms-per-min", "-3"],
        ] {
            let args = std::iter::once("relay").chain(bad.iter().copied());
            assert!(Flags::try_parse_from(args).is_err(), "{bad:?} accepted");
        }
        let defaults = Flags::try_parse_from(["relay"]).unwrap().quota;
        assert_eq!(defaults.new_rooms_per_min, 60);
        assert_eq!(defaults.stored_bytes_per_min, 8 * 1024 * 1024);
    }

    #[test]
    fn one_ipv6_64_is_one_address() {
        let q = quotas(1, 100);
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        q.room_created(a);
        assert_eq!(q.may_create_room(b), Err(QuotaExceeded::NewRooms(1)));
        assert_eq!(q.may_create_room(other), Ok(()));
        let mapped = IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped());
        q.room_created(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        assert!(q.may_create_room(mapped).is_err());
    }

    #[test]
    fn bytes_refused_past_the_quota_count_nothing() {
        let q = quotas(1, 100);
        let ip = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(q.charge_bytes(ip, 60), Ok(()));
        assert_eq!(q.charge_bytes(ip, 60), Err(QuotaExceeded::StoredBytes(60)));
        assert_eq!(q.charge_bytes(ip, 40), Ok(()));
    }

    /// The rooms `ip` created in the window current at `now`.
    fn rooms_at(q: &AddressQuotas, ip: IpAddr, now: Instant) -> u32 {
        q.with(ip, now, |w| w.rooms)
    }

    #[test]
    fn windows_end_after_a_minute() {
        let q = quotas(1, 100);
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        q.room_created(ip);
        assert!(q.may_create_room(ip).is_err());
        assert_eq!(rooms_at(&q, ip, Instant::now() + WINDOW), 0);
    }

    #[test]
    fn the_table_stays_bounded_and_overflow_is_shared() {
        let q = quotas(1, 100);
        for i in 0..MAX_ADDRESSES as u32 {
            q.charge_bytes(IpAddr::V4(Ipv4Addr::from(i)), 1).unwrap();
        }
        let late = IpAddr::V4(Ipv4Addr::from(u32::MAX));
        let later = IpAddr::V4(Ipv4Addr::from(u32::MAX - 1));
        q.room_created(late);
        assert!(
            q.may_create_room(later).is_err(),
            "overflow addresses share one quota"
        );
        assert!(q.len() <= MAX_ADDRESSES + 1);
        assert_eq!(rooms_at(&q, later, Instant::now() + WINDOW), 0);
        assert!(
            q.len() <= 2,
            "ended windows are dropped when the table fills"
        );
    }
}
