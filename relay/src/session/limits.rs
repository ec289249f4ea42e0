//! What protects the relay and its users from any one client: the limits' configuration,
//! the page sizes announced in Welcome, and the per-session rate limiters.

use std::time::Duration;

use chitchat_protocol::Limits as WireLimits;
use tokio::time::Instant;

use super::quota::QuotaConfig;

/// The most messages one History page holds (announced in Welcome).
pub const HISTORY_PAGE: u16 = 100;

/// A History page stops growing at this many encoded bytes, to stay well under the frame
/// limit whatever the texts' sizes.
pub(super) const HISTORY_PAGE_BYTES: usize = 192 * 1024;

/// Makes a page read with one extra item (oldest first) fit: drops the extra, then the
/// oldest items past HISTORY_PAGE_BYTES (each `size` bytes at most); whether more items lie
/// before the page.
pub(super) fn fit_page<T>(items: &mut Vec<T>, limit: usize, size: impl Fn(&T) -> usize) -> bool {
    let mut more = items.len() > limit;
    if more {
        items.remove(0);
    }
    let mut total = 0;
    let mut keep = items.len();
    for (i, item) in items.iter().enumerate().rev() {
        total += size(item);
        if total > HISTORY_PAGE_BYTES {
            break;
        }
        keep = items.len() - i;
    }
    if keep < items.len() {
        items.drain(..items.len() - keep);
        more = true;
    }
    more
}

/// Requests one session may have in flight (sends awaiting storage, history reads); the
/// relay stops reading its control stream until some complete.
pub(super) const MAX_IN_FLIGHT: usize = 256;

/// History reads one session may have in flight. A page is up to HISTORY_PAGE_BYTES held
/// until the client reads it, so a session that asks and never reads holds at most this
/// many (plus the one being written); a further History waits until one of them has been
/// written to the control stream, which waits for the client to read.
pub(super) const MAX_HISTORY_IN_FLIGHT: usize = 4;

/// Typing signals one session may send per second (and in a burst): enough for a person
/// typing, too few to turn datagrams into a flood.
const TYPING_PER_SEC: f64 = 4.0;
const TYPING_BURST: f64 = 8.0;

/// Room requests (ListRooms, CreateRoom, SetTopic) one session may make per second and in a
/// burst: a person browsing the directory turns a page or two a second; a directory page
/// costs the store a count and a read per room listed, so a flood of them is bounded here.
const ROOM_REQUESTS_PER_SEC: f64 = 2.0;
const ROOM_REQUESTS_BURST: f64 = 10.0;

/// Renames one session may make: a person renames now and then, and a few in a row (a typo
/// fixed) must go through; each costs a claim in the store and a frame to every member of
/// every joined room, so a flood is cut to one every ten seconds.
const RENAMES_PER_SEC: f64 = 0.1;
const RENAMES_BURST: f64 = 3.0;

/// Read markers one session may set: a client marks a room read when it is shown and as
/// messages arrive in it (debounced), a couple a second at most; each costs a store write
/// and a signal to the room's relays, so a flood is cut to two a second after a burst that
/// covers switching through a few rooms quickly.
const MARKS_PER_SEC: f64 = 2.0;
const MARKS_BURST: f64 = 20.0;

/// Limits that protect the relay and its users from any one client.
#[derive(Debug, Clone, clap::Args)]
pub struct LimitsConfig {
    /// Longest message text, in bytes.
    #[arg(long, env = "CHITCHAT_MAX_TEXT_BYTES", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub max_text_bytes: u32,

    /// Rooms one session may be in at once.
    #[arg(long, env = "CHITCHAT_MAX_ROOMS", default_value_t = 100)]
    pub max_rooms: u32,

    /// Sustained messages per second one session may send.
    #[arg(long, env = "CHITCHAT_MSGS_PER_SEC", default_value_t = 30)]
    pub msgs_per_sec: u32,

    /// Messages one session may send at once above the sustained rate.
    #[arg(long, env = "CHITCHAT_MSGS_BURST", default_value_t = 60)]
    pub msgs_burst: u32,

    /// Sessions this relay serves at once; more are closed with SERVER_BUSY.
    #[arg(long, env = "CHITCHAT_MAX_SESSIONS", default_value_t = 100_000)]
    pub max_sessions: usize,

    /// Seconds a new connection has to complete the TLS handshake and say Hello.
    #[arg(long, env = "CHITCHAT_HANDSHAKE_TIMEOUT_SECS", default_value_t = 10)]
    pub handshake_timeout_secs: u64,

    /// Seconds of silence (not even keep-alives) after which a session is closed with
    /// IDLE_TIMEOUT.
    #[arg(long, env = "CHITCHAT_IDLE_TIMEOUT_SECS", default_value_t = 30)]
    pub idle_timeout_secs: u64,

    /// Messages queued for one session in one room before it counts as a slow consumer
    /// and is disconnected (it resumes from history on reconnect).
    #[arg(long, env = "CHITCHAT_QUEUE_LEN", default_value_t = 1024)]
    pub queue_len: usize,

    /// Seconds sessions get to leave after the relay tells them it is shutting down.
    #[arg(long, env = "CHITCHAT_DRAIN_SECS", default_value_t = 3)]
    pub drain_secs: u64,

    /// Quotas per source address.
    #[command(flatten)]
    pub quota: QuotaConfig,
}

impl LimitsConfig {
    /// How long a new connection has for the TLS handshake and Hello.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.handshake_timeout_secs)
    }

    /// The QUIC idle timeout: the session's own (which closes with IDLE_TIMEOUT after
    /// `--idle-timeout-secs` of silence) plus a grace, so the session's Error frame and close
    /// come first and QUIC's silent drop only catches a session that could not be told.
    pub fn idle_timeout(&self) -> Duration {
        self.session_idle_timeout() + self.session_idle_timeout() / 2 + IDLE_GRACE
    }

    /// How long a silent session lives before the relay closes it with IDLE_TIMEOUT.
    pub(super) fn session_idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs.max(1))
    }

    /// How long sessions get to leave after GoAway.
    pub fn drain(&self) -> Duration {
        Duration::from_secs(self.drain_secs)
    }

    /// The limits as announced in Welcome.
    pub fn wire(&self) -> WireLimits {
        WireLimits {
            max_text_bytes: self.max_text_bytes,
            max_rooms: self.max_rooms,
            msgs_per_sec: self.msgs_per_sec,
            msgs_burst: self.msgs_burst,
            history_page: HISTORY_PAGE,
        }
    }
}

/// Extra time QUIC's idle timer gives beyond the session's, for the IDLE_TIMEOUT farewell.
const IDLE_GRACE: Duration = Duration::from_secs(1);

/// One session's rate limiters.
pub(super) struct RateLimits {
    /// Send requests.
    pub sends: TokenBucket,
    /// Join, Leave, Who and History: the same sustained rate as sends, and a burst large
    /// enough to re-join every allowed room and read a page of each after a reconnect.
    pub requests: TokenBucket,
    /// Typing datagrams.
    pub typing: TokenBucket,
    /// ListRooms, CreateRoom and SetTopic.
    pub rooms: TokenBucket,
    /// Rename (each one asks the store and tells every joined room).
    pub renames: TokenBucket,
    /// MarkRead (each one writes to the store and signals the room's relays).
    pub markers: TokenBucket,
}

impl RateLimits {
    pub fn new(limits: &LimitsConfig) -> RateLimits {
        RateLimits {
            sends: TokenBucket::new(
                f64::from(limits.msgs_per_sec),
                f64::from(limits.msgs_burst.max(1)),
            ),
            requests: TokenBucket::new(
                f64::from(limits.msgs_per_sec),
                f64::from(
                    limits
                        .msgs_burst
                        .max(limits.max_rooms.saturating_mul(2))
                        .max(1),
                ),
            ),
            typing: TokenBucket::new(TYPING_PER_SEC, TYPING_BURST),
            rooms: TokenBucket::new(ROOM_REQUESTS_PER_SEC, ROOM_REQUESTS_BURST),
            renames: TokenBucket::new(RENAMES_PER_SEC, RENAMES_BURST),
            markers: TokenBucket::new(MARKS_PER_SEC, MARKS_BURST),
        }
    }
}

/// A token bucket: `rate` tokens per second, at most `burst` saved up.
pub(super) struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: f64, burst: f64) -> TokenBucket {
        TokenBucket {
            rate,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Takes a token if one is there.
    pub fn try_take(&mut self) -> bool {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
