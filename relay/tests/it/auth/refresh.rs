//! Expiry on the live session: TokenExpiring before `exp`, Refresh without a gap in any
//! room, a refresh that withdraws a grant leaves that room, a bad or foreign refresh ends
//! the session, an unrefreshed session is closed with TOKEN_EXPIRED and resumes with a new
//! token.

use std::time::Duration;

use chitchat_protocol::*;

use super::*;
use crate::support::{RoomReader, join, send_text};

fn refresh(id: u32, token: String) -> ClientFrame {
    ClientFrame::Refresh { id, token }
}

/// The seqs of the next `n` messages of a room stream.
async fn seqs(room: &mut RoomReader, n: usize) -> Vec<u64> {
    let mut got = Vec::new();
    while got.len() < n {
        got.push(room.message().await.seq);
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_keeps_every_room_streaming_without_a_gap() {
    let (relay, _keys) = jwt_relay(&[]).await;
    let grants = [("r1", "rw"), ("r2", "rw")];
    let (mut alice, _) = signed_in(&relay, token("alice", &grants, 600)).await;
    let (_, mut r1) = join(&mut alice, 1, "r1", None).await;
    let (_, mut r2) = join(&mut alice, 2, "r2", None).await;
    let (mut bob, _) = signed_in(&relay, token("bob", &[("*", "rw")], 600)).await;
    let sender = tokio::spawn(async move {
        for i in 0..40u32 {
            let room = if i % 2 == 0 { "r1" } else { "r2" };
            send_text(&mut bob, i + 1, room, &format!("m{i}")).await;
        }
        bob
    });
    // Refreshes while bob's messages flow.
    for id in 10..13 {
        match alice
            .request(refresh(id, token("alice", &grants, 900)))
            .await
        {
            ServerFrame::Refreshed {
                id: got,
                expires_ms,
            } => {
                assert_eq!(got, id);
                assert!(expires_ms > now() * 1000 + 800_000);
            }
            other => panic!("expected Refreshed, got {other:?}"),
        }
    }
    let _bob = sender.await.unwrap();
    let expected: Vec<u64> = (1..=20).collect();
    assert_eq!(seqs(&mut r1, 20).await, expected);
    assert_eq!(seqs(&mut r2, 20).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_that_withdraws_a_grant_leaves_that_room() {
    let (relay, _keys) = jwt_relay(&[]).await;
    let (mut alice, _) = signed_in(&relay, token("alice", &[("r1", "rw"), ("r2", "r")], 600)).await;
    let (_, mut r1) = join(&mut alice, 1, "r1", None).await;
    let (_, mut r2) = join(&mut alice, 2, "r2", None).await;
    alice
        .send(&refresh(3, token("alice", &[("r1", "rw")], 600)))
        .await;
    assert_eq!(
        alice.recv().await,
        ServerFrame::Left {
            id: 0,
            room: "r2".into()
        }
    );
    assert!(matches!(
        alice.recv().await,
        ServerFrame::Refreshed { id: 3, .. }
    ));
    // r2's stream is finished; r1 goes on.
    while let Some(frame) = r2.next().await {
        assert!(
            matches!(frame, RoomFrame::Presence { .. }),
            "after the refresh r2 carried {frame:?}"
        );
    }
    let (mut bob, _) = signed_in(&relay, token("bob", &[("*", "rw")], 600)).await;
    let seq = send_text(&mut bob, 1, "r1", "still here").await;
    assert_eq!(r1.message().await.seq, seq);
    send_text(&mut bob, 2, "r2", "not for alice").await;
    forbidden(
        crate::support::request_history(&mut alice, 4, "r2", None, 5).await,
        4,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_or_foreign_refresh_ends_the_session() {
    let (relay, _keys) = jwt_relay(&[]).await;
    let cases = [
        ("garbage".to_string(), "not a guest secret"),
        (token("mallory", &[("*", "rw")], 600), "sub \"mallory\""),
        (
            hs256(
                b"not the relay's secret, but long enough",
                &serde_json::json!({"sub": "alice", "exp": now() + 60}),
            ),
            "signature",
        ),
        ("x".repeat(MAX_TOKEN_LEN + 1), "the most is 4096"),
    ];
    for (bad, says) in cases {
        let (mut alice, _) = signed_in(&relay, token("alice", &[], 600)).await;
        match alice.request(refresh(1, bad)).await {
            ServerFrame::Error(e) => {
                assert_eq!((e.id, e.code), (0, ErrorCode::UNAUTHORIZED), "{e:?}");
                assert!(e.message.contains("refresh refused"), "{}", e.message);
                assert!(e.message.contains(says), "{says:?}: {}", e.message);
            }
            other => panic!("expected UNAUTHORIZED, got {other:?}"),
        }
        assert_eq!(alice.closed().await.0, u64::from(ErrorCode::UNAUTHORIZED.0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_in_open_mode_is_an_invalid_request() {
    let relay = TestRelay::start(&[]).await;
    let (mut c, _) = RawClient::hello(&relay, "alice").await;
    match c.request(refresh(1, token("alice", &[], 60))).await {
        ServerFrame::Error(e) => assert_eq!((e.id, e.code), (1, ErrorCode::INVALID_REQUEST)),
        other => panic!("expected INVALID_REQUEST, got {other:?}"),
    }
    assert!(matches!(
        c.request(ClientFrame::Ping { id: 2 }).await,
        ServerFrame::Pong { id: 2, .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unrefreshed_session_is_closed_at_exp_and_resumes_with_a_new_token() {
    let (relay, _keys) = jwt_relay(&[]).await;
    let exp = now() + 3;
    let short = hs256(
        SECRET,
        &serde_json::json!({"sub": "alice", "rooms": {"r1": "rw"}, "exp": exp}),
    );
    let exp_ms = exp * 1000;
    let (mut alice, _) = signed_in(&relay, short.clone()).await;
    // Less than a minute is left: the warning comes at once.
    assert_eq!(
        alice.recv().await,
        ServerFrame::TokenExpiring { expires_ms: exp_ms }
    );
    let (joined, _r1) = join(&mut alice, 1, "r1", None).await;
    let (mut bob, _) = signed_in(&relay, token("bob", &[("*", "rw")], 600)).await;
    send_text(&mut bob, 1, "r1", "before").await;
    match alice.recv().await {
        ServerFrame::Error(e) => {
            assert_eq!((e.id, e.code), (0, ErrorCode::TOKEN_EXPIRED), "{e:?}");
            assert!(e.message.contains("fresh token"), "{}", e.message);
        }
        other => panic!("expected TOKEN_EXPIRED, got {other:?}"),
    }
    assert!(super::now() * 1000 >= exp_ms, "closed before exp");
    assert_eq!(
        alice.closed().await.0,
        u64::from(ErrorCode::TOKEN_EXPIRED.0)
    );
    send_text(&mut bob, 2, "r1", "while away").await;

    // The old token is not taken again; a fresh one resumes where alice was.
    refused(&relay, Some(short), ErrorCode::UNAUTHORIZED, "expired").await;
    let (mut alice, _) = signed_in(&relay, token("alice", &[("r1", "rw")], 600)).await;
    let resume = ResumePoint {
        epoch: joined.epoch,
        seq: joined.last_seq,
    };
    let (joined, mut r1) = join(&mut alice, 1, "r1", Some(resume)).await;
    assert_eq!(joined.resume, ResumeOutcome::Resumed);
    let texts: Vec<String> = vec![r1.message().await.text, r1.message().await.text];
    assert_eq!(texts, ["before", "while away"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_expiring_comes_a_minute_before_exp() {
    let (relay, _keys) = jwt_relay(&[]).await;
    let (mut alice, _) = signed_in(&relay, token("alice", &[], 63)).await;
    // Between 62 and 63 s are left: the warning is due 2 to 3 s from now, not at once.
    let early = tokio::time::timeout(Duration::from_millis(1500), alice.recv()).await;
    assert!(early.is_err(), "warned too early: {early:?}");
    assert!(matches!(
        alice.recv().await,
        ServerFrame::TokenExpiring { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_storm_is_bounded_by_the_request_rate() {
    let (relay, _keys) = jwt_relay(&[
        "--msgs-per-sec",
        "5",
        "--msgs-burst",
        "5",
        "--max-rooms",
        "5",
    ])
    .await;
    let (mut alice, _) = signed_in(&relay, token("alice", &[], 600)).await;
    let fresh = token("alice", &[], 600);
    for id in 1..=100 {
        alice.send(&refresh(id, fresh.clone())).await;
    }
    let (mut refreshed, mut limited) = (0, 0);
    for _ in 1..=100 {
        match alice.recv().await {
            ServerFrame::Refreshed { .. } => refreshed += 1,
            ServerFrame::Error(e) if e.code == ErrorCode::RATE_LIMITED => limited += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        limited >= 80,
        "{refreshed} refreshed, {limited} rate limited"
    );
    assert_eq!(refreshed + limited, 100);
    assert!(matches!(
        alice.request(ClientFrame::Ping { id: 101 }).await,
        ServerFrame::Pong { id: 101, .. }
    ));
}
