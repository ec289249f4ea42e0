//! `chitchat history ROOM [--limit N] [--json]`: the newest N messages, oldest first, each
//! in its latest state (edited, deleted, reactions), fetched in pages of at most the
//! relay's page size, going back with `before`.

use chitchat_protocol::MessageState;

use super::{check_room, name_room, print_line};
use crate::entry_output::{state_json_line, state_line};
use crate::options::Context;

/// Prints the newest `limit` messages of `room`, oldest first.
pub async fn run(ctx: &Context, room: &str, limit: u64, json: bool) -> anyhow::Result<()> {
    check_room(room)?;
    let client = ctx.connect().await?;
    let fetched = fetch(&client, room, limit).await;
    client.close().await;
    let (epoch, messages) = fetched.map_err(|e| name_room(e, room, "read"))?;
    for msg in messages {
        let line = if json {
            state_json_line(room, epoch, &msg)
        } else {
            state_line(&msg)
        };
        if !print_line(&line)? {
            break;
        }
    }
    Ok(())
}

/// The history's epoch and its newest `limit` messages, oldest first. Reading history does
/// not require joining.
async fn fetch(
    client: &crate::Client,
    room: &str,
    limit: u64,
) -> Result<(u64, Vec<MessageState>), crate::ClientError> {
    let page_max = u64::from(client.welcome().limits.history_page.max(1));
    let mut pages: Vec<Vec<MessageState>> = Vec::new();
    let mut remaining = limit;
    let mut before = None;
    let mut epoch = 0;
    while remaining > 0 {
        // Fits: at most `page_max`, a u16.
        let want = remaining.min(page_max) as u16;
        let page = client.history_states(room, before, want).await?;
        epoch = page.epoch;
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
    Ok((epoch, pages.into_iter().rev().flatten().collect()))
}
