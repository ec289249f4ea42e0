//! A `chitchat send` refused with `UNAVAILABLE` because Redis stalled past the relay's
//! command deadline (a real `redis-server` stopped with SIGSTOP, then SIGCONT): the refused
//! publish still runs once Redis resumes, and the CLI's retry with the same send id gets
//! that message's seq back, so the room holds the text once.

use chitchat_tests::cluster::Cluster;
use chitchat_tests::{DEFAULT_TIMEOUT, json_lines, texts};

/// The relay's count of sends refused as unavailable.
const UNAVAILABLE: &str = "chitchat_errors_total{code=\"UNAVAILABLE\"}";

#[test]
fn a_send_refused_while_redis_stalled_is_stored_once() {
    let room = "stall";
    let cluster = Cluster::start(1);
    let relay = cluster.relay(0);

    cluster.redis().pause();
    let mut send = cluster
        .cli(&[0])
        .nick("sender")
        .args(["send", room, "exactly once"])
        .spawn();
    // Past the relay's 3 s deadline the send is refused; the script is in Redis's socket.
    relay.wait_metric(UNAVAILABLE, DEFAULT_TIMEOUT, |v| v >= 1.0);
    cluster.redis().resume();

    send.wait_success();
    let out = send.transcript();
    let seq = send
        .take_lines(1, DEFAULT_TIMEOUT)
        .first()
        .and_then(|line| line.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("send printed no seq: {out}"));
    assert_eq!(seq, 1, "the retry got the original seq: {out}");

    let history = cluster.cli(&[0]).args(["history", room, "--json"]).output();
    history.assert_success();
    let stored = json_lines(&history.lines());
    assert_eq!(texts(&stored), ["exactly once"], "stored once");
}
