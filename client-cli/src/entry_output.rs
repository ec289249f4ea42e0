//! How log entries (version 2) and messages in their latest state are printed: a line of
//! text for people, one JSON object per line for programs, as [`crate::output`] does for
//! messages.

use std::collections::BTreeMap;

use chitchat_protocol::{Entry, EntryBody, MessageState};
use serde::Serialize;

use crate::output::{clock, json_escaped, json_line, line, printable, rfc3339_ms};

/// What an entry says after `<from>`: the text (a reply names its target), or the change.
fn what(entry: &Entry) -> String {
    match &entry.body {
        EntryBody::Text {
            text,
            reply_to: None,
        } => printable(text),
        EntryBody::Text {
            text,
            reply_to: Some(to),
        } => format!("(reply to #{to}) {}", printable(text)),
        EntryBody::Edit { target, text } => format!("edited #{target}: {}", printable(text)),
        EntryBody::Delete { target } => format!("deleted #{target}"),
        EntryBody::React {
            target,
            emoji,
            on: true,
        } => format!("reacted {} to #{target}", printable(emoji)),
        EntryBody::React {
            target,
            emoji,
            on: false,
        } => format!("took back {} from #{target}", printable(emoji)),
    }
}

/// `[HH:MM:SS] #seq <from> ...`: a text as `tail` prints a message, a change as what it did.
pub fn entry_line(entry: &Entry) -> String {
    line(entry.ts, &entry.seq.to_string(), &entry.from, &what(entry))
}

/// `[HH:MM:SS] #room <from> ...`: the chat view of an entry.
pub fn entry_chat_line(entry: &Entry) -> String {
    line(entry.ts, &printable(&entry.room), &entry.from, &what(entry))
}

/// An entry as `tail --json` prints it: a message's fields, then what kind of entry it is.
#[derive(Debug, Serialize)]
struct JsonEntry<'a> {
    room: &'a str,
    seq: u64,
    epoch: u64,
    from: &'a str,
    text: &'a str,
    ts: String,
    kind: &'static str,
    reply_to: Option<u64>,
    target: Option<u64>,
    emoji: Option<&'a str>,
    on: Option<bool>,
}

/// A plain message as version 1's `{"room","seq","epoch","from","text","ts"}` (so scripts
/// reading messages see no change); any other entry as
/// `{"room","seq","epoch","from","text","ts","kind","reply_to","target","emoji","on"}`:
/// `kind` is `text` (a reply), `edit`, `delete` or `react`; fields that do not apply are
/// null.
pub fn entry_json_line(entry: &Entry) -> String {
    if let EntryBody::Text { reply_to: None, .. } = entry.body
        && let Some(msg) = entry.to_message()
    {
        return json_line(&msg);
    }
    let (kind, text, reply_to, target, emoji, on) = match &entry.body {
        EntryBody::Text { text, reply_to } => ("text", text.as_str(), *reply_to, None, None, None),
        EntryBody::Edit { target, text } => {
            ("edit", text.as_str(), None, Some(*target), None, None)
        }
        EntryBody::Delete { target } => ("delete", "", None, Some(*target), None, None),
        EntryBody::React { target, emoji, on } => (
            "react",
            "",
            None,
            Some(*target),
            Some(emoji.as_str()),
            Some(*on),
        ),
    };
    json_escaped(&JsonEntry {
        room: &entry.room,
        seq: entry.seq,
        epoch: entry.epoch,
        from: &entry.from,
        text,
        ts: rfc3339_ms(entry.ts),
        kind,
        reply_to,
        target,
        emoji,
        on,
    })
}

/// `[HH:MM:SS] #seq <from> text (edited) [👍 2]`, or `(deleted)` for a tombstone; a reply
/// names its target.
pub fn state_line(m: &MessageState) -> String {
    let mut line = format!("[{}] #{} <{}> ", clock(m.ts), m.seq, printable(&m.from));
    if let Some(to) = m.reply_to {
        line.push_str(&format!("(reply to #{to}) "));
    }
    if m.deleted {
        line.push_str("(deleted)");
        return line;
    }
    line.push_str(&printable(&m.text));
    if m.edited_ts != 0 {
        line.push_str(" (edited)");
    }
    if !m.reactions.is_empty() {
        let counts: Vec<String> = m
            .reactions
            .iter()
            .map(|r| format!("{} {}", printable(&r.emoji), r.nicks.len()))
            .collect();
        line.push_str(&format!(" [{}]", counts.join(" ")));
    }
    line
}

/// A message in its latest state as `history --json` prints it.
#[derive(Debug, Serialize)]
struct JsonState<'a> {
    room: &'a str,
    seq: u64,
    epoch: u64,
    from: &'a str,
    text: &'a str,
    ts: String,
    reply_to: Option<u64>,
    edited: Option<String>,
    deleted: bool,
    reactions: BTreeMap<&'a str, &'a [String]>,
}

/// `{"room","seq","epoch","from","text","ts","reply_to","edited","deleted","reactions"}`:
/// `edited` is when it was last edited (null: never), `reactions` maps each emoji to the
/// nicks that chose it.
pub fn state_json_line(room: &str, epoch: u64, m: &MessageState) -> String {
    json_escaped(&JsonState {
        room,
        seq: m.seq,
        epoch,
        from: &m.from,
        text: &m.text,
        ts: rfc3339_ms(m.ts),
        reply_to: m.reply_to,
        edited: (m.edited_ts != 0).then(|| rfc3339_ms(m.edited_ts)),
        deleted: m.deleted,
        reactions: m
            .reactions
            .iter()
            .map(|r| (r.emoji.as_str(), r.nicks.as_slice()))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use chitchat_protocol::{REACTIONS, ReactionCount};

    use super::*;

    fn entry(body: EntryBody) -> Entry {
        Entry {
            room: "lobby".into(),
            seq: 43,
            epoch: 7,
            from: "bob".into(),
            ts: 1_740_832_496_789,
            body,
        }
    }

    #[test]
    fn entries_as_lines() {
        let reply = EntryBody::Text {
            text: "yes".into(),
            reply_to: Some(42),
        };
        assert_eq!(
            entry_line(&entry(reply)),
            "[12:34:56] #43 <bob> (reply to #42) yes"
        );
        let edit = EntryBody::Edit {
            target: 42,
            text: "a\u{202e}b".into(),
        };
        assert_eq!(
            entry_line(&entry(edit)),
            "[12:34:56] #43 <bob> edited #42: a\\u{202e}b"
        );
        let delete = entry(EntryBody::Delete { target: 42 });
        assert_eq!(
            entry_chat_line(&delete),
            "[12:34:56] #lobby <bob> deleted #42"
        );
        let json: serde_json::Value = serde_json::from_str(&entry_json_line(&delete)).unwrap();
        assert_eq!(
            (json["kind"].as_str(), json["target"].as_u64()),
            (Some("delete"), Some(42))
        );
    }

    #[test]
    fn states_as_lines() {
        let mut m = MessageState {
            seq: 42,
            from: "ada".into(),
            ts: 1_740_832_496_789,
            text: "hi".into(),
            reply_to: None,
            edited_ts: 1_740_832_496_800,
            deleted: false,
            reactions: vec![ReactionCount {
                emoji: REACTIONS[0].into(),
                nicks: vec!["bob".into(), "cy".into()],
            }],
        };
        assert_eq!(
            state_line(&m),
            format!("[12:34:56] #42 <ada> hi (edited) [{} 2]", REACTIONS[0])
        );
        let json: serde_json::Value = serde_json::from_str(&state_json_line("r", 7, &m)).unwrap();
        assert_eq!(
            json["reactions"][REACTIONS[0]],
            serde_json::json!(["bob", "cy"])
        );
        m.deleted = true;
        assert_eq!(state_line(&m), "[12:34:56] #42 <ada> (deleted)");
    }
}
