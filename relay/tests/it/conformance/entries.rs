//! Conformance cases on log entries: replies, edits, deletes and reactions are entries with
//! their own seqs, checked atomically, read back in order, and folded into history pages.

use chitchat_protocol::{Entry, EntryBody, ErrorCode, MAX_EDITS, MessageState, REACTIONS};
use chitchat_relay::broker::NewEntry;

use super::*;

const THUMBS: &str = REACTIONS[0];
const EYES: &str = REACTIONS[7];

async fn append(broker: &dyn Broker, room: &str, from: &str, body: EntryBody) -> Entry {
    try_append(broker, room, from, body.clone())
        .await
        .unwrap_or_else(|e| panic!("{from}'s {body:?} in {room} failed: {e}"))
}

async fn try_append(
    broker: &dyn Broker,
    room: &str,
    from: &str,
    body: EntryBody,
) -> Result<Entry, BrokerError> {
    broker
        .append(NewEntry {
            room: room.into(),
            from: from.into(),
            body,
            send_id: None,
            by_operator: false,
        })
        .await
}

/// The refusal code of a change the log must refuse.
async fn refused(broker: &dyn Broker, room: &str, from: &str, body: EntryBody) -> ErrorCode {
    match try_append(broker, room, from, body.clone()).await {
        Err(e @ BrokerError::Refused { .. }) => e.code(),
        other => panic!("{from}'s {body:?} should be refused, got {other:?}"),
    }
}

fn edit(target: u64, text: &str) -> EntryBody {
    EntryBody::Edit {
        target,
        text: text.into(),
    }
}

fn react(target: u64, emoji: &str, on: bool) -> EntryBody {
    EntryBody::React {
        target,
        emoji: emoji.into(),
        on,
    }
}

fn reply(to: u64, text: &str) -> EntryBody {
    EntryBody::Text {
        text: text.into(),
        reply_to: Some(to),
    }
}

async fn entries_after(broker: &dyn Broker, room: &str, after: u64) -> Vec<Entry> {
    broker
        .read_entries_after(room, after, 100)
        .await
        .unwrap_or_else(|e| panic!("reading {room}'s entries failed: {e}"))
}

async fn states(broker: &dyn Broker, room: &str, before: Option<u64>) -> Vec<MessageState> {
    broker
        .read_states_before(room, before, 100)
        .await
        .unwrap_or_else(|e| panic!("reading {room}'s history failed: {e}"))
}

/// Every kind of entry takes the room's next seq, is delivered in seq order and read back
/// as stored; version 1's reads see the texts alone; a read from before an edit gets it once.
pub async fn entries_are_numbered_in_the_log(factory: &dyn StoreFactory) {
    let (broker, sink) = open(factory).await;
    subscribe(&*broker, "log").await;
    let b = &*broker;
    let first = publish(b, "log", "ann", "hello").await;
    let bodies = [
        edit(1, "hello, all"),
        react(1, THUMBS, true),
        reply(1, "hi ann"),
        EntryBody::Delete { target: 4 },
    ];
    let mut stored = vec![first.seq];
    for (from, body) in ["ann", "bob", "bob", "bob"].into_iter().zip(bodies.clone()) {
        let entry = append(b, "log", from, body.clone()).await;
        assert_eq!(entry.body, body);
        stored.push(entry.seq);
    }
    assert_eq!(stored, [1, 2, 3, 4, 5], "every entry takes the next seq");
    assert_eq!(head(b, "log").await.last_seq, 5);

    let read = entries_after(b, "log", 0).await;
    let seqs: Vec<u64> = read.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    assert_eq!(
        read[1..].iter().map(|e| e.body.clone()).collect::<Vec<_>>(),
        bodies
    );
    let delivered = sink.wait_entries("log", 5).await;
    assert_eq!(
        delivered, read,
        "delivered in seq order, each once, as stored"
    );

    // Resuming from before the edit: the entries after the point, the edit once.
    let resumed = entries_after(b, "log", 1).await;
    assert_eq!(
        resumed,
        read[1..],
        "a resume after seq 1 gets the edit once, in order"
    );

    let texts: Vec<(u64, String)> = read_after(b, "log", 0, 100)
        .await
        .into_iter()
        .map(|m| (m.seq, m.text))
        .collect();
    assert_eq!(
        texts,
        [(1, "hello".to_string()), (4, "hi ann".to_string())],
        "version 1's reads: texts as first stored"
    );
    let older = read_before(b, "log", None, 100).await;
    assert_eq!(older.iter().map(|m| m.seq).collect::<Vec<_>>(), [1, 4]);
}

/// History pages hold each text message in its latest state: the last edit's text and
/// time, a tombstone for a deleted one, reactions counted once per user in REACTIONS
/// order; change entries are never listed.
pub async fn history_pages_show_the_latest_state(factory: &dyn StoreFactory) {
    let (broker, _sink) = open(factory).await;
    let b = &*broker;
    let ann = publish(b, "page", "ann", "first").await;
    publish(b, "page", "bob", "second").await;
    append(b, "page", "ann", edit(1, "first, fixed")).await;
    let last_edit = append(b, "page", "ann", edit(1, "first, fixed twice")).await;
    append(b, "page", "cy", react(1, EYES, true)).await;
    append(b, "page", "cy", react(1, THUMBS, true)).await;
    append(b, "page", "bob", react(1, THUMBS, true)).await;
    append(b, "page", "bob", react(2, THUMBS, true)).await;
    append(b, "page", "bob", EntryBody::Delete { target: 2 }).await;
    append(b, "page", "cy", reply(1, "third")).await;

    let page = states(b, "page", None).await;
    assert_eq!(page.len(), 3, "text messages only: {page:?}");
    let first = &page[0];
    assert_eq!(
        (
            first.seq,
            first.from.as_str(),
            first.ts,
            first.text.as_str()
        ),
        (1, "ann", ann.ts, "first, fixed twice")
    );
    assert_eq!(first.edited_ts, last_edit.ts);
    assert!(!first.deleted);
    let reactions: Vec<(&str, Vec<&str>)> = first
        .reactions
        .iter()
        .map(|r| {
            (
                r.emoji.as_str(),
                r.nicks.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        reactions,
        [(THUMBS, vec!["bob", "cy"]), (EYES, vec!["cy"])],
        "in REACTIONS order, nicks sorted"
    );
    let second = &page[1];
    assert!(second.deleted && second.text.is_empty() && second.reactions.is_empty());
    assert_eq!(second.edited_ts, 0);
    assert_eq!((page[2].seq, page[2].reply_to), (10, Some(1)));

    // An older page is folded the same way, and a page counts text messages.
    let older = states(b, "page", Some(10)).await;
    assert_eq!(older, page[..2]);
    let newest = broker
        .read_states_before("page", None, 1)
        .await
        .expect("one message");
    assert_eq!(newest, page[2..]);
}

/// A user counts once per emoji: adding a reaction twice or removing one never added stores
/// nothing and answers with the entry that made the current state.
pub async fn reactions_count_once_per_user(factory: &dyn StoreFactory) {
    let (broker, _sink) = open(factory).await;
    let b = &*broker;
    let msg = publish(b, "r", "ann", "react to me").await;
    let never = append(b, "r", "bob", react(1, THUMBS, false)).await;
    assert_eq!(
        (never.seq, never.ts),
        (msg.seq, msg.ts),
        "removing what was never added: the message's own seq and time"
    );
    let on = append(b, "r", "bob", react(1, THUMBS, true)).await;
    let again = append(b, "r", "bob", react(1, THUMBS, true)).await;
    assert_eq!(
        (again.seq, again.ts),
        (on.seq, on.ts),
        "adding twice stores once"
    );
    append(b, "r", "ann", react(1, THUMBS, true)).await;
    assert_eq!(head(b, "r").await.last_seq, 3);
    let page = states(b, "r", None).await;
    assert_eq!(page[0].reactions[0].nicks, ["ann", "bob"]);

    let off = append(b, "r", "bob", react(1, THUMBS, false)).await;
    let off_again = append(b, "r", "bob", react(1, THUMBS, false)).await;
    assert_eq!((off_again.seq, off_again.ts), (off.seq, off.ts));
    assert_eq!(head(b, "r").await.last_seq, 4);
    assert_eq!(states(b, "r", None).await[0].reactions[0].nicks, ["ann"]);
}

/// Only the author edits or deletes; a missing, deleted or non-text target is no message;
/// a refused change stores nothing.
pub async fn only_the_author_changes_a_message(factory: &dyn StoreFactory) {
    let (broker, _sink) = open(factory).await;
    let b = &*broker;
    publish(b, "own", "ann", "mine").await;
    append(b, "own", "bob", react(1, THUMBS, true)).await;
    assert_eq!(
        refused(b, "own", "bob", edit(1, "yours?")).await,
        ErrorCode::NOT_AUTHOR
    );
    assert_eq!(
        refused(b, "own", "bob", EntryBody::Delete { target: 1 }).await,
        ErrorCode::NOT_AUTHOR
    );
    for target in [0, 2, 3, 99] {
        assert_eq!(
            refused(b, "own", "ann", edit(target, "x")).await,
            ErrorCode::NO_SUCH_MESSAGE,
            "target {target}: missing or not a text"
        );
    }
    assert_eq!(
        refused(b, "elsewhere", "ann", edit(1, "x")).await,
        ErrorCode::NO_SUCH_MESSAGE,
        "seqs are per room"
    );
    assert_eq!(head(b, "own").await.last_seq, 2, "refusals store nothing");

    append(b, "own", "ann", EntryBody::Delete { target: 1 }).await;
    for body in [
        edit(1, "too late"),
        EntryBody::Delete { target: 1 },
        react(1, THUMBS, true),
        reply(1, "to a tombstone"),
    ] {
        assert_eq!(
            refused(b, "own", "ann", body.clone()).await,
            ErrorCode::NO_SUCH_MESSAGE,
            "{body:?} after the delete"
        );
    }
    assert_eq!(head(b, "own").await.last_seq, 3);
}

/// A message takes MAX_EDITS edits and no more.
pub async fn edits_are_limited(factory: &dyn StoreFactory) {
    let (broker, _sink) = open(factory).await;
    let b = &*broker;
    publish(b, "ed", "ann", "v0").await;
    for i in 1..=MAX_EDITS {
        append(b, "ed", "ann", edit(1, &format!("v{i}"))).await;
    }
    assert_eq!(
        refused(b, "ed", "ann", edit(1, "one more")).await,
        ErrorCode::EDIT_LIMIT
    );
    let page = states(b, "ed", None).await;
    assert_eq!(page[0].text, format!("v{MAX_EDITS}"));
    // Other changes still work.
    append(b, "ed", "ann", EntryBody::Delete { target: 1 }).await;
}
