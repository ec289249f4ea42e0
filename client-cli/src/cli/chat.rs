//! `chitchat chat ROOM`: line-mode chat on stdin/stdout. Lines go to the current room;
//! `/`-commands join, leave, rename, list. Works the same with a terminal or a pipe: stdin is
//! read line by line, every output line is flushed, EOF quits.
//!
//! Output lines: messages as `[HH:MM:SS] #room <nick> text`, events as `* ...`, problems as
//! `! ...`.

use std::future::Future;

use chitchat_protocol::{ResumeOutcome, validate_room};
use tokio::sync::mpsc;

use super::{check_room, interrupted, print_line};
use crate::ClientError;
use crate::options::Context;
use crate::output::{chat_line, clock};
use crate::session::{SessionEvent, SessionEvents, SessionHandle};

/// How many stored messages a join shows: enough to see what the room is about.
const HISTORY_ON_JOIN: u16 = 20;

const HELP: &str = "\
* commands:
*   /join ROOM     join ROOM (or switch to it) and talk there
*   /leave [ROOM]  leave ROOM (default: the current room)
*   /nick NAME     change your nick
*   /who [ROOM]    who is in ROOM (default: the current room)
*   /rooms         the rooms you are in
*   /quit          leave (so does end of input)
*   //text         send a line starting with '/'";

/// Runs the chat until /quit, end of input, or a fatal error.
pub async fn run(ctx: &Context, room: &str) -> anyhow::Result<()> {
    check_room(room)?;
    // Ctrl-C quits like /quit: the others see this user leave at once.
    let mut interrupted = interrupted();
    let (session, events) = tokio::select! {
        started = ctx.start_session() => started?,
        _ = &mut interrupted => return Ok(()),
    };
    let welcome = session.welcome();
    let mut chat = Chat {
        session,
        events,
        events_done: false,
        fatal: None,
        nick: welcome.nick.clone(),
        rooms: Vec::new(),
        current: None,
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
    result
}

/// Reads stdin on its own thread (a blocking read must not hold up the runtime, and must not
/// keep it from shutting down after /quit), one line per message; the channel closes at EOF.
fn read_stdin_lines() -> mpsc::UnboundedReceiver<std::io::Result<String>> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let stop = line.is_err();
            if tx.send(line).is_err() || stop {
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
        let line = line.trim_end_matches(['\r', '\n']);
        let Some(rest) = line.strip_prefix('/') else {
            if !line.trim().is_empty() {
                self.send(line).await?;
            }
            return Ok(true);
        };
        if rest.starts_with('/') {
            self.send(rest).await?;
            return Ok(true);
        }
        let mut words = rest.split_whitespace();
        let name = words.next().unwrap_or("");
        let arg = words.next();
        match (name, arg) {
            ("quit" | "exit", _) => return Ok(false),
            ("join", Some(room)) => {
                if let Err(e) = self.join(room).await {
                    self.say(&format!("! cannot join #{room}: {e}"))?;
                }
            }
            ("leave" | "part", room) => self.leave(room).await?,
            ("nick", Some(nick)) => {
                let session = self.session.clone();
                match self.during(session.set_nick(nick)).await? {
                    Ok(welcome) => {
                        self.nick = welcome.nick.clone();
                        self.say(&format!("* you are now {}", welcome.nick))?;
                    }
                    Err(e) => self.say(&format!("! nick not changed: {e}"))?,
                }
            }
            ("who" | "names", room) => {
                let Some(room) = room.map(str::to_owned).or_else(|| self.current.clone()) else {
                    self.say("! not in any room; /join ROOM first")?;
                    return Ok(true);
                };
                let session = self.session.clone();
                match self.during(session.who(&room)).await? {
                    Ok(members) => self.say(&format!("* in #{room}: {}", members.join(", ")))?,
                    Err(e) => self.say(&format!("! cannot list #{room}: {e}"))?,
                }
            }
            ("rooms", _) => {
                let line = match &self.current {
                    None => "* not in any room".to_owned(),
                    Some(current) => {
                        let rooms: Vec<String> =
                            self.rooms.iter().map(|r| format!("#{r}")).collect();
                        format!("* rooms: {} (talking in #{current})", rooms.join(", "))
                    }
                };
                self.say(&line)?;
            }
            ("help", _) => self.say(HELP)?,
            ("join" | "nick", None) => {
                self.say(&format!("! /{name} needs an argument; see /help"))?
            }
            _ => self.say(&format!("! unknown command /{name}; see /help"))?,
        }
        Ok(true)
    }

    async fn send(&mut self, text: &str) -> anyhow::Result<()> {
        let Some(room) = self.current.clone() else {
            return self.say("! not in any room; /join ROOM first");
        };
        let session = self.session.clone();
        // Success shows when the message comes back on the room stream.
        if let Err(e) = self.during(session.send(&room, text)).await? {
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
            SessionEvent::Presence { room, nick, joined } => {
                // Our own joins and leaves are shown as they happen.
                if nick == self.nick {
                    return Ok(());
                }
                let verb = if joined { "joined" } else { "left" };
                self.say(&format!("* {nick} {verb} #{room}"))
            }
            SessionEvent::Typing { .. } => Ok(()),
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
