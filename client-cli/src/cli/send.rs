//! `chitchat send ROOM TEXT...`: send without joining (so members see no join and leave),
//! wait until stored, print the seq. Without TEXT (or with `-`), each line of stdin is one
//! message (empty lines are skipped), sent in order, each waiting out the rate limit; a line
//! the relay refuses is reported and the others still go, and the command then fails
//! naming how many were not sent.

use std::io::BufRead;

use super::{check_room, name_room, print_line};
use crate::options::Context;
use crate::tui::pace::patiently;

/// Sends `text` (its words joined with spaces; stdin's lines when there are none, or just
/// `-`) to `room` and prints the seq each message was stored under.
pub async fn run(ctx: &Context, room: &str, text: &[String]) -> anyhow::Result<()> {
    check_room(room)?;
    let from_stdin = text.is_empty() || text == ["-"];
    let client = ctx.connect().await?;
    if !from_stdin {
        let sent = client.send(room, &text.join(" ")).await;
        client.close().await;
        let sent = sent.map_err(|e| name_room(e, room, "send to"))?;
        print_line(&sent.seq.to_string())?;
        return Ok(());
    }
    let (lines, mut reader) = tokio::sync::mpsc::channel(STDIN_QUEUE);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let stop = line.is_err();
            if lines.blocking_send(line).is_err() || stop {
                break;
            }
        }
    });
    let mut unsent = 0usize;
    let mut outcome = Ok(());
    while let Some(line) = reader.recv().await {
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                outcome = Err(anyhow::anyhow!("cannot read stdin: {e}"));
                break;
            }
        };
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        match patiently(|| client.send(room, line)).await {
            Ok(sent) => {
                print_line(&sent.seq.to_string())?;
            }
            Err(e) if e.is_connection_lost() => {
                unsent += 1;
                outcome = Err(name_room(e, room, "send to"));
                break;
            }
            Err(e) => {
                unsent += 1;
                eprintln!("error: line not sent: {:#}", name_room(e, room, "send to"));
            }
        }
    }
    client.close().await;
    outcome?;
    match unsent {
        0 => Ok(()),
        1 => Err(anyhow::anyhow!("1 line was not sent")),
        n => Err(anyhow::anyhow!("{n} lines were not sent")),
    }
}

/// How many stdin lines are read ahead of the sends: reading waits for sending, so a large
/// pipe is not read into memory.
const STDIN_QUEUE: usize = 64;
