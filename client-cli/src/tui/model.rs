//! The full-screen chat's state, pure: the rooms with their entries, unread and mention
//! counts, members and who is typing; one's own messages from pending to confirmed; the
//! connection as the status line tells it. The event loop changes it, the view reads it;
//! time comes in as milliseconds since the Unix epoch, so every rule here is unit-tested.

use chitchat_protocol::{EntryBody, Message, MessageState};

/// How many entries a room keeps: hours of a busy room, a few megabytes at most.
const ROOM_ENTRIES: usize = 5_000;

/// How long "nick is typing" stays after the last typing signal; senders repeat it every
/// few seconds while typing.
pub const TYPING_SHOWN_MS: u64 = 6_000;

/// One line of a room's view before layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A message: stored (`seq` set) or one's own still pending.
    Message(Posted),
    /// Something that happened (a join, a leave, an answer to a command), shown dim.
    Event { text: String, ts: u64 },
}

/// A message in a room's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// The seq once stored; `None` while one's own send is pending.
    pub seq: Option<u64>,
    /// The local id of one's own send (to confirm it by).
    pub local: Option<u64>,
    pub from: String,
    pub text: String,
    pub ts: u64,
    /// Why one's own send failed, if it did.
    pub failed: Option<String>,
    /// Edited or deleted since it was sent.
    pub mark: Mark,
}

/// What became of a message after it was sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mark {
    #[default]
    None,
    Edited,
    Deleted,
}

/// A joined room.
#[derive(Debug, Default)]
pub struct Room {
    pub name: String,
    pub entries: Vec<Entry>,
    /// Messages that came while another room was shown.
    pub unread: usize,
    /// Of those, the ones naming this user.
    pub mentions: usize,
    pub members: Vec<String>,
    /// The room's topic (`None` until the relay tells it; version 3 relays do on each join).
    pub topic: Option<String>,
    /// Nicks typing, with when their signal runs out.
    pub typing: Vec<(String, u64)>,
    /// Lines scrolled back from the newest (0: following the newest).
    pub scroll: usize,
    /// The unread messages' seqs, with whether each names this user (see `markers`).
    pub unread_seqs: Vec<(u64, bool)>,
    /// The highest read marker known: nothing at or below it counts as unread.
    pub read_to: u64,
    /// The newest seq the room has shown.
    pub newest: u64,
}

impl Room {
    fn new(name: &str) -> Self {
        Room {
            name: name.to_owned(),
            ..Room::default()
        }
    }

    fn push(&mut self, entry: Entry) {
        if self.entries.len() == ROOM_ENTRIES {
            self.entries.remove(0);
        }
        self.entries.push(entry);
        // Someone reading older lines keeps their place.
        if self.scroll > 0 {
            self.scroll += 1;
        }
    }

    fn has_seq(&self, seq: u64) -> bool {
        self.entries
            .iter()
            .any(|e| matches!(e, Entry::Message(p) if p.seq == Some(seq)))
    }

    /// The nicks typing at `now`, the newest signal last.
    pub fn typing_at(&self, now: u64) -> Vec<&str> {
        self.typing
            .iter()
            .filter(|(_, until)| *until > now)
            .map(|(nick, _)| nick.as_str())
            .collect()
    }
}

/// The connection as the status line shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// Connected to relay node `node` over `transport` (`quic`, `websocket`).
    Connected { node: String, transport: String },
    /// Lost; the next attempt at `at_ms` (`None`: under way).
    Reconnecting { at_ms: Option<u64>, why: String },
}

/// Everything the full-screen chat shows.
#[derive(Debug)]
pub struct App {
    pub nick: String,
    pub rooms: Vec<Room>,
    /// The room shown (an index into `rooms`).
    pub current: usize,
    /// What is shown while no room is joined.
    pub log: Vec<Entry>,
    pub link: Link,
    /// A short note in the status line (the last command's outcome or a problem).
    pub note: Option<String>,
    next_local: u64,
}

impl App {
    /// A chat as `nick`, connected to relay node `node` over `transport`.
    pub fn new(nick: &str, node: &str, transport: &str) -> Self {
        App {
            nick: nick.to_owned(),
            rooms: Vec::new(),
            current: 0,
            log: Vec::new(),
            link: Link::Connected {
                node: node.to_owned(),
                transport: transport.to_owned(),
            },
            note: None,
            next_local: 0,
        }
    }

    /// The room shown, if any room is joined.
    pub fn room(&self) -> Option<&Room> {
        self.rooms.get(self.current)
    }

    /// The shown room's name.
    pub fn current_name(&self) -> Option<String> {
        self.room().map(|r| r.name.clone())
    }

    /// The joined rooms' names.
    pub fn room_names(&self) -> Vec<String> {
        self.rooms.iter().map(|r| r.name.clone()).collect()
    }

    fn index(&self, room: &str) -> Option<usize> {
        self.rooms.iter().position(|r| r.name == room)
    }

    fn room_mut(&mut self, room: &str) -> Option<&mut Room> {
        self.rooms.iter_mut().find(|r| r.name == room)
    }

    /// A joined room, shown from now on, with its members and stored messages (oldest
    /// first; the ones shown already are not shown again).
    pub fn joined(&mut self, room: &str, members: Vec<String>, history: Vec<MessageState>) {
        let index = match self.index(room) {
            Some(i) => i,
            None => {
                self.rooms.push(Room::new(room));
                self.rooms.len() - 1
            }
        };
        let joined = &mut self.rooms[index];
        joined.members = members;
        let older: Vec<Entry> = history
            .into_iter()
            .filter(|m| !joined.has_seq(m.seq))
            .map(|m| Entry::Message(as_posted(m)))
            .collect();
        if let Some(Entry::Message(Posted { seq: Some(seq), .. })) = older.last() {
            joined.newest = joined.newest.max(*seq);
        }
        joined.entries.splice(0..0, older);
        joined.entries.truncate(ROOM_ENTRIES);
        self.switch(index);
    }

    /// Forgets a room left (or lost); shows a neighbour.
    pub fn left(&mut self, room: &str) {
        if let Some(i) = self.index(room) {
            self.rooms.remove(i);
            if self.current >= i && self.current > 0 {
                self.current -= 1;
            }
        }
    }

    /// Shows room `index` (ignored if there is none), clearing its unread counts.
    pub fn switch(&mut self, index: usize) {
        if let Some(room) = self.rooms.get_mut(index) {
            self.current = index;
            room.unread = 0;
            room.mentions = 0;
            room.unread_seqs.clear();
        }
    }

    /// Shows the next (`forward`) or previous room, round the list.
    pub fn cycle(&mut self, forward: bool) {
        let n = self.rooms.len();
        if n > 0 {
            let next = if forward {
                (self.current + 1) % n
            } else {
                (self.current + n - 1) % n
            };
            self.switch(next);
        }
    }

    /// One's own message, shown pending in `room` until [`App::sent`]; its local id.
    pub fn sending(&mut self, room: &str, text: &str, now: u64) -> u64 {
        self.next_local += 1;
        let local = self.next_local;
        let from = self.nick.clone();
        if let Some(r) = self.room_mut(room) {
            r.scroll = 0;
            r.push(Entry::Message(Posted {
                seq: None,
                local: Some(local),
                from,
                text: text.to_owned(),
                ts: now,
                failed: None,
                mark: Mark::None,
            }));
        }
        local
    }

    /// The relay stored one's own message `local` as `seq` at `ts`; if the room stream
    /// brought it first, the pending copy goes.
    pub fn sent(&mut self, room: &str, local: u64, seq: u64, ts: u64) {
        let Some(r) = self.room_mut(room) else { return };
        let came = r.has_seq(seq);
        let Some(i) = r.entries.iter().position(
            |e| matches!(e, Entry::Message(p) if p.local == Some(local) && p.seq.is_none()),
        ) else {
            return;
        };
        if came {
            r.entries.remove(i);
        } else if let Entry::Message(p) = &mut r.entries[i] {
            p.seq = Some(seq);
            p.ts = ts;
        }
    }

    /// One's own message `local` was not sent.
    pub fn send_failed(&mut self, room: &str, local: u64, why: &str) {
        let Some(r) = self.room_mut(room) else { return };
        for entry in &mut r.entries {
            if let Entry::Message(p) = entry
                && p.local == Some(local)
            {
                p.failed = Some(why.to_owned());
            }
        }
    }

    /// A message from a room's stream: shown once (one's own confirms its pending copy);
    /// counted unread (and as a mention if it names this user) unless its room is shown.
    pub fn message(&mut self, msg: Message) {
        let nick = self.nick.clone();
        let shown = self.current_name();
        let Some(r) = self.room_mut(&msg.room) else {
            return;
        };
        if r.has_seq(msg.seq) {
            return;
        }
        r.newest = r.newest.max(msg.seq);
        r.typing.retain(|(n, _)| *n != msg.from);
        if msg.from == nick {
            let pending = r.entries.iter_mut().find_map(|e| match e {
                Entry::Message(p)
                    if p.seq.is_none() && p.failed.is_none() && p.text == msg.text =>
                {
                    Some(p)
                }
                _ => None,
            });
            if let Some(p) = pending {
                p.seq = Some(msg.seq);
                p.ts = msg.ts;
                return;
            }
        } else if shown.as_deref() != Some(msg.room.as_str()) && msg.seq > r.read_to {
            let mention = mentions(&msg.text, &nick);
            r.unread += 1;
            r.unread_seqs.push((msg.seq, mention));
            if mention {
                r.mentions += 1;
            }
        }
        r.push(Entry::Message(posted(msg)));
    }

    /// A change to a message the room shows: an edit replaces its text, a delete leaves a
    /// tombstone; reactions and changes to messages not shown change nothing here.
    pub fn change(&mut self, entry: &chitchat_protocol::Entry) {
        let Some(r) = self.room_mut(&entry.room) else {
            return;
        };
        let Some(target) = entry.target() else { return };
        let Some(p) = r.entries.iter_mut().find_map(|e| match e {
            Entry::Message(p) if p.seq == Some(target) => Some(p),
            _ => None,
        }) else {
            return;
        };
        match &entry.body {
            EntryBody::Edit { text, .. } if p.mark != Mark::Deleted => {
                p.text.clone_from(text);
                p.mark = Mark::Edited;
            }
            EntryBody::Delete { .. } => {
                p.text.clear();
                p.mark = Mark::Deleted;
            }
            _ => {}
        }
    }

    /// Someone joined or left `room`.
    pub fn presence(&mut self, room: &str, nick: &str, joined: bool, now: u64) {
        let me = nick == self.nick;
        let Some(r) = self.room_mut(room) else { return };
        r.members.retain(|m| m != nick);
        if joined {
            r.members.push(nick.to_owned());
            r.members.sort();
        } else {
            r.typing.retain(|(n, _)| n != nick);
        }
        if !me {
            let verb = if joined { "joined" } else { "left" };
            r.push(Entry::Event {
                text: format!("{nick} {verb} #{room}"),
                ts: now,
            });
        }
    }

    /// `from` is now known as `to` in `room` (this user's own rename shows as "you are
    /// now ...").
    pub fn renamed(&mut self, room: &str, from: &str, to: &str, now: u64) {
        let me = from == self.nick || to == self.nick;
        let Some(r) = self.room_mut(room) else { return };
        r.members.retain(|m| m != from && m != to);
        r.members.push(to.to_owned());
        r.members.sort();
        r.typing.retain(|(n, _)| n != from);
        let text = if me {
            format!("you are now {to}")
        } else {
            format!("{from} is now known as {to}")
        };
        r.push(Entry::Event { text, ts: now });
    }

    /// `room`'s topic, as it stands at a join or as `by` (empty: the server API) changed it:
    /// shown in the status line, and a change since the last one known is a line in the room.
    pub fn topic(&mut self, room: &str, topic: String, by: &str, now: u64) {
        let Some(r) = self.room_mut(room) else { return };
        let known = r.topic.replace(topic.clone());
        let Some(known) = known else { return };
        if known == topic {
            return;
        }
        let text = match (by.is_empty(), topic.is_empty()) {
            (true, true) => "the topic was cleared".to_owned(),
            (true, false) => format!("the topic is now: {topic}"),
            (false, true) => format!("{by} cleared the topic"),
            (false, false) => format!("{by} set the topic: {topic}"),
        };
        r.push(Entry::Event { text, ts: now });
    }

    /// `nick` is typing in `room`.
    pub fn typing(&mut self, room: &str, nick: &str, now: u64) {
        if nick == self.nick {
            return;
        }
        if let Some(r) = self.room_mut(room) {
            r.typing.retain(|(n, until)| n != nick && *until > now);
            r.typing.push((nick.to_owned(), now + TYPING_SHOWN_MS));
        }
    }

    /// A dim line in `room` (or in the shown room, or the log when no room is joined).
    pub fn event(&mut self, room: Option<&str>, text: impl Into<String>, now: u64) {
        let entry = Entry::Event {
            text: text.into(),
            ts: now,
        };
        let room = room.map(str::to_owned).or_else(|| self.current_name());
        match room.and_then(|r| self.index(&r)) {
            Some(i) => self.rooms[i].push(entry),
            None => {
                if self.log.len() == ROOM_ENTRIES {
                    self.log.remove(0);
                }
                self.log.push(entry);
            }
        }
    }

    /// Scrolls the shown room back (`up`) or forward by `lines`.
    pub fn scroll(&mut self, up: bool, lines: usize) {
        let current = self.current;
        if let Some(r) = self.rooms.get_mut(current) {
            r.scroll = if up {
                r.scroll.saturating_add(lines)
            } else {
                r.scroll.saturating_sub(lines)
            };
        }
    }
}

fn posted(msg: Message) -> Posted {
    Posted {
        seq: Some(msg.seq),
        local: None,
        from: msg.from,
        text: msg.text,
        ts: msg.ts,
        failed: None,
        mark: Mark::None,
    }
}

/// A message from a history page, in its latest state: an edited one marked, a deleted one
/// a tombstone.
fn as_posted(m: MessageState) -> Posted {
    let mark = if m.deleted {
        Mark::Deleted
    } else if m.edited_ts != 0 {
        Mark::Edited
    } else {
        Mark::None
    };
    Posted {
        seq: Some(m.seq),
        local: None,
        from: m.from,
        text: m.text,
        ts: m.ts,
        failed: None,
        mark,
    }
}

/// Whether `text` names `nick`: `@nick`, or the nick as a whole word (case-insensitive).
pub fn mentions(text: &str, nick: &str) -> bool {
    if nick.is_empty() {
        return false;
    }
    let nick = nick.to_lowercase();
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .any(|word| word == nick)
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
