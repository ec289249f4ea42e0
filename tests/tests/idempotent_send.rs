//! A chat line refused with `UNAVAILABLE` because Redis stalled past the relay's command
//! deadline (a real `redis-server` stopped with SIGSTOP, then SIGCONT): the refused publish
//! still runs once Redis resumes, and the CLI's retry with the same send id gets that
//! message's seq back, so the room holds the text once. The chat is connected before Redis
//! stalls: a session that starts during the stall is refused before it can send (its nick's
//! claim cannot be checked).

use chitchat_tests::cluster::Cluster;
use chitchat_tests::{DEFAULT_TIMEOUT, json_lines, texts};

/// The relay's count of sends refused as unavailable.
const UNAVAILABLE: &str = "chitchat_errors_total{code=\"UNAVAILABLE\"}";

#[test]
fn a_send_refused_while_redis_stalled_is_stored_once() {
    let room = "stall";
    let cluster = Cluster::start(1);
    let relay = cluster.relay(0);

    let mut chat = cluster
        .cli(&[0])
        .nick("sender")
        .args(["chat", room])
        .spawn();
    chat.wait_for(&format!("* joined #{room}"));
    cluster.redis().pause();
    chat.write_line("exactly once");
    // Past the relay's 3 s deadline the send is refused; the script is in Redis's socket.
    relay.wait_metric(UNAVAILABLE, DEFAULT_TIMEOUT, |v| v >= 1.0);
    cluster.redis().resume();
    chat.wait_for("<sender> exactly once");
    chat.write_line("/quit");
    chat.wait_success();

    let history = cluster.cli(&[0]).args(["history", room, "--json"]).output();
    history.assert_success();
    let stored = json_lines(&history.lines());
    assert_eq!(texts(&stored), ["exactly once"], "stored once");
}
