//! The full-screen chat's event loop: one select over the terminal's events, the session's
//! events, the answers to requests and a clock tick; every change goes through the model
//! ([`App`], [`Input`]) and the screen is drawn after each. Requests to the session run as
//! tasks whose answers come back as [`Done`], so the screen never waits on the relay; sends
//! go through one task, in order, waiting out the rate limit.

use chitchat_protocol::{MessageState, ResumeOutcome, Welcome};
use crossterm::event::EventStream;
use futures::StreamExt;
use futures::future::BoxFuture;
use tokio::sync::mpsc;

use super::command::{self, Line, ROOMS_SHOWN};
use super::input::{Candidates, Input};
use super::keys::{self, Action, WHEEL_LINES};
use super::markers::Marking;
use super::model::{App, Link};
use super::pace::patiently;
use super::view::{self, Drawn, Theme};
use super::{Screen, transport_name};
use crate::cli::rooms::directory_lines;
use crate::client::rooms::RoomPage;
use crate::logs;
use crate::session::{SessionEvent, SessionEvents, SessionHandle};
use crate::token::now_ms;
use crate::{ClientError, Sent};

/// How many stored messages a join shows: a screenful and more to scroll back into.
const HISTORY_ON_JOIN: u16 = 100;

/// How often typing is signalled while one types: under the receivers' display time
/// ([`super::model::TYPING_SHOWN_MS`]), so the line stays up while the typing goes on.
const TYPING_EVERY_MS: u64 = 3_000;

/// How often the screen is redrawn without events: the reconnect countdown counts seconds.
const TICK: std::time::Duration = std::time::Duration::from_millis(500);

const HELP: &[&str] = &[
    "commands: /join #ROOM, /leave [#ROOM], /who [#ROOM], /rooms [TEXT] (the directory), \
     /me ACTION, /nick NAME, /quit, /help; //text sends a line starting with '/'",
    "/nick renames you on the live session: others see 'OLD is now known as NEW' (a relay \
     older than protocol version 3: it reconnects, and others see a leave and a join)",
    "keys: Alt-1..9 or Ctrl-N/Ctrl-P switch rooms; PgUp/PgDn or the wheel scroll; Up/Down \
     recall sent lines; Tab completes nicks, #rooms and /commands; Ctrl-A/E/W/U edit; \
     Ctrl-C quits",
];

/// What a request task answered.
enum Done {
    Joined {
        room: String,
        result: Result<(Vec<String>, Vec<MessageState>), ClientError>,
    },
    Left {
        room: String,
        result: Result<(), ClientError>,
    },
    Sent {
        room: String,
        local: u64,
        result: Result<Sent, ClientError>,
    },
    Who {
        room: String,
        result: Result<Vec<String>, ClientError>,
    },
    Rooms {
        search: String,
        result: Result<RoomPage, ClientError>,
    },
    Nick(Result<Welcome, ClientError>),
}

/// The chat's state and its links to the session.
pub struct Chat {
    app: App,
    input: Input,
    session: SessionHandle,
    theme: Theme,
    drawn: Drawn,
    done_tx: mpsc::UnboundedSender<Done>,
    done: mpsc::UnboundedReceiver<Done>,
    sends: mpsc::UnboundedSender<(String, u64, String)>,
    last_typing: u64,
    /// The read markers sent for the shown room.
    marking: Marking,
}

impl Chat {
    /// A chat over `session` showing `app`.
    pub fn new(session: SessionHandle, app: App, theme: Theme) -> Self {
        let (done_tx, done) = mpsc::unbounded_channel();
        let (sends, queue) = mpsc::unbounded_channel();
        tokio::spawn(send_in_order(session.clone(), queue, done_tx.clone()));
        Chat {
            app,
            input: Input::default(),
            session,
            theme,
            drawn: Drawn::default(),
            done_tx,
            done,
            sends,
            last_typing: 0,
            marking: Marking::default(),
        }
    }

    /// Runs until /quit, Ctrl-C, `interrupted` or the session's end (an error).
    pub async fn run(
        mut self,
        screen: &mut Screen,
        mut events: SessionEvents,
        first_room: &str,
        mut interrupted: BoxFuture<'static, ()>,
    ) -> anyhow::Result<()> {
        let mut keys = EventStream::new();
        let mut tick = tokio::time::interval(TICK);
        self.join(first_room);
        loop {
            // A log line while the screen is up: its words in the status line (logs.rs).
            if let Some(line) = logs::take_unseen() {
                self.app.note = Some(line);
            }
            // The shown room is read up to its newest message: the user's other sessions
            // hear it (version 3).
            if let Some((room, seq)) = self.app.to_mark(&mut self.marking, now_ms()) {
                self.session.mark_read(&room, seq);
            }
            self.draw(screen)?;
            tokio::select! {
                key = keys.next() => match key {
                    Some(Ok(event)) => {
                        if !self.act(keys::action(&event)) {
                            return Ok(());
                        }
                    }
                    Some(Err(e)) => return Err(anyhow::anyhow!("cannot read the terminal: {e}")),
                    None => return Ok(()),
                },
                event = events.next() => match event {
                    Some(SessionEvent::Fatal(e)) => return Err(e.into()),
                    Some(event) => self.show(event),
                    None => return Err(anyhow::anyhow!("the session ended")),
                },
                Some(done) = self.done.recv() => self.finish(done),
                _ = tick.tick() => {}
                _ = &mut interrupted => return Ok(()),
            }
        }
    }

    fn draw(&mut self, screen: &mut Screen) -> anyhow::Result<()> {
        let now = now_ms();
        let (app, input, theme) = (&self.app, &self.input, self.theme);
        let mut drawn = Drawn::default();
        screen
            .terminal
            .draw(|frame| drawn = view::draw(frame, app, input, theme, now))?;
        self.drawn = drawn;
        let current = self.app.current;
        if let Some(room) = self.app.rooms.get_mut(current) {
            room.scroll = room.scroll.min(drawn.max_scroll);
        }
        Ok(())
    }

    /// Acts on a key or mouse event; `false` to quit.
    fn act(&mut self, action: Action) -> bool {
        match action {
            Action::Insert(c) => {
                self.input.insert(c);
                self.typed();
            }
            Action::Backspace => self.input.backspace(),
            Action::Delete => self.input.delete(),
            Action::EndOfInput if self.input.is_empty() => return false,
            Action::EndOfInput => self.input.delete(),
            Action::Left => self.input.left(),
            Action::Right => self.input.right(),
            Action::Home => self.input.home(),
            Action::End => self.input.end(),
            Action::DeleteWord => self.input.delete_word(),
            Action::DeleteToStart => self.input.delete_to_start(),
            Action::HistoryBack => self.input.up(),
            Action::HistoryForward => self.input.down(),
            Action::Complete => {
                let nicks = self
                    .app
                    .room()
                    .map(|r| r.members.clone())
                    .unwrap_or_default();
                let rooms = self.app.room_names();
                self.input.complete(&Candidates {
                    nicks: &nicks,
                    rooms: &rooms,
                });
            }
            Action::Enter => {
                let line = self.input.take();
                return self.command(&line);
            }
            Action::Page(up) => self
                .app
                .scroll(up, self.drawn.page.saturating_sub(2).max(1)),
            Action::Wheel(up) => self.app.scroll(up, WHEEL_LINES),
            Action::Room(i) => self.app.switch(i),
            Action::Cycle(forward) => self.app.cycle(forward),
            Action::Quit => return false,
            Action::Redraw => {}
        }
        true
    }

    /// Tells the shown room this user is typing, at most every [`TYPING_EVERY_MS`].
    fn typed(&mut self) {
        let now = now_ms();
        if self.input.text().starts_with('/') || now < self.last_typing + TYPING_EVERY_MS {
            return;
        }
        if let Some(room) = self.app.current_name() {
            self.last_typing = now;
            self.session.typing(&room);
        }
    }

    /// Handles an entered line; `false` to quit.
    fn command(&mut self, line: &str) -> bool {
        let now = now_ms();
        self.app.note = None;
        match command::parse(line) {
            Line::Empty => {}
            Line::Say(text) | Line::Me(text) => self.say(text),
            Line::Join(room) => self.join(&room),
            Line::Leave(room) => {
                if let Some(room) = self.room_or_current(room) {
                    let session = self.session.clone();
                    self.spawn(async move {
                        let result = session.leave(&room).await;
                        Done::Left { room, result }
                    });
                }
            }
            Line::Nick(nick) => {
                self.app.note = Some(format!("changing your nick to {nick}"));
                let session = self.session.clone();
                self.spawn(async move { Done::Nick(session.set_nick(&nick).await) });
            }
            Line::Who(room) => {
                if let Some(room) = self.room_or_current(room) {
                    let session = self.session.clone();
                    self.spawn(async move {
                        let result = session.who(&room).await;
                        Done::Who { room, result }
                    });
                }
            }
            Line::Rooms(search) => {
                let session = self.session.clone();
                self.spawn(async move {
                    let result = session.list_rooms(&search, ROOMS_SHOWN).await;
                    Done::Rooms { search, result }
                });
            }
            Line::Help => HELP.iter().for_each(|h| self.app.event(None, *h, now)),
            Line::Quit => return false,
            Line::Missing(name) => {
                self.app.note = Some(format!("/{name} needs an argument; see /help"));
            }
            Line::Unknown(name) => {
                self.app.note = Some(format!("unknown command /{name}; see /help"));
            }
        }
        true
    }

    /// The room a command names, else the shown one; `None` (and a note) if neither.
    fn room_or_current(&mut self, room: Option<String>) -> Option<String> {
        let room = room.or_else(|| self.app.current_name());
        if room.is_none() {
            self.app.note = Some("not in any room".into());
        }
        room
    }

    fn say(&mut self, text: String) {
        let Some(room) = self.app.current_name() else {
            self.app.note = Some("not in any room; /join #ROOM first".into());
            return;
        };
        let local = self.app.sending(&room, &text, now_ms());
        // The send task outlives every send it is given; if it is gone, so is the session.
        let _ = self.sends.send((room, local, text));
    }

    /// Joins `room`, or shows it if joined already.
    fn join(&mut self, room: &str) {
        if let Some(i) = self.app.rooms.iter().position(|r| r.name == room) {
            self.app.switch(i);
            return;
        }
        if let Err(e) = chitchat_protocol::validate_room(room) {
            self.app.note = Some(format!("cannot join #{room}: {}", ClientError::from(e)));
            return;
        }
        self.app.note = Some(format!("joining #{room}"));
        let session = self.session.clone();
        let room = room.to_owned();
        self.spawn(async move {
            let result = async {
                let joined = session.join(&room, None).await?;
                let mut history = Vec::new();
                if joined.last_seq > 0 {
                    // Up to and including the newest at join time; newer ones come live.
                    let before = Some(joined.last_seq + 1);
                    history = session
                        .history_states(&room, before, HISTORY_ON_JOIN)
                        .await?
                        .messages;
                }
                Ok((joined.members, history))
            }
            .await;
            Done::Joined { room, result }
        });
    }

    fn spawn(&self, task: impl Future<Output = Done> + Send + 'static) {
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            let _ = done.send(task.await);
        });
    }

    /// A request's answer.
    fn finish(&mut self, done: Done) {
        let now = now_ms();
        match done {
            Done::Joined { room, result } => match result {
                Ok((members, history)) => {
                    self.app.joined(&room, members, history);
                    self.app.note = Some(format!("joined #{room}"));
                }
                Err(e) => self.app.note = Some(format!("cannot join #{room}: {e}")),
            },
            Done::Left { room, result } => {
                self.app.left(&room);
                self.app.note = Some(match result {
                    Ok(()) => format!("left #{room}"),
                    Err(e) => format!("left #{room} ({e})"),
                });
            }
            Done::Sent {
                room,
                local,
                result,
            } => match result {
                Ok(sent) => self.app.sent(&room, local, sent.seq, sent.ts),
                Err(e) => self.app.send_failed(&room, local, &e.to_string()),
            },
            Done::Who { room, result } => match result {
                Ok(members) => {
                    let text = format!("in #{room}: {}", members.join(", "));
                    self.app.event(Some(&room), text, now);
                }
                Err(e) => self.app.note = Some(format!("cannot list #{room}: {e}")),
            },
            Done::Rooms { search, result } => match result {
                // In the room shown, where the person asked.
                Ok(page) => {
                    let room = self.app.current_name();
                    for line in directory_lines(&search, &page) {
                        self.app.event(room.as_deref(), line, now);
                    }
                }
                Err(e) => self.app.note = Some(format!("cannot list the rooms: {e}")),
            },
            Done::Nick(result) => match result {
                Ok(welcome) => {
                    self.app.nick = welcome.nick.clone();
                    self.app.note = Some(if welcome.version >= 3 {
                        format!("you are now {}", welcome.nick)
                    } else {
                        format!(
                            "you are now {}; others saw a leave and a join",
                            welcome.nick
                        )
                    });
                }
                Err(e) => self.app.note = Some(format!("nick not changed: {e}")),
            },
        }
    }

    /// A session event. Connection changes go to the status line only.
    fn show(&mut self, event: SessionEvent) {
        let now = now_ms();
        match event {
            SessionEvent::Message(msg) => self.app.message(msg),
            SessionEvent::Entry(entry) => match entry.to_message() {
                Some(msg) => self.app.message(msg),
                None => self.app.change(&entry),
            },
            SessionEvent::Presence { room, nick, joined } => {
                self.app.presence(&room, &nick, joined, now)
            }
            SessionEvent::Typing { room, nick } => self.app.typing(&room, &nick, now),
            SessionEvent::Renamed { room, from, to } => self.app.renamed(&room, &from, &to, now),
            SessionEvent::Topic { room, topic, by } => self.app.topic(&room, topic, &by, now),
            SessionEvent::ReadMarker { room, seq } => self.app.marker(&room, seq),
            SessionEvent::Disconnected { relay, reason } => {
                self.app.link = Link::Reconnecting {
                    at_ms: None,
                    why: format!("lost {relay}: {reason}"),
                };
            }
            SessionEvent::Moving {
                relay,
                reconnect_in,
                ..
            } => {
                self.app.link = Link::Reconnecting {
                    at_ms: Some(now + reconnect_in.as_millis() as u64),
                    why: format!("{relay} is going away"),
                };
            }
            SessionEvent::ConnectFailed { error, retry_in } => {
                self.app.link = Link::Reconnecting {
                    at_ms: Some(now + retry_in.as_millis() as u64),
                    why: error.to_string(),
                };
            }
            SessionEvent::Connected { relay, welcome } => {
                self.app.nick = welcome.nick;
                self.app.link = Link::Connected {
                    node: welcome.node_id,
                    transport: transport_name(&relay).to_owned(),
                };
            }
            SessionEvent::Resumed { room, outcome, .. } => match outcome {
                ResumeOutcome::EpochChanged => {
                    self.app
                        .event(Some(&room), "the room's history was reset", now)
                }
                ResumeOutcome::Truncated { first_seq } => self.app.event(
                    Some(&room),
                    format!("messages before #{first_seq} are no longer stored"),
                    now,
                ),
                ResumeOutcome::Live | ResumeOutcome::Resumed => {}
            },
            SessionEvent::RejoinFailed { room, error, .. } => {
                self.app.note = Some(format!("cannot re-join #{room} yet: {error}"));
            }
            SessionEvent::RoomLost { room, error } => {
                self.app.left(&room);
                self.app.note = Some(format!("no longer in #{room}: {error}"));
            }
            SessionEvent::Refreshed { .. } => {}
            SessionEvent::RefreshFailed { error, .. } => {
                self.app.note = Some(format!("cannot refresh the sign-in token: {error}"));
            }
            SessionEvent::Notice { code, message } => {
                self.app.note = Some(format!("relay: {} ({message})", code.name()));
            }
            // Handled by the loop.
            SessionEvent::Fatal(_) => {}
        }
    }
}

/// Sends each queued line in turn, waiting out the rate limit, and reports each outcome.
async fn send_in_order(
    session: SessionHandle,
    mut queue: mpsc::UnboundedReceiver<(String, u64, String)>,
    done: mpsc::UnboundedSender<Done>,
) {
    while let Some((room, local, text)) = queue.recv().await {
        let result = patiently(|| session.send(&room, &text)).await;
        if done
            .send(Done::Sent {
                room,
                local,
                result,
            })
            .is_err()
        {
            return;
        }
    }
}
