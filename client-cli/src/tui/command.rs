//! What one typed line asks for: a message, an action (`/me`), or a command. Shared by the
//! full-screen chat and line mode, so both understand the same lines. Room names may be
//! written with a leading `#`.

/// One typed line, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// Nothing to do (an empty line).
    Empty,
    /// Text for the current room (`//text` sends `/text`).
    Say(String),
    /// `/me does`: sent as the text `/me does`, shown as `* nick does`.
    Me(String),
    /// `/join ROOM`.
    Join(String),
    /// `/leave [ROOM]` (also `/part`).
    Leave(Option<String>),
    /// `/nick NAME`.
    Nick(String),
    /// `/who [ROOM]` (also `/names`).
    Who(Option<String>),
    /// `/rooms [SEARCH]`: the rooms joined, and the directory's rooms matching SEARCH.
    Rooms(String),
    /// `/help`.
    Help,
    /// `/quit` (also `/exit`).
    Quit,
    /// A command that needs an argument came without one: its name.
    Missing(&'static str),
    /// An unknown command: its name.
    Unknown(String),
}

/// How many directory rooms `/rooms` shows: a screenful; `chitchat rooms` pages through
/// the rest.
pub const ROOMS_SHOWN: u16 = 20;

/// The room a user wrote: without one leading `#` (`#random` is the room `random`).
pub fn room_name(written: &str) -> &str {
    written.strip_prefix('#').unwrap_or(written)
}

/// Understands one typed line (without its line end).
pub fn parse(line: &str) -> Line {
    let line = line.trim_end_matches(['\r', '\n']);
    let Some(rest) = line.strip_prefix('/') else {
        return if line.trim().is_empty() {
            Line::Empty
        } else {
            Line::Say(line.to_owned())
        };
    };
    if rest.starts_with('/') {
        return Line::Say(rest.to_owned());
    }
    let mut words = rest.split_whitespace();
    let name = words.next().unwrap_or("");
    let arg = words.next();
    let room = arg.map(|r| room_name(r).to_owned());
    match name {
        "me" => match rest.strip_prefix("me ").map(str::trim) {
            Some(action) if !action.is_empty() => Line::Me(format!("/me {action}")),
            _ => Line::Missing("me"),
        },
        "join" | "j" => room.map_or(Line::Missing("join"), Line::Join),
        "leave" | "part" => Line::Leave(room),
        "nick" => arg.map_or(Line::Missing("nick"), |n| Line::Nick(n.to_owned())),
        "who" | "names" => Line::Who(room),
        "rooms" => Line::Rooms(rest["rooms".len()..].trim().to_owned()),
        "help" => Line::Help,
        "quit" | "exit" => Line::Quit,
        _ => Line::Unknown(name.to_owned()),
    }
}

/// The action of a `/me` text (`/me waves` -> `waves`), if it is one.
pub fn action(text: &str) -> Option<&str> {
    text.strip_prefix("/me ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_commands() {
        assert_eq!(parse(""), Line::Empty);
        assert_eq!(parse("   \r\n"), Line::Empty);
        assert_eq!(parse("hello"), Line::Say("hello".into()));
        assert_eq!(parse("//etc/passwd"), Line::Say("/etc/passwd".into()));
        assert_eq!(parse("/join #random"), Line::Join("random".into()));
        assert_eq!(parse("/join random"), Line::Join("random".into()));
        // One '#' is stripped; the rest is the name (which the protocol then refuses).
        assert_eq!(parse("/join ##x"), Line::Join("#x".into()));
        assert_eq!(parse("/join"), Line::Missing("join"));
        assert_eq!(parse("/leave"), Line::Leave(None));
        assert_eq!(parse("/part #side"), Line::Leave(Some("side".into())));
        assert_eq!(parse("/who #side"), Line::Who(Some("side".into())));
        assert_eq!(parse("/nick ada2"), Line::Nick("ada2".into()));
        assert_eq!(parse("/nick"), Line::Missing("nick"));
        assert_eq!(parse("/me waves  hi"), Line::Me("/me waves  hi".into()));
        assert_eq!(parse("/me"), Line::Missing("me"));
        assert_eq!(parse("/me   "), Line::Missing("me"));
        assert_eq!(parse("/rooms"), Line::Rooms(String::new()));
        assert_eq!(
            parse("/rooms  rust  talk "),
            Line::Rooms("rust  talk".into())
        );
        assert_eq!(parse("/help"), Line::Help);
        assert_eq!(parse("/exit"), Line::Quit);
        assert_eq!(parse("/frob x"), Line::Unknown("frob".into()));
        assert_eq!(action("/me waves"), Some("waves"));
        assert_eq!(action("me waves"), None);
        assert_eq!(room_name("#lobby"), "lobby");
        assert_eq!(room_name("lobby"), "lobby");
    }
}
