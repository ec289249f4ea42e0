//! `chitchat chat ROOM`: the full-screen chat ([`crate::tui`]) when stdin and stdout are
//! terminals, else (or with `--line`) line-mode chat on stdin/stdout. In line mode lines go
//! to the current room; `/`-commands join, leave, rename, list. stdin is read line by line,
//! every output line is flushed, EOF quits. Sends wait out the relay's rate limit, so no
//! piped line is dropped; a line the relay refuses for another reason is counted, and the
//! command then fails naming how many were not sent.
//!
//! Output lines: messages as `[HH:MM:SS] #room <nick> text`, events as `* ...`, problems as
//! `! ...`. One's own message is printed once, when the room stream brings it back (on a
//! terminal the echoed typed line is erased first).

use std::collections::HashMap;
use std::future::Future;
use std::io::IsTerminal;

use chitchat_protocol::{ResumeOutcome, validate_room};
use tokio::sync::mpsc;

use super::rooms::directory_lines;
use super::{check_room, interrupted, print_line};
use crate::ClientError;
use crate::entry_output::entry_chat_line;
use crate::options::Context;
use crate::output::{chat_line, clock, printable, topic_line};
use crate::session::{SessionEvent, SessionEvents, SessionHandle};
use crate::tui::command::{self, Line, ROOMS_SHOWN};
use crate::tui::pace::patiently;

/// How many stored messages a join shows: enough to see what the room is about.
const HISTORY_ON_JOIN: u16 = 20;

/// How many lines read from stdin wait for their turn to be sent: reading stops there, so a
/// large pipe is read as fast as it is sent, not into memory.
const STDIN_QUEUE: usize = 64;

/// Cursor up one line, then clear it: erases the line the terminal echoed as it was typed.
const ERASE_ECHO: &str = "\x1b[1A\x1b[2K";

const HELP: &str = "\
* commands:
*   /join ROOM     join ROOM (or switch to it) and talk there; #ROOM works too
*   /leave [ROOM]  leave ROOM (default: the current room)
*   /nick NAME     change your nick (others see 'OLD is now known as NEW'; with a relay
*                  older than protocol version 3 it reconnects: a leave and a join)
*   /who [ROOM]    who is in ROOM (default: the current room)
*   /rooms [TEXT]  the rooms you are in, and the directory's (those matching TEXT)
*   /me ACTION     an action line, shown as '* nick ACTION'
*   /quit          leave (so does end of input)
*   //text         send a line starting with '/'";

/// Runs the chat until /quit, end of input, or a fatal error: full-screen on a terminal
/// unless `line`, line mode otherwise.
pub async fn run(ctx: &Context, room: &str, line: bool) -> anyhow::Result<()> {
    let room = command::room_name(room);
    check_room(room)?;
    // Ctrl-C quits like /quit: the others see this user leave at once.
    let mut interrupted = interrupted();
    let (session, events) = tokio::select! {
        started = ctx.start_session() => started?,
        _ = &mut interrupted => return Ok(()),
    };
    if !line && std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        return crate::tui::run(&ctx.session(), session, events, room, interrupted).await;
    }
    let welcome = session.welcome();
    let mut chat = Chat {
        session,
        events,
        events_done: false,
        fatal: None,
        nick: welcome.nick.clone(),
        rooms: Vec::new(),
        current: None,
        unsent: 0,
        erase_echo: std::io::stdin().is_terminal() && std::io::stdout().is_terminal(),
        topics: HashMap::new(),
    };
    chat.say(&format!(
        "* connected as {} (relay {})",
        welcome.nick, welcome.node_id
    ))?;
    if let Err(e) = chat.join(room).await {
        chat.session.close().await;
        return Err(e.into());
    }
    let mut lines = read_stdin_lines();
    let result = loop {
        if let Some(e) = chat.fatal.take() {
            break Err(e.into());
        }
        tokio::select! {
            line = lines.recv() => match line {
                Some(Ok(line)) => match chat.command(&line).await {
                    Ok(true) => {}
                    Ok(false) => break Ok(()),
                    Err(e) => break Err(e),
                },
                Some(Err(e)) => break Err(anyhow::anyhow!("cannot read stdin: {e}")),
                None => break Ok(()),
            },
            event = chat.events.next(), if !chat.events_done => match event {
                Some(event) => chat.show(event)?,
                None => {
                    chat.events_done = true;
                    if chat.fatal.is_none() {
                        break Err(anyhow::anyhow!("the session ended"));
                    }
                }
            },
            _ = &mut interrupted => break Ok(()),
        }
    };
    chat.session.close().await;
    result?;
    match chat.unsent {
        0 => Ok(()),
        1 => Err(anyhow::anyhow!("1 line was not sent")),
        n => Err(anyhow::anyhow!("{n} lines were not sent")),
    }
}

/// Reads stdin on its own thread (a blocking read must not hold up the runtime, and must not
/// keep it from shutting down after /quit), one line per message; the channel closes at EOF.
fn read_stdin_lines() -> mpsc::Receiver<std::io::Result<String>> {
    let (tx, rx) = mpsc::channel(STDIN_QUEUE);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let stop = line.is_err();
            if tx.blocking_send(line).is_err() || stop {
                break;
            }
        }
    });
    rx
}

struct Chat {
    session: SessionHandle,
    events: SessionEvents,
    events_done: bool,
    /// The session gave up; the chat ends with this error.
    fatal: Option<ClientError>,
    nick: String,
    /// Joined rooms, in joining order.
    rooms: Vec<String>,
    /// Where plain lines go.
    current: Option<String>,
    /// Lines the relay refused (for another reason than the rate limit).
    unsent: usize,
    /// Whether a typed line's echo is erased (stdin and stdout are a terminal).
    erase_echo: bool,
    /// Each joined room's topic as last shown (a rejoin tells it again; shown once).
    topics: HashMap<String, String>,
}

impl Chat {
    fn say(&self, line: &str) -> anyhow::Result<()> {
        print_line(line)?;
        Ok(())
    }

    /// Waits for `fut` while still showing events, so a request never stalls the session's
    /// event flow (nor the other way round).
    async fn during<T>(&mut self, fut: impl Future<Output = T>) -> anyhow::Result<T> {
        tokio::pin!(fut);
        loop {
            tokio::select! {
                biased;
                out = &mut fut => return Ok(out),
                event = self.events.next(), if !self.events_done => match event {
                    Some(event) => self.show(event)?,
                    None => self.events_done = true,
                },
            }
        }
    }

    /// Handles one input line; `false` to quit.
    async fn command(&mut self, line: &str) -> anyhow::Result<bool> {
        if self.erase_echo {
            print!("{ERASE_ECHO}");
        }
        match command::parse(line) {
            Line::Empty => {}
            Line::Say(text) | Line::Me(text) => self.send(&text).await?,
            Line::Quit => return Ok(false),
            Line::Join(room) => {
                if let Err(e) = self.join(&room).await {
                    self.say(&format!("! cannot join #{room}: {e}"))?;
                }
            }
            Line::Leave(room) => self.leave(room.as_deref()).await?,
            Line::Nick(nick) => {
                let session = self.session.clone();
                match self.during(session.set_nick(&nick)).await? {
                    Ok(welcome) if welcome.version >= 3 => {
                        self.nick = welcome.nick.clone();
                        self.say(&format!("* you are now {}", welcome.nick))?;
                    }
                    Ok(welcome) => {
                        self.nick = welcome.nick.clone();
                        self.say(&format!(
                            "* you are now {} (others saw you leave and join again)",
                            welcome.nick
                        ))?;
                    }
                    Err(e) => self.say(&format!("! nick not changed: {e}"))?,
                }
            }
            Line::Who(room) => {
                let Some(room) = room.or_else(|| self.current.clone()) else {
                    self.say("! not in any room; /join ROOM first")?;
                    return Ok(true);
                };
                let session = self.session.clone();
                match self.during(session.who(&room)).await? {
                    Ok(members) => self.say(&format!("* in #{room}: {}", members.join(", ")))?,
                    Err(e) => self.say(&format!("! cannot list #{room}: {e}"))?,
                }
            }
            Line::Rooms(search) => {
                let line = match &self.current {
                    None => "* not in any room".to_owned(),
                    Some(current) => {
                        let rooms: Vec<String> =
                            self.rooms.iter().map(|r| format!("#{r}")).collect();
                        format!("* rooms: {} (talking in #{current})", rooms.join(", "))
                    }
                };
                self.say(&line)?;
                let session = self.session.clone();
                match self
                    .during(session.list_rooms(&search, ROOMS_SHOWN))
                    .await?
                {
                    Ok(page) => {
                        for line in directory_lines(&search, &page) {
                            self.say(&format!("* {line}"))?;
                        }
                    }
                    Err(e) => self.say(&format!("! cannot list the rooms: {e}"))?,
                }
            }
            Line::Help => self.say(HELP)?,
            Line::Missing(name) => self.say(&format!("! /{name} needs an argument; see /help"))?,
            Line::Unknown(name) => self.say(&format!("! unknown command /{name}; see /help"))?,
        }
        Ok(true)
    }

    async fn send(&mut self, text: &str) -> anyhow::Result<()> {
        let Some(room) = self.current.clone() else {
            return self.say("! not in any room; /join ROOM first");
        };
        let session = self.session.clone();
        // Success shows when the message comes back on the room stream; a rate-limited send
        // waits and goes again.
        if let Err(e) = self.during(patiently(|| session.send(&room, text))).await? {
            self.unsent += 1;
            self.say(&format!("! not sent: {e}"))?;
        }
        Ok(())
    }

    /// Joins `room` (or switches to it if already joined) and shows its recent history.
    async fn join(&mut self, room: &str) -> Result<(), ClientError> {
        validate_room(room)?;
        if self.rooms.iter().any(|r| r == room) {
            self.current = Some(room.to_owned());
            let _ = self.say(&format!("* talking in #{room}"));
            return Ok(());
        }
        let session = self.session.clone();
        let joined = self
            .during(session.join(room, None))
            .await
            .map_err(|e| ClientError::Unexpected(e.to_string()))??;
        self.rooms.push(room.to_owned());
        self.current = Some(room.to_owned());
        let _ = self.say(&format!(
            "* joined #{room} ({} here: {})",
            joined.members.len(),
            joined.members.join(", ")
        ));
        if joined.last_seq > 0 {
            // Up to and including the newest at join time; newer ones arrive live.
            let page = self
                .during(session.history(room, Some(joined.last_seq + 1), HISTORY_ON_JOIN))
                .await
                .map_err(|e| ClientError::Unexpected(e.to_string()))?;
            match page {
                Ok(page) => {
                    for msg in &page.messages {
                        let _ = self.say(&chat_line(msg));
                    }
                }
                Err(e) => {
                    let _ = self.say(&format!("! no history for #{room}: {e}"));
                }
            }
        }
        Ok(())
    }

    async fn leave(&mut self, room: Option<&str>) -> anyhow::Result<()> {
        let Some(room) = room.map(str::to_owned).or_else(|| self.current.clone()) else {
            return self.say("! not in any room");
        };
        if !self.rooms.contains(&room) {
            return self.say(&format!("! not in #{room}"));
        }
        let session = self.session.clone();
        let left = self.during(session.leave(&room)).await?;
        self.rooms.retain(|r| *r != room);
        if let Err(e) = left {
            self.say(&format!("! leaving #{room}: {e}"))?;
        }
        self.say(&format!("* left #{room}"))?;
        if self.current.as_deref() == Some(room.as_str()) {
            self.current = self.rooms.last().cloned();
            match &self.current {
                Some(current) => self.say(&format!("* talking in #{current}"))?,
                None => self.say("* not in any room; /join ROOM")?,
            }
        }
        Ok(())
    }

    /// Shows a session event.
    fn show(&mut self, event: SessionEvent) -> anyhow::Result<()> {
        match event {
            SessionEvent::Message(msg) => self.say(&chat_line(&msg)),
            SessionEvent::Entry(entry) => self.say(&entry_chat_line(&entry)),
            SessionEvent::Presence { room, nick, joined } => {
                // Our own joins and leaves are shown as they happen.
                if nick == self.nick {
                    return Ok(());
                }
                let verb = if joined { "joined" } else { "left" };
                self.say(&format!("* {nick} {verb} #{room}"))
            }
            SessionEvent::Typing { .. } | SessionEvent::ReadMarker { .. } => Ok(()),
            SessionEvent::Topic { room, topic, by } => {
                let first = !self.topics.contains_key(&room);
                if self.topics.get(&room) == Some(&topic) || (first && topic.is_empty()) {
                    self.topics.insert(room, topic);
                    return Ok(());
                }
                let line = if first {
                    format!("* topic of #{room}: {}", printable(&topic))
                } else {
                    topic_line(&room, &topic, &by, crate::token::now_ms())
                };
                self.topics.insert(room, topic);
                self.say(&line)
            }
            SessionEvent::Renamed { room, from, to } => {
                // Our own rename is shown as it happens.
                if to == self.nick {
                    return Ok(());
                }
                self.say(&format!("* {from} is now known as {to} in #{room}"))
            }
            SessionEvent::Disconnected { relay, reason } => {
                self.say(&format!("* {relay}: {reason}; reconnecting"))
            }
            SessionEvent::Moving {
                relay,
                message,
                reconnect_in,
            } => self.say(&format!(
                "* {relay} is going away ({message}); reconnecting in {} ms",
                reconnect_in.as_millis()
            )),
            SessionEvent::ConnectFailed { error, retry_in } => self.say(&format!(
                "! {error}; retrying in {} ms",
                retry_in.as_millis()
            )),
            SessionEvent::Connected { relay, welcome } => {
                self.nick = welcome.nick.clone();
                self.say(&format!("* connected to {relay} as {}", welcome.nick))
            }
            SessionEvent::Resumed { room, outcome, .. } => match outcome {
                ResumeOutcome::EpochChanged => {
                    self.say(&format!("* the history of #{room} was reset"))
                }
                ResumeOutcome::Truncated { first_seq } => self.say(&format!(
                    "* messages of #{room} before #{first_seq} are no longer stored"
                )),
                ResumeOutcome::Live | ResumeOutcome::Resumed => Ok(()),
            },
            SessionEvent::RejoinFailed {
                room,
                error,
                retry_in,
            } => self.say(&format!(
                "! cannot re-join #{room} yet: {error}; retrying in {} ms",
                retry_in.as_millis()
            )),
            SessionEvent::RoomLost { room, error } => {
                self.rooms.retain(|r| *r != room);
                if self.current.as_deref() == Some(room.as_str()) {
                    self.current = self.rooms.last().cloned();
                }
                self.say(&format!("! no longer in #{room}: {error}"))
            }
            // Refreshing a token is silent; failing to is not.
            SessionEvent::Refreshed { .. } => Ok(()),
            SessionEvent::RefreshFailed { error, expires_ms } => self.say(&format!(
                "! cannot refresh the sign-in token: {error}; the relay ends the session at {} UTC",
                clock(expires_ms)
            )),
            SessionEvent::Notice { code, message } => self.say(&format!(
                "! relay: {} ({}): {message}",
                code.description(),
                code.name()
            )),
            SessionEvent::Fatal(e) => {
                self.fatal = Some(e);
                Ok(())
            }
        }
    }
}
