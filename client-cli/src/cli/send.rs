//! `chitchat send ROOM TEXT...`: send without joining (so members see no join and leave),
//! wait until stored, print the seq.

use super::{check_room, name_room, print_line};
use crate::options::Context;

/// Sends `text` to `room` and prints the seq it was stored under.
pub async fn run(ctx: &Context, room: &str, text: &str) -> anyhow::Result<()> {
    check_room(room)?;
    let client = ctx.connect().await?;
    let sent = client.send(room, text).await;
    client.close().await;
    let sent = sent.map_err(|e| name_room(e, room, "send to"))?;
    print_line(&sent.seq.to_string())?;
    Ok(())
}
