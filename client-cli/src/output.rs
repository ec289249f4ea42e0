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
    json_escaped(&json)
}

/// `value` as one line of JSON. Serializing structs of strings and integers cannot fail.
/// JSON allows U+2028 and U+2029 raw, but readers that split lines on them (Python's
/// splitlines) would cut the object: they are escaped, which can only happen inside strings.
pub fn json_escaped(value: &impl Serialize) -> String {
    serde_json::to_string(value)
        .unwrap_or_default()
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// `[HH:MM:SS] #seq <from> text`; lines after the first of a multi-line text are indented
/// so every printed line that starts with `[` starts a message, and characters that could
/// break or reorder a terminal line are escaped (see [`printable`]).
pub fn plain_line(msg: &Message) -> String {
    line(
        msg.ts,
        &msg.seq.to_string(),
        &msg.from,
        &printable(&msg.text),
    )
}

/// `[HH:MM:SS] #room <from> text`: the chat view, where the room matters more than the seq.
pub fn chat_line(msg: &Message) -> String {
    line(
        msg.ts,
        &printable(&msg.room),
        &msg.from,
        &printable(&msg.text),
    )
}

/// `[HH:MM:SS] #tag <from> rest`, the shape of every printed message or entry: `from` made
/// printable here, `tag` and `rest` already printable.
pub(crate) fn line(ts: u64, tag: &str, from: &str, rest: &str) -> String {
    format!("[{}] #{tag} <{}> {rest}", clock(ts), printable(from))
}

/// A member's rename seen at `ts`: `[HH:MM:SS] * OLD is now known as NEW in #room`.
pub fn rename_line(room: &str, from: &str, to: &str, ts: u64) -> String {
    format!(
        "[{}] * {} is now known as {} in #{}",
        clock(ts),
        printable(from),
        printable(to),
        printable(room)
    )
}

/// A rename as `{"room","kind":"rename","from","to","ts"}`, `ts` when it was seen.
pub fn rename_json_line(room: &str, from: &str, to: &str, ts: u64) -> String {
    json_escaped(&serde_json::json!({
        "room": room,
        "kind": "rename",
        "from": from,
        "to": to,
        "ts": rfc3339_ms(ts),
    }))
}

/// A room's topic as it changed: `by` set it (empty: the topic is now `topic`, as learnt on
/// a join or through the server API); an empty topic is a cleared one.
pub fn topic_line(room: &str, topic: &str, by: &str, ts: u64) -> String {
    let room = printable(room);
    let what = match (by.is_empty(), topic.is_empty()) {
        (true, true) => format!("#{room} has no topic now"),
        (true, false) => format!("the topic of #{room} is now: {}", printable(topic)),
        (false, true) => format!("{} cleared the topic of #{room}", printable(by)),
        (false, false) => format!(
            "{} set the topic of #{room}: {}",
            printable(by),
            printable(topic)
        ),
    };
    format!("[{}] * {what}", clock(ts))
}

/// A topic change as `{"room","kind":"topic","topic","by","ts"}`: `by` null when not known,
/// `ts` when it was seen.
pub fn topic_json_line(room: &str, topic: &str, by: &str, ts: u64) -> String {
    json_escaped(&serde_json::json!({
        "room": room,
        "kind": "topic",
        "topic": topic,
        "by": (!by.is_empty()).then_some(by),
        "ts": rfc3339_ms(ts),
    }))
}

/// `text` made safe for one terminal line per message: a newline continues on an indented
/// line; control characters (but tab), line and paragraph separators (U+2028, U+2029) and
/// bidi controls are shown as `\u{...}` escapes, so no text can start a line that looks like
/// another message, move the cursor or reorder what follows. The relay refuses most of these
/// already; the CLI does not rely on it.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\n    "),
            '\t' => out.push(c),
            c if c.is_control()
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}') =>
            {
                out.push_str(&format!("\\u{{{:04x}}}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out
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

    #[test]
    fn no_text_forges_a_line_or_reorders_one() {
        let forged = "hi\u{2028}[12:00:00] #43 <admin> fake\u{2029}x\r[1] y\u{202E}olleh\u{1b}[2J";
        let line = plain_line(&msg(forged));
        assert_eq!(
            line,
            "[12:34:56] #42 <ada> hi\\u{2028}[12:00:00] #43 <admin> fake\\u{2029}x\\u{000d}[1] \
             y\\u{202e}olleh\\u{001b}[2J"
        );
        assert_eq!(line.lines().count(), 1);
        for c in ['\u{2028}', '\u{2029}', '\r', '\u{202E}', '\u{1b}'] {
            assert!(!line.contains(c), "{c:?} printed raw");
        }
        // The JSON output escapes by itself: every message is one line there too.
        assert_eq!(json_line(&msg(forged)).lines().count(), 1);
        let json = json_line(&msg(forged));
        assert!(
            !json.contains('\u{2028}') && !json.contains('\u{2029}'),
            "{json}"
        );
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["text"], forged);
    }
}
