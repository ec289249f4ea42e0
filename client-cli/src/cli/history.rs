//! `chitchat history ROOM [--limit N] [--json]`: the newest N messages, oldest first, fetched
//! in pages of at most the relay's page size, going back with `before`.

use chitchat_protocol::Message;

use super::{check_room, name_room, print_line};
use crate::options::Context;
use crate::output::{json_line, plain_line};

/// Prints the newest `limit` messages of `room`, oldest first.
pub async fn run(ctx: &Context, room: &str, limit: u64, json: bool) -> anyhow::Result<()> {
    check_room(room)?;
    let client = ctx.connect().await?;
    let fetched = fetch(&client, room, limit).await;
    client.close().await;
    for msg in fetched.map_err(|e| name_room(e, room, "read"))? {
        let line = if json {
            json_line(&msg)
        } else {
            plain_line(&msg)
        };
        if !print_line(&line)? {
            break;
        }
    }
    Ok(())
}

/// The newest `limit` messages, oldest first. Reading history does not require joining.
async fn fetch(
    client: &crate::Client,
    room: &str,
    limit: u64,
) -> Result<Vec<Message>, crate::ClientError> {
    let page_max = u64::from(client.welcome().limits.history_page.max(1));
    let mut pages: Vec<Vec<Message>> = Vec::new();
    let mut remaining = limit;
    let mut before = None;
    while remaining > 0 {
        // Fits: at most `page_max`, a u16.
        let want = remaining.min(page_max) as u16;
        let page = client.history(room, before, want).await?;
        let mut messages = page.messages;
        // A page holding more than asked keeps its newest.
        let extra = messages
            .len()
            .saturating_sub(usize::try_from(remaining).unwrap_or(usize::MAX));
        messages.drain(..extra);
        let Some(oldest) = messages.first() else {
            break;
        };
        before = Some(oldest.seq);
        remaining -= messages.len() as u64;
        pages.push(messages);
        if !page.more || before == Some(1) {
            break;
        }
    }
    Ok(pages.into_iter().rev().flatten().collect())
}
