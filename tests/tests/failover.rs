//! A client given several relays moves to the next when its relay dies.
//!
//! These relays keep separate histories (each its own embedded store), so the move is an
//! epoch change: the tail says so and follows the new relay's history from its start, each
//! message once. (Relays sharing one store would continue the same seqs.)

use chitchat_tests::{DEFAULT_TIMEOUT, RelayProcess, json_lines, seqs, texts};

#[test]
fn tail_moves_to_the_next_relay() {
    let room = "failover";
    let mut first = RelayProcess::start(&[]);
    let second = RelayProcess::start_sharing_ca(&first, &[]);

    let mut tail = first
        .cli()
        .arg("--relay")
        .arg(second.quic_addr())
        .tail(room);

    assert_eq!(first.cli().send(room, "on the first relay"), 1);
    let on_first = json_lines(&tail.take_lines(1, DEFAULT_TIMEOUT));
    assert_eq!(texts(&on_first), ["on the first relay"]);

    // Stored on the second relay before the tail gets there.
    assert_eq!(second.cli().send(room, "waiting on the second"), 1);

    first.kill9();
    tail.wait_for_stderr(
        &format!("connected to {}", second.quic_addr()),
        DEFAULT_TIMEOUT,
    );
    tail.wait_for_stderr(&format!("the history of {room} was reset"), DEFAULT_TIMEOUT);
    assert_eq!(second.cli().send(room, "live on the second"), 2);

    let on_second = json_lines(&tail.take_lines(2, DEFAULT_TIMEOUT));
    assert_eq!(seqs(&on_second), [1, 2], "{}", tail.transcript());
    assert_eq!(
        texts(&on_second),
        ["waiting on the second", "live on the second"]
    );
    assert_ne!(on_second[0]["epoch"], on_first[0]["epoch"]);
}
