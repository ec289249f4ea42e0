//! The conformance suite every [`Broker`] implementation passes.
//!
//! One test body per behaviour of the [`Broker`] contract, written once and run against
//! every implementation through a [`StoreFactory`]. Each case gets a fresh store; a case that
//! opens the factory twice sees the same store again (that is how persistence is tested).
//!
//! Run it with [`broker_conformance_tests!`], which makes one `#[tokio::test]` per case. A
//! [`RecordingSink`] records what a broker delivers and lets a test wait, with a deadline,
//! until it has seen enough.
//!
//! What the suite expects beyond the letter of the trait docs, so that the relay's resume
//! logic can rely on it:
//! - `subscribe` does not replay history: messages and signals sent before it was called
//!   are never delivered (the relay reads those through `read_after`).
//! - after `unsubscribe` returns, nothing more of that room is delivered.
//!
//! Absence is checked without sleeping: the suite subscribes again, publishes a later
//! message, waits for it, and relies on per-room seq order (anything skipped would have
//! come before it).
//!
//! Every wait has a deadline ([`DEADLINE`]); a failed expectation panics with what was
//! seen, as tests do.

mod claims;
mod delivery;
mod entries;
mod markers;
mod numbering;
mod rooms;
mod send_ids;
mod sink;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chitchat_protocol::Message;
use chitchat_relay::broker::{
    Broker, BrokerError, Deliver, NewMessage, RoomHead, SharedBroker, Signal,
};
use futures::future::join_all;

pub use claims::nick_claims_are_held_by_one_secret;
pub use delivery::{
    delivers_subscribed_rooms_only, fields_survive_the_round_trip, presence_is_announced,
    reopen_keeps_history_epoch_and_numbering, signals_reach_subscribed_rooms_only,
};
pub use entries::{
    edits_are_limited, entries_are_numbered_in_the_log, history_pages_show_the_latest_state,
    only_the_author_changes_a_message, reactions_count_once_per_user,
};
pub use markers::read_markers_shared_by_a_users_sessions;
pub use numbering::{
    call_order_is_seq_order, concurrent_publishers_get_gapless_seqs,
    many_rooms_at_once_stay_gapless, numbering_starts_at_one_per_room, publish_agrees_with_reads,
};
pub use rooms::room_records_are_created_once_and_listed;
pub use send_ids::repeated_send_id_is_stored_once;
pub use sink::RecordingSink;

/// How long a case waits for a delivery before failing. Deliveries take milliseconds; the
/// margin covers a loaded 2-core CI machine while keeping a broken broker's test short.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// How far a message's server timestamp may be from the test's clock. Brokers may stamp
/// with another machine's clock (Redis's); this catches seconds-for-milliseconds and
/// unset timestamps, not clock skew.
const TS_TOLERANCE_MS: u64 = 5 * 60 * 1000;

/// Opens the store a conformance case runs against.
#[async_trait::async_trait]
pub trait StoreFactory: Send + Sync {
    /// Opens a broker on this factory's store, delivering to `sink`. Every call opens the
    /// same store: a case drops the first broker and opens again to test persistence.
    async fn open(&self, sink: Arc<dyn Deliver>) -> Result<SharedBroker, BrokerError>;
}

/// Every case, in the suite's order; [`broker_conformance_tests!`] must name each.
pub const CASES: &[&str] = &[
    "numbering_starts_at_one_per_room",
    "publish_agrees_with_reads",
    "call_order_is_seq_order",
    "concurrent_publishers_get_gapless_seqs",
    "many_rooms_at_once_stay_gapless",
    "delivers_subscribed_rooms_only",
    "signals_reach_subscribed_rooms_only",
    "presence_is_announced",
    "reopen_keeps_history_epoch_and_numbering",
    "fields_survive_the_round_trip",
    "repeated_send_id_is_stored_once",
    "nick_claims_are_held_by_one_secret",
    "room_records_are_created_once_and_listed",
    "entries_are_numbered_in_the_log",
    "history_pages_show_the_latest_state",
    "reactions_count_once_per_user",
    "only_the_author_changes_a_message",
    "edits_are_limited",
    "read_markers_shared_by_a_users_sessions",
];

/// Makes one `#[tokio::test]` per conformance case, each calling the case with a factory
/// from `$factory` (an expression evaluated inside the async test, so it may `.await`),
/// plus a test that no case was left out.
///
/// ```ignore
/// crate::conformance::broker_conformance_tests!(MyFactory::new());
/// ```
///
/// `broker_conformance_tests!(sequential &factory, before, after)` instead runs every case
/// one after another inside the calling async test, evaluating `before` and `after` (which
/// may `.await`) around each: for a store whose start is shared by all cases.
macro_rules! broker_conformance_tests {
    ($factory:expr) => {
        $crate::conformance::broker_conformance_tests!(@list @cases $factory);
    };
    (sequential $factory:expr, $before:expr, $after:expr) => {
        $crate::conformance::broker_conformance_tests!(@list @sequential $factory, $before, $after)
    };
    (@list @$kind:ident $($args:tt)*) => {
        $crate::conformance::broker_conformance_tests! { @$kind $($args)*;
            numbering_starts_at_one_per_room,
            publish_agrees_with_reads,
            call_order_is_seq_order,
            concurrent_publishers_get_gapless_seqs,
            many_rooms_at_once_stay_gapless,
            delivers_subscribed_rooms_only,
            signals_reach_subscribed_rooms_only,
            presence_is_announced,
            reopen_keeps_history_epoch_and_numbering,
            fields_survive_the_round_trip,
            repeated_send_id_is_stored_once,
            nick_claims_are_held_by_one_secret,
            room_records_are_created_once_and_listed,
            entries_are_numbered_in_the_log,
            history_pages_show_the_latest_state,
            reactions_count_once_per_user,
            only_the_author_changes_a_message,
            edits_are_limited,
            read_markers_shared_by_a_users_sessions,
        }
    };
    (@sequential $factory:expr, $before:expr, $after:expr; $($case:ident),* $(,)?) => {{
        let mut ran = Vec::new();
        $(
            $before;
            $crate::conformance::$case($factory).await;
            $after;
            ran.push(stringify!($case));
        )*
        assert_eq!(ran.as_slice(), $crate::conformance::CASES);
    }};
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let factory = $factory;
                $crate::conformance::$case(&factory).await;
            }
        )*

        #[test]
        fn conformance_runs_every_case() {
            let generated = [$(stringify!($case)),*];
            assert_eq!(generated.as_slice(), $crate::conformance::CASES);
        }
    };
}
pub(crate) use broker_conformance_tests;

/// Opens the factory's store, delivering to a new [`RecordingSink`]; returns both.
async fn open(factory: &dyn StoreFactory) -> (SharedBroker, Arc<RecordingSink>) {
    let sink = RecordingSink::new();
    let broker = factory
        .open(sink.clone())
        .await
        .unwrap_or_else(|e| panic!("opening the store failed: {e}"));
    (broker, sink)
}

pub(crate) fn new_message(room: &str, from: &str, text: &str) -> NewMessage {
    NewMessage {
        room: room.into(),
        from: from.into(),
        text: text.into(),
        send_id: None,
    }
}

pub(crate) async fn publish(broker: &dyn Broker, room: &str, from: &str, text: &str) -> Message {
    broker
        .publish(new_message(room, from, text))
        .await
        .unwrap_or_else(|e| panic!("publishing to {room} failed: {e}"))
}

/// Publishes `n` messages in call order and waits for all; returns them in seq order.
pub(crate) async fn publish_many(
    broker: &dyn Broker,
    room: &str,
    from: &str,
    n: usize,
    text: impl Fn(usize) -> String,
) -> Vec<Message> {
    let futures: Vec<_> = (0..n)
        .map(|i| broker.publish(new_message(room, from, &text(i))))
        .collect();
    join_all(futures)
        .await
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("publishing to {room} failed: {e}")))
        .collect()
}

async fn head(broker: &dyn Broker, room: &str) -> RoomHead {
    broker
        .head(room)
        .await
        .unwrap_or_else(|e| panic!("head of {room} failed: {e}"))
}

async fn read_after(broker: &dyn Broker, room: &str, after: u64, limit: usize) -> Vec<Message> {
    broker
        .read_after(room, after, limit)
        .await
        .unwrap_or_else(|e| panic!("read_after({room}, {after}, {limit}) failed: {e}"))
}

async fn read_before(
    broker: &dyn Broker,
    room: &str,
    before: Option<u64>,
    limit: usize,
) -> Vec<Message> {
    broker
        .read_before(room, before, limit)
        .await
        .unwrap_or_else(|e| panic!("read_before({room}, {before:?}, {limit}) failed: {e}"))
}

async fn subscribe(broker: &dyn Broker, room: &str) {
    broker
        .subscribe(room)
        .await
        .unwrap_or_else(|e| panic!("subscribing to {room} failed: {e}"));
}

/// Asserts that one publisher's acknowledged messages, in its call order, have rising seqs.
pub(crate) fn assert_in_call_order(mine: &[Message], publisher: &str) {
    assert!(
        mine.windows(2).all(|w| w[0].seq < w[1].seq),
        "{publisher}'s messages are numbered in its call order"
    );
}

pub(crate) fn seqs(messages: &[Message]) -> Vec<u64> {
    messages.iter().map(|m| m.seq).collect()
}

fn assert_ts_is_now(msg: &Message) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    assert!(
        msg.ts.abs_diff(now) <= TS_TOLERANCE_MS,
        "message ts {} is not server time in ms (now is {now})",
        msg.ts
    );
}

/// (room, seq) of each message, for failure output that stays readable.
fn summary(messages: &[Message]) -> Vec<(&str, u64)> {
    messages.iter().map(|m| (m.room.as_str(), m.seq)).collect()
}
