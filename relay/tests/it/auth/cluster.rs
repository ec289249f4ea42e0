//! Token mode across a cluster on a real redis-server: the same secret on every relay, and
//! grants and direct-message rooms hold whichever relay a user is on.

use chitchat_protocol::*;
use chitchat_tests::redis::RedisServer;

use super::*;
use crate::support::cluster::ClusterRelay;
use crate::support::{join, request_history, request_join, send_text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_and_direct_messages_hold_across_relays() {
    let redis = RedisServer::start().await;
    let certs = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let secret = write(keys.path(), "secret", std::str::from_utf8(SECRET).unwrap());
    let secret = secret.display().to_string();
    let flags = ["--auth", "jwt", "--auth-hmac-secret-file", secret.as_str()];
    let a = ClusterRelay::start(&redis.url(), certs.path(), "a", &flags).await;
    let b = ClusterRelay::start(&redis.url(), certs.path(), "b", &flags).await;
    let ca = certs.path().join("ca.pem");

    let (mut alice, _) = signed_in_at(a.quic, &ca, token("alice", &[("team-a", "rw")], 600)).await;
    let (mut bob, _) = signed_in_at(b.quic, &ca, token("bob", &[("team-*", "rw")], 600)).await;
    let (mut carol, _) = signed_in_at(b.quic, &ca, token("carol", &[("team-b", "rw")], 600)).await;
    let (_, mut alice_team) = join(&mut alice, 1, "team-a", None).await;
    let (_, _bob_team) = join(&mut bob, 1, "team-a", None).await;
    let seq = send_text(&mut bob, 2, "team-a", "from relay b").await;
    assert_eq!(alice_team.message().await.seq, seq);
    forbidden(request_join(&mut carol, 1, "team-a", None).await, 1);
    forbidden(request_history(&mut carol, 2, "team-a", None, 10).await, 2);

    let dm = dm_room(&["alice", "bob"]).unwrap();
    let (_, mut alice_dm) = join(&mut alice, 3, &dm, None).await;
    send_text(&mut bob, 3, &dm, "across the cluster").await;
    assert_eq!(alice_dm.message().await.text, "across the cluster");
    forbidden(request_join(&mut carol, 3, &dm, None).await, 3);
    forbidden(request_history(&mut carol, 4, &dm, None, 10).await, 4);
}
