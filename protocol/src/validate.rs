//! Rules for nicks, room names and texts, checked by the relay on every request and by
//! clients before sending.

use crate::ErrorCode;
use crate::unicode::{is_bidi_control, is_invisible, is_nfkc, is_single_script};

/// The longest nick, in characters.
pub const MAX_NICK_CHARS: usize = 32;

/// The longest room name, in bytes (room names are ASCII).
pub const MAX_ROOM_LEN: usize = 64;

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
/// digit. Names are case-sensitive.
pub fn validate_room(room: &str) -> Result<(), ValidationError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
