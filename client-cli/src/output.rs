//! How messages are printed: one JSON object per line for programs, one line of text per
//! message for people. Pure functions from a [`Message`] to a line (without newline).

use chitchat_protocol::Message;
use serde::Serialize;
use time::OffsetDateTime;
use time::macros::format_description;

/// A message as `--json` prints it. Field order is the documented order.
#[derive(Debug, Serialize)]
struct JsonMessage<'a> {
    room: &'a str,
    seq: u64,
    epoch: u64,
    from: &'a str,
    text: &'a str,
    ts: String,
}

/// The timestamp as RFC 3339 in UTC with millisecond precision, e.g.
/// `2025-03-01T12:00:00.123Z`.
pub fn rfc3339_ms(ts_ms: u64) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    datetime(ts_ms)
        .format(format)
        .unwrap_or_else(|_| "9999-12-31T23:59:59.999Z".to_owned())
}

/// The time of day (UTC) of a timestamp, `HH:MM:SS`.
pub fn clock(ts_ms: u64) -> String {
    let format = format_description!("[hour]:[minute]:[second]");
    datetime(ts_ms)
        .format(format)
        .unwrap_or_else(|_| "??:??:??".to_owned())
}

/// A server timestamp as a date; timestamps beyond the year 9999 (only a broken relay sends
/// them) become the latest representable time.
fn datetime(ts_ms: u64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts_ms) * 1_000_000)
        .unwrap_or_else(|_| time::PrimitiveDateTime::MAX.assume_utc())
}

/// `{"room":..,"seq":..,"epoch":..,"from":..,"text":..,"ts":"<RFC 3339>"}`.
pub fn json_line(msg: &Message) -> String {
    let json = JsonMessage {
        room: &msg.room,
        seq: msg.seq,
        epoch: msg.epoch,
        from: &msg.from,
        text: &msg.text,
        ts: rfc3339_ms(msg.ts),
    };
    // Serializing a struct of strings and integers cannot fail.
    serde_json::to_string(&json).unwrap_or_default()
}

/// `[HH:MM:SS] #seq <from> text`; lines after the first of a multi-line text are indented
/// so every printed line that starts with `[` starts a message.
pub fn plain_line(msg: &Message) -> String {
    format!(
        "[{}] #{} <{}> {}",
        clock(msg.ts),
        msg.seq,
        msg.from,
        indent_continuations(&msg.text)
    )
}

/// `[HH:MM:SS] #room <from> text`: the chat view, where the room matters more than the seq.
pub fn chat_line(msg: &Message) -> String {
    format!(
        "[{}] #{} <{}> {}",
        clock(msg.ts),
        msg.room,
        msg.from,
        indent_continuations(&msg.text)
    )
}

fn indent_continuations(text: &str) -> String {
    text.replace('\n', "\n    ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(text: &str) -> Message {
        Message {
            room: "lobby".into(),
            seq: 42,
            epoch: 7,
            from: "ada".into(),
            // 2025-03-01T12:34:56.789Z
            ts: 1_740_832_496_789,
            text: text.into(),
        }
    }

    #[test]
    fn json_has_the_documented_fields_in_order() {
        assert_eq!(
            json_line(&msg("hi \"there\"")),
            r#"{"room":"lobby","seq":42,"epoch":7,"from":"ada","text":"hi \"there\"","ts":"2025-03-01T12:34:56.789Z"}"#
        );
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1), "1970-01-01T00:00:00.001Z");
        assert_eq!(rfc3339_ms(u64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(clock(1_740_832_496_789), "12:34:56");
    }

    #[test]
    fn plain_and_chat_lines() {
        assert_eq!(plain_line(&msg("hello")), "[12:34:56] #42 <ada> hello");
        assert_eq!(plain_line(&msg("a\nb")), "[12:34:56] #42 <ada> a\n    b");
        assert_eq!(chat_line(&msg("hello")), "[12:34:56] #lobby <ada> hello");
    }
}
