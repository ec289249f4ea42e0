//! A room's entries laid out as rows before styling: a divider where the day changes, the
//! sender's nick only on the first of consecutive messages of one sender, `/me` actions as
//! `* nick does`. Pure; the view styles and wraps the rows.

use time::OffsetDateTime;
use time::macros::format_description;

use super::command::action;
use super::model::{Entry, Mark, Posted, mentions};
use crate::output::{clock, printable};

/// Messages of one sender further apart than this start a new group (the nick is shown
/// again): after a pause a reader should not have to look up for who is talking.
const GROUP_GAP_MS: u64 = 5 * 60 * 1000;

/// One row of a room's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// The day changed: `Tuesday, 1 December 2026` (UTC, like the times).
    Day(String),
    /// A message.
    Message {
        time: String,
        /// The sender, on the first message of a group only.
        from: Option<String>,
        text: String,
        /// An action (`/me`): shown as `* nick text`.
        action: bool,
        /// One's own, not stored yet.
        pending: bool,
        /// One's own, not sent, and why.
        failed: Option<String>,
        /// It names this user.
        mention: bool,
    },
    /// A dim event line.
    Event { time: String, text: String },
}

/// The rows of `entries` as `nick` sees them.
pub fn rows(entries: &[Entry], nick: &str) -> Vec<Row> {
    let mut rows = Vec::with_capacity(entries.len() + 4);
    let mut last_day: Option<(i32, u16)> = None;
    let mut last_sender: Option<(&str, u64)> = None;
    for entry in entries {
        let ts = match entry {
            Entry::Message(p) => p.ts,
            Entry::Event { ts, .. } => *ts,
        };
        let date = datetime(ts);
        let day = (date.year(), date.ordinal());
        if last_day != Some(day) {
            rows.push(Row::Day(day_name(date)));
            last_day = Some(day);
            last_sender = None;
        }
        match entry {
            Entry::Event { text, ts } => {
                rows.push(Row::Event {
                    time: clock(*ts),
                    text: printable(text),
                });
                last_sender = None;
            }
            Entry::Message(p) => {
                let act = action(&p.text);
                let grouped = act.is_none()
                    && last_sender.is_some_and(|(from, at)| {
                        from == p.from && p.ts.saturating_sub(at) <= GROUP_GAP_MS
                    });
                rows.push(message_row(p, act, grouped, nick));
                last_sender = if act.is_some() {
                    None
                } else {
                    Some((p.from.as_str(), p.ts))
                };
            }
        }
    }
    rows
}

fn message_row(p: &Posted, act: Option<&str>, grouped: bool, nick: &str) -> Row {
    let text = match p.mark {
        Mark::None => printable(act.unwrap_or(&p.text)),
        Mark::Edited => format!("{} (edited)", printable(act.unwrap_or(&p.text))),
        Mark::Deleted => "(deleted)".to_owned(),
    };
    Row::Message {
        time: clock(p.ts),
        from: (!grouped).then(|| printable(&p.from)),
        text,
        action: act.is_some(),
        pending: p.seq.is_none() && p.failed.is_none(),
        failed: p.failed.clone(),
        mention: p.from != nick && mentions(&p.text, nick),
    }
}

fn datetime(ts_ms: u64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(i64::try_from(ts_ms / 1000).unwrap_or(i64::MAX))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn day_name(date: OffsetDateTime) -> String {
    let format = format_description!("[weekday], [day padding:none] [month repr:long] [year]");
    date.format(format).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2025-12-01T10:00:00Z
    const DAY1: u64 = 1_764_583_200_000;
    const MINUTE: u64 = 60_000;

    fn posted(from: &str, text: &str, ts: u64, seq: Option<u64>) -> Entry {
        Entry::Message(Posted {
            seq,
            local: None,
            from: from.into(),
            text: text.into(),
            ts,
            failed: None,
            mark: Mark::None,
        })
    }

    fn senders(rows: &[Row]) -> Vec<String> {
        rows.iter()
            .map(|r| match r {
                Row::Day(d) => format!("-- {d}"),
                Row::Message {
                    from: Some(f),
                    text,
                    ..
                } => format!("{f}: {text}"),
                Row::Message { text, .. } => format!("   {text}"),
                Row::Event { text, .. } => format!("* {text}"),
            })
            .collect()
    }

    #[test]
    fn groups_senders_and_divides_days() {
        let entries = vec![
            posted("bob", "one", DAY1, Some(1)),
            posted("bob", "two", DAY1 + MINUTE, Some(2)),
            posted("ada", "three", DAY1 + 2 * MINUTE, Some(3)),
            posted("ada", "four", DAY1 + 20 * MINUTE, Some(4)),
            Entry::Event {
                text: "carol joined #lobby".into(),
                ts: DAY1 + 21 * MINUTE,
            },
            posted("ada", "five", DAY1 + 22 * MINUTE, Some(5)),
            posted("ada", "/me waves", DAY1 + 23 * MINUTE, Some(6)),
            posted("ada", "six", DAY1 + 24 * MINUTE, Some(7)),
            posted("ada", "next day", DAY1 + 24 * 60 * MINUTE, Some(8)),
        ];
        assert_eq!(
            senders(&rows(&entries, "ada")),
            vec![
                "-- Monday, 1 December 2025",
                "bob: one",
                "   two",
                "ada: three",
                "ada: four",
                "* carol joined #lobby",
                "ada: five",
                "ada: waves",
                "ada: six",
                "-- Tuesday, 2 December 2025",
                "ada: next day",
            ]
        );
    }

    #[test]
    fn marks_actions_pending_failed_and_mentions() {
        let mut failed = posted("ada", "lost", DAY1, None);
        if let Entry::Message(p) = &mut failed {
            p.failed = Some("too fast".into());
        }
        let entries = vec![
            posted("bob", "/me waves at ada", DAY1, Some(1)),
            posted("ada", "pending", DAY1, None),
            failed,
            posted("ada", "I am ada", DAY1, Some(2)),
        ];
        let rows = rows(&entries, "ada");
        let flags: Vec<(bool, bool, bool, bool)> = rows
            .iter()
            .filter_map(|r| match r {
                Row::Message {
                    action,
                    pending,
                    failed,
                    mention,
                    ..
                } => Some((*action, *pending, failed.is_some(), *mention)),
                _ => None,
            })
            .collect();
        assert_eq!(
            flags,
            vec![
                (true, false, false, true),
                (false, true, false, false),
                (false, false, true, false),
                // One's own words never mention oneself.
                (false, false, false, false),
            ]
        );
        // A text cannot draw on the terminal.
        let rows = super::rows(&[posted("bob", "a\u{1b}[2Jb", DAY1, Some(1))], "ada");
        assert!(matches!(&rows[1], Row::Message { text, .. } if !text.contains('\u{1b}')));
    }
}
