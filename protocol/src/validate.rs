//! Rules for nicks, room names and texts, checked by the relay on every request and by
//! clients before sending.

use crate::ErrorCode;
use crate::unicode::{is_bidi_control, is_invisible, is_nfkc, is_single_script};

/// The longest nick, in characters.
pub const MAX_NICK_CHARS: usize = 32;

/// The longest room name, in bytes (room names are ASCII).
pub const MAX_ROOM_LEN: usize = 64;

/// The longest direct-message room name, in bytes (`@` and up to [`MAX_DM_MEMBERS`] nicks).
/// Why 256: eight nicks of a few dozen bytes each fit, and a room name stays small enough to
/// be a storage key and to travel in every message.
pub const MAX_DM_ROOM_LEN: usize = 256;

/// The most people a direct-message room names. Why 8: a direct conversation among a few
/// people; larger groups are private rooms with grants.
pub const MAX_DM_MEMBERS: usize = 8;

/// The longest `Hello.token` or `Refresh.token`, in bytes. Why 4096: a JWT with a
/// handful of room grants is well under 2 KiB, and every session holds its token.
pub const MAX_TOKEN_LEN: usize = 4096;

/// The shortest guest secret, in bytes. Why 16: with the clients' 32 random bytes in
/// base64url (43 characters) any secret this long is too long to guess; shorter ones are
/// refused rather than trusted.
pub const MIN_GUEST_SECRET_LEN: usize = 16;

/// The longest guest secret, in bytes.
pub const MAX_GUEST_SECRET_LEN: usize = 128;

/// A broken rule, with its error code and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValidationError {
    pub code: ErrorCode,
    pub message: String,
}

fn invalid(code: ErrorCode, message: impl Into<String>) -> ValidationError {
    ValidationError {
        code,
        message: message.into(),
    }
}

/// A nick is 1 to 32 characters, each a letter or digit (any script) or one of `_ - .`, in
/// NFKC and in one script (see [`crate::nick_skeleton`] for nicks that look alike).
pub fn validate_nick(nick: &str) -> Result<(), ValidationError> {
    let chars = nick.chars().count();
    if chars == 0 {
        return Err(invalid(ErrorCode::INVALID_NICK, "nick is empty"));
    }
    if chars > MAX_NICK_CHARS {
        return Err(invalid(
            ErrorCode::INVALID_NICK,
            format!("nick is {chars} characters; the most is {MAX_NICK_CHARS}"),
        ));
    }
    if let Some(c) = nick
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(invalid(
            ErrorCode::INVALID_NICK,
            format!("nick may not contain {c:?}: use letters, digits, '_', '-' or '.'"),
        ));
    }
    if !is_nfkc(nick) {
        return Err(invalid(
            ErrorCode::INVALID_NICK,
            "nick is not in Unicode NFKC form (e.g. fullwidth letters): type it plainly",
        ));
    }
    if !is_single_script(nick) {
        return Err(invalid(
            ErrorCode::INVALID_NICK,
            "nick mixes scripts (e.g. Latin with Cyrillic letters): use one script",
        ));
    }
    Ok(())
}

/// A room name is 1 to 64 ASCII letters, digits, `_`, `-` or `.`, starting with a letter or
/// digit, or a direct-message room name (see [`dm_members`]). Names are case-sensitive.
pub fn validate_room(room: &str) -> Result<(), ValidationError> {
    if let Some(list) = room.strip_prefix('@') {
        return validate_dm(room, list).map(|_| ());
    }
    if room.is_empty() {
        return Err(invalid(ErrorCode::INVALID_ROOM, "room name is empty"));
    }
    if room.len() > MAX_ROOM_LEN {
        return Err(invalid(
            ErrorCode::INVALID_ROOM,
            format!(
                "room name is {} bytes; the most is {MAX_ROOM_LEN}",
                room.len()
            ),
        ));
    }
    if !room.as_bytes()[0].is_ascii_alphanumeric() {
        return Err(invalid(
            ErrorCode::INVALID_ROOM,
            "room name must start with a letter or digit",
        ));
    }
    if let Some(c) = room
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(invalid(
            ErrorCode::INVALID_ROOM,
            format!("room name may not contain {c:?}: use a-z, A-Z, 0-9, '_', '-' or '.'"),
        ));
    }
    Ok(())
}

/// The nicks a direct-message room is for, or `None` when `room` is not a valid
/// direct-message room name. Such a name is `@` followed by 2 to [`MAX_DM_MEMBERS`] valid
/// nicks joined by `+`, in ascending order (by code point), each once, at most
/// [`MAX_DM_ROOM_LEN`] bytes in all: `@alice+bob`. Only the named people may join it.
pub fn dm_members(room: &str) -> Option<Vec<&str>> {
    validate_dm(room, room.strip_prefix('@')?).ok()
}

/// The direct-message room name for these nicks (in any order, repeats allowed).
pub fn dm_room(nicks: &[&str]) -> Result<String, ValidationError> {
    let mut list: Vec<&str> = nicks.to_vec();
    list.sort_unstable();
    list.dedup();
    let room = format!("@{}", list.join("+"));
    validate_room(&room)?;
    Ok(room)
}

fn validate_dm<'a>(room: &str, list: &'a str) -> Result<Vec<&'a str>, ValidationError> {
    if room.len() > MAX_DM_ROOM_LEN {
        return Err(invalid(
            ErrorCode::INVALID_ROOM,
            format!(
                "direct-message room name is {} bytes; the most is {MAX_DM_ROOM_LEN}",
                room.len()
            ),
        ));
    }
    let nicks: Vec<&str> = list.split('+').collect();
    if nicks.len() < 2 || nicks.len() > MAX_DM_MEMBERS {
        return Err(invalid(
            ErrorCode::INVALID_ROOM,
            format!(
                "a direct-message room names 2 to {MAX_DM_MEMBERS} nicks joined by '+', e.g. @alice+bob"
            ),
        ));
    }
    for nick in &nicks {
        validate_nick(nick).map_err(|e| {
            invalid(
                ErrorCode::INVALID_ROOM,
                format!("direct-message room: {nick:?}: {}", e.message),
            )
        })?;
    }
    if nicks.windows(2).any(|pair| pair[0] >= pair[1]) {
        let mut sorted = nicks.clone();
        sorted.sort_unstable();
        sorted.dedup();
        return Err(invalid(
            ErrorCode::INVALID_ROOM,
            format!(
                "a direct-message room names each nick once, in order: @{}",
                sorted.join("+")
            ),
        ));
    }
    Ok(nicks)
}

/// A guest secret (`Hello.token` in open mode) is [`MIN_GUEST_SECRET_LEN`] to
/// [`MAX_GUEST_SECRET_LEN`] printable ASCII characters without spaces.
pub fn validate_guest_secret(secret: &str) -> Result<(), ValidationError> {
    let len = secret.len();
    if !(MIN_GUEST_SECRET_LEN..=MAX_GUEST_SECRET_LEN).contains(&len)
        || !secret.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(invalid(
            ErrorCode::UNAUTHORIZED,
            format!(
                "a guest secret is {MIN_GUEST_SECRET_LEN} to {MAX_GUEST_SECRET_LEN} printable ASCII characters without spaces (this one is {len} bytes)"
            ),
        ));
    }
    Ok(())
}

/// A text is 1 to `max_bytes` bytes of UTF-8 with no control characters other than newline
/// and tab, no bidi controls (U+202A-U+202E, U+2066-U+2069), and something visible (not
/// only white space, zero-width and other format characters).
pub fn validate_text(text: &str, max_bytes: usize) -> Result<(), ValidationError> {
    if text.len() > max_bytes {
        return Err(invalid(
            ErrorCode::TEXT_TOO_LONG,
            format!("message is {} bytes; the most is {max_bytes}", text.len()),
        ));
    }
    if text.trim().is_empty() {
        return Err(invalid(ErrorCode::INVALID_TEXT, "message is empty"));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(invalid(
            ErrorCode::INVALID_TEXT,
            "message holds control characters",
        ));
    }
    if text.chars().any(is_bidi_control) {
        return Err(invalid(
            ErrorCode::INVALID_TEXT,
            "message holds bidi control characters (U+202A-U+202E, U+2066-U+2069)",
        ));
    }
    if text.chars().all(is_invisible) {
        return Err(invalid(
            ErrorCode::INVALID_TEXT,
            "message has nothing visible (only white space or zero-width characters)",
        ));
    }
    Ok(())
}

/// The longest room topic, in bytes: a line people read in a room list, not a document.
pub const MAX_TOPIC_BYTES: usize = 256;

/// The most rooms one directory page (`ListRooms`) holds.
pub const MAX_ROOMS_PAGE: u16 = 100;

/// A room topic: empty (none), or one line of at most [`MAX_TOPIC_BYTES`] under the rules of
/// a message text ([`validate_text`]). Refusals are `INVALID_TEXT` or `TEXT_TOO_LONG`.
pub fn validate_topic(topic: &str) -> Result<(), ValidationError> {
    if topic.is_empty() {
        return Ok(());
    }
    if topic.contains('\n') {
        return Err(invalid(ErrorCode::INVALID_TEXT, "a topic is one line"));
    }
    validate_text(topic, MAX_TOPIC_BYTES).map_err(|e| ValidationError {
        code: e.code,
        message: e.message.replacen("message", "topic", 1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics() {
        for ok in [
            "",
            "Deploys and incidents",
            "Zoë's 🎸 room",
            &"t".repeat(256),
        ] {
            assert_eq!(validate_topic(ok), Ok(()), "{ok}");
        }
        for (bad, code) in [
            ("two\nlines", ErrorCode::INVALID_TEXT),
            ("   ", ErrorCode::INVALID_TEXT),
            ("bidi \u{202e}", ErrorCode::INVALID_TEXT),
            ("bell \u{7}", ErrorCode::INVALID_TEXT),
            (&"t".repeat(257), ErrorCode::TEXT_TOO_LONG),
        ] {
            let refused = validate_topic(bad).unwrap_err();
            assert_eq!(refused.code, code, "{bad:?}");
            assert!(refused.message.contains("topic"), "{}", refused.message);
        }
    }

    #[test]
    fn nicks() {
        for ok in ["ada", "Zoë", "a.b-c_d", "李雷", &"x".repeat(32)] {
            assert_eq!(validate_nick(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "a\nb",
            "<script>",
            &"x".repeat(33),
            "ａｄｍｉｎ",
            "\u{430}dmin",
            "ad\u{200B}min",
        ] {
            assert_eq!(
                validate_nick(bad).unwrap_err().code,
                ErrorCode::INVALID_NICK
            );
        }
    }

    #[test]
    fn look_alike_nicks_share_a_skeleton() {
        let key = crate::nick_skeleton("admin");
        assert_eq!(crate::nick_skeleton("\u{430}dmin"), key);
        assert_eq!(crate::nick_skeleton("Admin"), key);
        assert_ne!(crate::nick_skeleton("adrnin2"), key);
        assert_eq!(validate_nick("Zoë"), Ok(()));
        assert_eq!(validate_nick("\u{4E2D}\u{6587}\u{3072}\u{3089}"), Ok(()));
    }

    #[test]
    fn rooms() {
        for ok in ["lobby", "Room-1", "a", "0.x_y", &"r".repeat(64)] {
            assert_eq!(validate_room(ok), Ok(()), "{ok}");
        }
        for bad in ["", "-x", ".x", "a b", "café", "a/b", &"r".repeat(65)] {
            assert_eq!(
                validate_room(bad).unwrap_err().code,
                ErrorCode::INVALID_ROOM
            );
        }
    }

    #[test]
    fn direct_message_rooms() {
        for ok in ["@alice+bob", "@a+b+c", "@Zoë+ada", "@李雷+韩梅梅"] {
            assert_eq!(validate_room(ok), Ok(()), "{ok}");
        }
        assert_eq!(dm_members("@alice+bob"), Some(vec!["alice", "bob"]));
        assert_eq!(dm_members("lobby"), None);
        assert_eq!(dm_room(&["bob", "alice", "bob"]).unwrap(), "@alice+bob");
        let nine: Vec<String> = (0..9).map(|i| format!("n{i}")).collect();
        let nine = format!("@{}", nine.join("+"));
        for bad in [
            "@",
            "@alice",
            "@bob+alice",
            "@alice+alice",
            "@alice++bob",
            "@alice+b b",
            "@alice+bob+",
            nine.as_str(),
        ] {
            assert_eq!(
                validate_room(bad).unwrap_err().code,
                ErrorCode::INVALID_ROOM,
                "{bad}"
            );
            assert_eq!(dm_members(bad), None, "{bad}");
        }
        let e = validate_room("@bob+alice").unwrap_err();
        assert!(e.message.contains("@alice+bob"), "{}", e.message);
    }

    #[test]
    fn guest_secrets() {
        assert_eq!(validate_guest_secret(&"k".repeat(43)), Ok(()));
        for bad in [
            "short",
            &"k".repeat(129),
            "sixteen chars ok",
            "\u{e9}abcdefghijklmnopq",
        ] {
            assert_eq!(
                validate_guest_secret(bad).unwrap_err().code,
                ErrorCode::UNAUTHORIZED,
                "{bad}"
            );
        }
    }

    #[test]
    fn texts() {
        assert_eq!(validate_text("hi\n\tthere ✓", 4096), Ok(()));
        assert_eq!(validate_text(&"é".repeat(2048), 4096), Ok(()));
        let e = validate_text(&"é".repeat(2049), 4096).unwrap_err();
        assert_eq!(e.code, ErrorCode::TEXT_TOO_LONG);
        for bad in [
            "",
            "   ",
            "a\u{0}b",
            "bell\u{7}",
            "abc\u{202E}fed",
            "x\u{2066}y\u{2069}",
            "\u{200B}\u{200D}\u{FEFF}",
            " \u{2060}\n\u{3164}",
        ] {
            assert_eq!(
                validate_text(bad, 4096).unwrap_err().code,
                ErrorCode::INVALID_TEXT
            );
        }
    }
}
