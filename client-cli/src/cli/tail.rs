//! `chitchat tail ROOM [--since SEQ] [--count N] [--json]`: print a room's log entries
//! (messages, replies, edits, deletes, reactions) as they arrive, each exactly once, across
//! reconnections. Status goes to stderr, messages to
//! stdout, one flushed line each.

use chitchat_protocol::{ResumeOutcome, ResumePoint};

use super::{check_room, interrupted, name_room, print_line};
use crate::entry_output::{entry_json_line, entry_line};
use crate::options::Context;
use crate::output::{
    clock, json_line, plain_line, printable, rename_json_line, rename_line, topic_json_line,
    topic_line,
};
use crate::session::SessionEvent;

/// Tails `room` until `count` messages were printed (forever without `count`).
pub async fn run(
    ctx: &Context,
    room: &str,
    since: Option<u64>,
    count: Option<u64>,
    json: bool,
) -> anyhow::Result<()> {
    check_room(room)?;
    // Ctrl-C ends a tail normally; the relay is then told at once that this reader left.
    let mut interrupted = interrupted();
    // Epoch 0: whatever the room's epoch is; `--since` names a seq, not an epoch.
    let resume = since.map(|seq| ResumePoint { epoch: 0, seq });
    let setup = async {
        let (session, events) = ctx.start_session().await?;
        let joined = session.join(room, resume).await;
        let joined = joined.map_err(|e| name_room(e, room, "follow"))?;
        Ok::<_, anyhow::Error>((session, events, joined))
    };
    let (session, mut events, joined) = tokio::select! {
        setup = setup => setup?,
        _ = &mut interrupted => return Ok(()),
    };
    eprintln!(
        "chitchat: following {room} on {} (newest #{})",
        session.welcome().node_id,
        joined.last_seq
    );
    if let ResumeOutcome::Truncated { first_seq } = joined.resume {
        eprintln!("chitchat: history of {room} starts at #{first_seq}; older messages are gone");
    }
    let mut printed = 0u64;
    let mut last_topic: Option<String> = None;
    let result = loop {
        let event = tokio::select! {
            event = events.next() => event,
            _ = &mut interrupted => break Ok(()),
        };
        let Some(event) = event else {
            break Err(anyhow::anyhow!("the session ended"));
        };
        match event {
            SessionEvent::Message(msg) => {
                let line = if json {
                    json_line(&msg)
                } else {
                    plain_line(&msg)
                };
                if !print_line(&line)? {
                    break Ok(());
                }
                printed += 1;
                if count == Some(printed) {
                    break Ok(());
                }
            }
            SessionEvent::Entry(entry) => {
                let line = if json {
                    entry_json_line(&entry)
                } else {
                    entry_line(&entry)
                };
                if !print_line(&line)? {
                    break Ok(());
                }
                printed += 1;
                if count == Some(printed) {
                    break Ok(());
                }
            }
            // Shown, not counted: `--count` counts entries.
            SessionEvent::Renamed { room, from, to } => {
                let now = crate::token::now_ms();
                let line = if json {
                    rename_json_line(&room, &from, &to, now)
                } else {
                    rename_line(&room, &from, &to, now)
                };
                if !print_line(&line)? {
                    break Ok(());
                }
            }
            // The topic as the room had it when the tail started is said on stderr, like the
            // newest seq; a change (also one made while the tail was reconnecting) is a line.
            SessionEvent::Topic { room, topic, by } => {
                let Some(shown) = &last_topic else {
                    if !topic.is_empty() {
                        eprintln!("chitchat: topic of {room}: {}", printable(&topic));
                    }
                    last_topic = Some(topic);
                    continue;
                };
                if *shown == topic {
                    continue;
                }
                let now = crate::token::now_ms();
                let line = if json {
                    topic_json_line(&room, &topic, &by, now)
                } else {
                    topic_line(&room, &topic, &by, now)
                };
                last_topic = Some(topic);
                if !print_line(&line)? {
                    break Ok(());
                }
            }
            SessionEvent::Fatal(e) => break Err(e.into()),
            SessionEvent::RoomLost { room, error } => {
                break Err(anyhow::anyhow!("no longer in {room}: {error}"));
            }
            other => report(&other),
        }
    };
    session.close().await;
    result
}

/// Says on stderr what the session is doing about the connection.
fn report(event: &SessionEvent) {
    match event {
        SessionEvent::Disconnected { relay, reason } => {
            eprintln!("chitchat: {relay}: {reason}; reconnecting");
        }
        SessionEvent::Moving {
            relay,
            message,
            reconnect_in,
        } => eprintln!(
            "chitchat: {relay} is going away ({message}); reconnecting in {} ms",
            reconnect_in.as_millis()
        ),
        SessionEvent::ConnectFailed { error, retry_in } => {
            eprintln!("chitchat: {error}; retrying in {} ms", retry_in.as_millis());
        }
        SessionEvent::Connected { relay, .. } => eprintln!("chitchat: connected to {relay}"),
        SessionEvent::RejoinFailed {
            room,
            error,
            retry_in,
        } => eprintln!(
            "chitchat: cannot follow {room} again yet: {error}; retrying in {} ms",
            retry_in.as_millis()
        ),
        SessionEvent::Resumed {
            room,
            outcome: ResumeOutcome::EpochChanged,
            ..
        } => eprintln!("chitchat: the history of {room} was reset; following its new history"),
        SessionEvent::Resumed {
            room,
            outcome: ResumeOutcome::Truncated { first_seq },
            ..
        } => eprintln!(
            "chitchat: messages of {room} before #{first_seq} are no longer stored; some were missed"
        ),
        SessionEvent::Refreshed { expires_ms } => eprintln!(
            "chitchat: token refreshed; it expires at {} UTC",
            clock(*expires_ms)
        ),
        SessionEvent::RefreshFailed { error, expires_ms } => eprintln!(
            "chitchat: cannot refresh the token: {error}; the relay ends the session at {} UTC",
            clock(*expires_ms)
        ),
        SessionEvent::Notice { code, message } => {
            eprintln!(
                "chitchat: relay: {} ({}): {message}",
                code.description(),
                code.name()
            );
        }
        _ => {}
    }
}
