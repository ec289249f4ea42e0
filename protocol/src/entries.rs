//! Log entries (protocol version 2): the reaction set, the edit bound, folding change entries
//! into a message's latest state, and recognising room frames of a later version.

use crate::{Entry, EntryBody, Message, MessageState, ReactionCount};

/// The most edits one message may have: enough to fix a typo many times over, few enough
/// that a message's edits stay a small part of its room's log.
pub const MAX_EDITS: u32 = 20;

/// The emoji a reaction may be, in the order a [`MessageState`] lists them: a small fixed set
/// keeps every reaction one short known string and every message's reactions bounded.
pub const REACTIONS: [&str; 8] = [
    "\u{1f44d}",
    "\u{2764}\u{fe0f}",
    "\u{1f602}",
    "\u{1f389}",
    "\u{1f62e}",
    "\u{1f622}",
    "\u{1f64f}",
    "\u{1f440}",
];

impl Entry {
    /// The entry as a version-1 [`Message`]: text entries only (a version-1 session never
    /// sees the other kinds).
    pub fn to_message(&self) -> Option<Message> {
        match &self.body {
            EntryBody::Text { text, .. } => Some(Message {
                room: self.room.clone(),
                seq: self.seq,
                epoch: self.epoch,
                from: self.from.clone(),
                ts: self.ts,
                text: text.clone(),
            }),
            _ => None,
        }
    }

    /// The message a change entry names; `None` for a text entry.
    pub fn target(&self) -> Option<u64> {
        match self.body {
            EntryBody::Text { .. } => None,
            EntryBody::Edit { target, .. }
            | EntryBody::Delete { target }
            | EntryBody::React { target, .. } => Some(target),
        }
    }
}

impl MessageState {
    /// A text entry as a message nobody has changed yet; `None` for a change entry.
    pub fn from_entry(entry: &Entry) -> Option<MessageState> {
        match &entry.body {
            EntryBody::Text { text, reply_to } => Some(MessageState {
                seq: entry.seq,
                from: entry.from.clone(),
                ts: entry.ts,
                text: text.clone(),
                reply_to: *reply_to,
                edited_ts: 0,
                deleted: false,
                reactions: Vec::new(),
            }),
            _ => None,
        }
    }

    /// Folds a change entry aimed at this message into its state. Entries for other
    /// messages, text entries and changes to a deleted message change nothing.
    pub fn apply(&mut self, entry: &Entry) {
        if self.deleted || entry.target() != Some(self.seq) {
            return;
        }
        match &entry.body {
            EntryBody::Text { .. } => {}
            EntryBody::Edit { text, .. } => {
                self.text.clone_from(text);
                self.edited_ts = entry.ts;
            }
            EntryBody::Delete { .. } => {
                self.deleted = true;
                self.text.clear();
                self.reactions.clear();
            }
            EntryBody::React { emoji, on, .. } => self.react(&entry.from, emoji, *on),
        }
    }

    /// Whether `nick` has reacted with `emoji`.
    pub fn has_reaction(&self, nick: &str, emoji: &str) -> bool {
        self.reactions
            .iter()
            .any(|r| r.emoji == emoji && r.nicks.iter().any(|n| n == nick))
    }

    /// Adds or removes `nick`'s `emoji`; unknown emoji are ignored.
    fn react(&mut self, nick: &str, emoji: &str, on: bool) {
        if !is_reaction(emoji) {
            return;
        }
        let at = self.reactions.iter().position(|r| r.emoji == emoji);
        match (at, on) {
            (Some(i), true) => {
                let nicks = &mut self.reactions[i].nicks;
                if let Err(j) = nicks.binary_search_by(|n| n.as_str().cmp(nick)) {
                    nicks.insert(j, nick.to_owned());
                }
            }
            (None, true) => {
                self.reactions.push(ReactionCount {
                    emoji: emoji.to_owned(),
                    nicks: vec![nick.to_owned()],
                });
                self.reactions.sort_by_key(|r| rank(&r.emoji));
            }
            (Some(i), false) => {
                let nicks = &mut self.reactions[i].nicks;
                nicks.retain(|n| n != nick);
                if nicks.is_empty() {
                    self.reactions.remove(i);
                }
            }
            (None, false) => {}
        }
    }
}

/// An emoji's place in [`REACTIONS`] (unknown ones last).
fn rank(emoji: &str) -> usize {
    REACTIONS
        .iter()
        .position(|e| *e == emoji)
        .unwrap_or(REACTIONS.len())
}

/// Whether `emoji` is one of [`REACTIONS`].
pub fn is_reaction(emoji: &str) -> bool {
    REACTIONS.contains(&emoji)
}
