//! `chitchat edit|delete|react ROOM SEQ ...` and `chitchat send --reply-to SEQ`: one change
//! to a room's log, checked here as far as the CLI can (room, text, emoji), then by the
//! relay (author, deleted, edit limit); prints the seq of the entry stored.

use chitchat_protocol::validate_text;

use super::{check_room, name_room, print_line};
use crate::ClientError;
use crate::client::entries::Change;
use crate::options::Context;

/// Sends `text` (its words joined with spaces) to `room` as a reply to message `to`.
pub async fn reply(ctx: &Context, room: &str, text: &[String], to: u64) -> anyhow::Result<()> {
    check_room(room)?;
    let text = text.join(" ");
    if text.is_empty() || text == "-" {
        anyhow::bail!("--reply-to sends one message: give its text as arguments");
    }
    let client = ctx.connect().await?;
    check_text(&text, client.welcome().limits.max_text_bytes)?;
    let send_id = rand::random::<u64>().max(1);
    let sent = client.post(room, &text, send_id, Some(to)).await;
    client.close().await;
    let sent = sent.map_err(|e| name_room(e, room, "send to"))?;
    print_line(&sent.seq.to_string())?;
    Ok(())
}

/// Makes `change` to message `seq` of `room`.
pub async fn change(ctx: &Context, room: &str, seq: u64, change: Change) -> anyhow::Result<()> {
    check_room(room)?;
    let client = ctx.connect().await?;
    if let Change::Edit(text) = &change {
        check_text(text, client.welcome().limits.max_text_bytes)?;
    }
    let stored = client.change(room, seq, change).await;
    client.close().await;
    let stored = stored.map_err(|e| name_room(e, room, "change a message in"))?;
    print_line(&stored.seq.to_string())?;
    Ok(())
}

/// The relay's text rules, checked before sending.
fn check_text(text: &str, max_bytes: u32) -> Result<(), ClientError> {
    validate_text(text, max_bytes as usize).map_err(ClientError::from)
}
