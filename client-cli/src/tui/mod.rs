//! The full-screen `chitchat chat` (ratatui over crossterm), used when stdin and stdout are
//! terminals: a room list with unread and mention counts, the room's messages with
//! scrollback, day dividers and grouped senders, who is typing, a status line for the relay
//! and the connection, and an input line with history and completion.
//!
//! Cut by concern: [`model`] (the state, pure), [`markers`] (read markers shared with the
//! user's other sessions, pure), [`rows`] (entries as rows: grouping and day
//! dividers, pure), [`input`] (line editing, history, completion, pure), [`command`] (what
//! a typed line asks for; line mode uses it too), [`keys`] (what a key means), [`view`]
//! (drawing), [`event_loop`] (the events of the terminal and the session), [`pace`] (sends
//! that wait out the rate limit). This file owns the terminal: raw mode, the alternate
//! screen and mouse reporting, restored on every way out (return, error, panic).

pub mod command;
mod event_loop;
pub mod input;
pub mod keys;
pub mod markers;
pub mod model;
pub mod pace;
pub mod rows;
pub mod view;

use std::io::{Stdout, stdout};
use std::sync::Once;

use crossterm::cursor::Show;
use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use futures::future::BoxFuture;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use crate::addr::Via;
use crate::logs;
use crate::session::{SessionEvents, SessionHandle};
use crate::{RelayAddr, SessionConfig};

/// The terminal in full-screen mode; dropping it restores the terminal.
pub struct Screen {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Screen {
    /// Raw mode, the alternate screen and mouse reporting (for the wheel); a panic from here
    /// on restores the terminal before its message is printed.
    pub fn enter() -> std::io::Result<Self> {
        install_panic_hook();
        enable_raw_mode()?;
        let entered = execute!(stdout(), EnterAlternateScreen, EnableMouseCapture)
            .and_then(|()| Terminal::new(CrosstermBackend::new(stdout())));
        match entered {
            Ok(terminal) => Ok(Screen { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves full-screen mode: mouse reporting off, the main screen back, the cursor shown, raw
/// mode off. Safe to call more than once.
fn restore() {
    let _ = execute!(stdout(), DisableMouseCapture, LeaveAlternateScreen, Show);
    let _ = disable_raw_mode();
}

/// Restores the terminal before the previous panic hook prints, so a panic's message is
/// readable and the shell usable.
fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

/// How the status line names a relay's transport.
pub fn transport_name(relay: &RelayAddr) -> &'static str {
    match relay.via() {
        Via::Quic => "quic",
        Via::WebSocket { .. } => "websocket",
    }
}

/// Runs the full-screen chat on a started session, starting in `room`, until /quit, Ctrl-C,
/// `interrupted` (SIGINT) or the session's end; closes the session.
pub async fn run(
    config: &SessionConfig,
    session: SessionHandle,
    events: SessionEvents,
    room: &str,
    interrupted: BoxFuture<'static, ()>,
) -> anyhow::Result<()> {
    let welcome = session.welcome();
    // The session connects to the first relay that answers; until it says which, the first
    // configured one names the transport.
    let transport = config.relays.first().map_or("quic", transport_name);
    let app = model::App::new(&welcome.nick, &welcome.node_id, transport);
    let theme = view::Theme {
        colour: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    };
    // Log lines would be drawn over the screen: held, the newest in the status line, and
    // printed once the terminal is restored (the guard drops after the screen).
    let holding = logs::hold();
    let result = match Screen::enter() {
        Ok(mut screen) => {
            let chat = event_loop::Chat::new(session.clone(), app, theme);
            let result = chat.run(&mut screen, events, room, interrupted).await;
            drop(screen);
            result
        }
        Err(e) => Err(anyhow::anyhow!("cannot use the terminal: {e}")),
    };
    drop(holding);
    session.close().await;
    result
}
