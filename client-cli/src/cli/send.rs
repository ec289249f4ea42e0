//! `chitchat send ROOM TEXT...`: join the room live, send, wait until stored, print the seq.

use super::{Context, check_room, print_line};

/// Sends `text` to `room` and prints the seq it was stored under.
pub async fn run(ctx: &Context, room: &str, text: &str) -> anyhow::Result<()> {
    check_room(room)?;
    let client = ctx.connect().await?;
    // The relay takes messages only for joined rooms.
    let sent = async {
        client.join(room, None).await?;
        client.send(room, text).await
    }
    .await;
    client.close().await;
    print_line(&sent?.seq.to_string())?;
    Ok(())
}
