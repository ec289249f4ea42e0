//! `chitchat rooms [--search TEXT] [--limit N] [--json]`: the room directory, one room per
//! line; `chitchat room create ROOM [--topic TEXT]` and `chitchat room topic ROOM TEXT`.

use chitchat_protocol::{MAX_ROOMS_PAGE, RoomSummary, validate_topic};
use serde::Serialize;

use super::{check_room, name_room, print_line};
use crate::ClientError;
use crate::client::rooms::RoomPage;
use crate::options::Context;
use crate::output::rfc3339_ms;

/// A room as `--json` prints it. Field order is the documented order.
#[derive(Debug, Serialize)]
struct JsonRoom<'a> {
    name: &'a str,
    topic: &'a str,
    members: u32,
    last_seq: u64,
    /// RFC 3339, or null for a room without messages.
    last_activity: Option<String>,
    created_by: &'a str,
}

/// One room as a line: JSON, or `#name  N members  last activity  topic`.
pub(crate) fn room_line(room: &RoomSummary, json: bool) -> String {
    let last = (room.last_activity_ms != 0).then(|| rfc3339_ms(room.last_activity_ms));
    if json {
        let value = JsonRoom {
            name: &room.name,
            topic: &room.topic,
            members: room.members,
            last_seq: room.last_seq,
            last_activity: last,
            created_by: &room.created_by,
        };
        return serde_json::to_string(&value).unwrap_or_default();
    }
    let members = match room.members {
        1 => "1 member".to_owned(),
        n => format!("{n} members"),
    };
    let last = last.map_or_else(
        || "no messages yet".to_owned(),
        |t| format!("last {}", &t[..16]),
    );
    let topic = if room.topic.is_empty() {
        String::new()
    } else {
        format!("  {}", room.topic)
    };
    format!("#{:<20} {members:>11}  {last:<22}{topic}", room.name)
}

/// A directory page as a chat shows it (`/rooms [SEARCH]`): a heading, one line per room,
/// and where to find the rest.
pub(crate) fn directory_lines(search: &str, page: &RoomPage) -> Vec<String> {
    let matching = if search.is_empty() {
        String::new()
    } else {
        format!(" matching \"{search}\"")
    };
    if page.rooms.is_empty() {
        return vec![format!("the directory lists no rooms{matching}")];
    }
    let mut lines = vec![format!("the directory's rooms{matching}:")];
    lines.extend(page.rooms.iter().map(|room| room_line(room, false)));
    if page.next.is_some() {
        lines.push("more: chitchat rooms --search TEXT --limit N".to_owned());
    }
    lines
}

/// Prints up to `limit` rooms of the directory matching `search`.
pub async fn list(ctx: &Context, search: &str, limit: u64, json: bool) -> anyhow::Result<()> {
    let client = ctx.connect().await?;
    let mut after: Option<String> = None;
    let mut printed = 0u64;
    let result = async {
        while printed < limit {
            let want = (limit - printed).min(u64::from(MAX_ROOMS_PAGE)) as u16;
            let page = client.list_rooms(search, after.as_deref(), want).await?;
            for room in &page.rooms {
                if !print_line(&room_line(room, json))? {
                    return Ok(());
                }
                printed += 1;
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    client.close().await;
    result
}

/// Makes `room` with `topic` and prints it.
pub async fn create(ctx: &Context, room: &str, topic: &str, json: bool) -> anyhow::Result<()> {
    check_room(room)?;
    validate_topic(topic).map_err(ClientError::from)?;
    let client = ctx.connect().await?;
    let made = client.create_room(room, topic).await;
    client.close().await;
    let made = made.map_err(|e| name_room(e, room, "create"))?;
    print_line(&room_line(&made, json))?;
    Ok(())
}

/// Sets `room`'s topic (joining it for the moment, as the relay asks) and prints the room.
pub async fn topic(ctx: &Context, room: &str, topic: &str, json: bool) -> anyhow::Result<()> {
    check_room(room)?;
    validate_topic(topic).map_err(ClientError::from)?;
    let client = ctx.connect().await?;
    let changed = async {
        client.join(room, None).await?;
        client.set_topic(room, topic).await
    }
    .await;
    client.close().await;
    let changed = changed.map_err(|e| name_room(e, room, "change the topic of"))?;
    print_line(&room_line(&changed, json))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(members: u32, last_activity_ms: u64, topic: &str) -> RoomSummary {
        RoomSummary {
            name: "ops".into(),
            topic: topic.into(),
            members,
            last_seq: 17,
            last_activity_ms,
            created_by: "ada".into(),
        }
    }

    #[test]
    fn lines_for_people_and_programs() {
        let busy = room(3, 1_764_003_600_000, "Deploys");
        let line = room_line(&busy, false);
        assert!(line.starts_with("#ops "), "{line}");
        assert!(
            line.contains("3 members") && line.contains("last 2025-11-24T17:00"),
            "{line}"
        );
        assert!(line.ends_with("  Deploys"), "{line}");
        assert!(room_line(&room(1, 0, ""), false).contains("1 member  no messages yet"));
        let json: serde_json::Value = serde_json::from_str(&room_line(&busy, true)).unwrap();
        assert_eq!(json["last_activity"], "2025-11-24T17:00:00.000Z");
        assert_eq!(json["members"], 3);
        let quiet: serde_json::Value =
            serde_json::from_str(&room_line(&room(0, 0, ""), true)).unwrap();
        assert!(quiet["last_activity"].is_null());
    }
}
