//! What each key and mouse event means in the full-screen chat, as a pure mapping the event
//! loop acts on.

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind,
};

/// How many lines one mouse-wheel step scrolls: the usual terminal step.
pub const WHEEL_LINES: usize = 3;

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Type a char.
    Insert(char),
    Backspace,
    Delete,
    Left,
    Right,
    Home,
    End,
    /// Ctrl-W.
    DeleteWord,
    /// Ctrl-U.
    DeleteToStart,
    /// Up: the previous line of the history.
    HistoryBack,
    /// Down: the next line of the history.
    HistoryForward,
    Complete,
    Enter,
    /// PgUp (`true`) or PgDn: a page.
    Page(bool),
    /// The mouse wheel up (`true`) or down: a few lines.
    Wheel(bool),
    /// Alt-1..9: the room with that number (0-based here).
    Room(usize),
    /// Ctrl-N (`true`) or Ctrl-P: the next or previous room.
    Cycle(bool),
    /// Ctrl-C, or Ctrl-D on an empty line.
    Quit,
    /// Ctrl-D on a typed line (deletes like Delete).
    EndOfInput,
    /// Redraw (a resize, or nothing to do).
    Redraw,
}

/// The action of a terminal event.
pub fn action(event: &Event) -> Action {
    match event {
        Event::Key(key) if key.kind != KeyEventKind::Release => key_action(key),
        Event::Mouse(MouseEvent { kind, .. }) => match kind {
            MouseEventKind::ScrollUp => Action::Wheel(true),
            MouseEventKind::ScrollDown => Action::Wheel(false),
            _ => Action::Redraw,
        },
        Event::Paste(_) | Event::Resize(..) | Event::Key(_) => Action::Redraw,
        Event::FocusGained | Event::FocusLost => Action::Redraw,
    }
}

fn key_action(key: &KeyEvent) -> Action {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    match key.code {
        KeyCode::Char(c) if ctrl => match c.to_ascii_lowercase() {
            'a' => Action::Home,
            'e' => Action::End,
            'w' => Action::DeleteWord,
            'u' => Action::DeleteToStart,
            'c' => Action::Quit,
            'd' => Action::EndOfInput,
            'n' => Action::Cycle(true),
            'p' => Action::Cycle(false),
            'h' => Action::Backspace,
            _ => Action::Redraw,
        },
        KeyCode::Char(c @ '1'..='9') if alt => Action::Room(c as usize - '1' as usize),
        KeyCode::Char(_) if alt => Action::Redraw,
        KeyCode::Char(c) => Action::Insert(c),
        KeyCode::Backspace => Action::Backspace,
        KeyCode::Delete => Action::Delete,
        KeyCode::Left => Action::Left,
        KeyCode::Right => Action::Right,
        KeyCode::Home => Action::Home,
        KeyCode::End => Action::End,
        KeyCode::Up => Action::HistoryBack,
        KeyCode::Down => Action::HistoryForward,
        KeyCode::Tab => Action::Complete,
        KeyCode::Enter => Action::Enter,
        KeyCode::PageUp => Action::Page(true),
        KeyCode::PageDown => Action::Page(false),
        _ => Action::Redraw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> Action {
        action(&Event::Key(KeyEvent::new(code, modifiers)))
    }

    #[test]
    fn keys() {
        let none = KeyModifiers::NONE;
        let ctrl = KeyModifiers::CONTROL;
        assert_eq!(key(KeyCode::Char('x'), none), Action::Insert('x'));
        assert_eq!(
            key(KeyCode::Char('X'), KeyModifiers::SHIFT),
            Action::Insert('X')
        );
        assert_eq!(key(KeyCode::Char('a'), ctrl), Action::Home);
        assert_eq!(key(KeyCode::Char('e'), ctrl), Action::End);
        assert_eq!(key(KeyCode::Char('w'), ctrl), Action::DeleteWord);
        assert_eq!(key(KeyCode::Char('u'), ctrl), Action::DeleteToStart);
        assert_eq!(key(KeyCode::Char('c'), ctrl), Action::Quit);
        assert_eq!(key(KeyCode::Char('n'), ctrl), Action::Cycle(true));
        assert_eq!(key(KeyCode::Char('p'), ctrl), Action::Cycle(false));
        assert_eq!(key(KeyCode::Char('3'), KeyModifiers::ALT), Action::Room(2));
        assert_eq!(key(KeyCode::Char('x'), KeyModifiers::ALT), Action::Redraw);
        assert_eq!(key(KeyCode::PageUp, none), Action::Page(true));
        assert_eq!(key(KeyCode::Up, none), Action::HistoryBack);
        assert_eq!(key(KeyCode::Tab, none), Action::Complete);
        let wheel = Event::Mouse(MouseEvent {
            kind: MouseEventKind::ScrollUp,
            column: 0,
            row: 0,
            modifiers: none,
        });
        assert_eq!(action(&wheel), Action::Wheel(true));
        let mut release = KeyEvent::new(KeyCode::Char('x'), none);
        release.kind = KeyEventKind::Release;
        assert_eq!(action(&Event::Key(release)), Action::Redraw);
    }
}
