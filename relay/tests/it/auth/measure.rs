//! A measurement, not a check (ignored by default; run with `--ignored --nocapture`): new
//! sessions per second, one after another, in open mode and with HS256 and ES256 tokens,
//! against one in-process relay each. Compare the modes with each other, on one machine and
//! one build.

use std::time::Instant;

use jsonwebtoken::Algorithm;
use serde_json::json;

use super::*;

/// Sessions opened per mode.
const SESSIONS: u32 = 300;

async fn rate(relay: &TestRelay, mut token: impl FnMut(u32) -> Option<String>) -> f64 {
    let start = Instant::now();
    for i in 0..SESSIONS {
        let mut c = RawClient::connect(relay).await;
        let nick = format!("user{i}");
        match hello_token(&mut c, &nick, token(i)).await {
            ServerFrame::Welcome(_) => {}
            other => panic!("expected Welcome, got {other:?}"),
        }
    }
    f64::from(SESSIONS) / start.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn new_sessions_per_second_by_auth_mode() {
    let open = TestRelay::start(&[]).await;
    let open_rate = rate(&open, |_| None).await;

    let (hs, _keys) = jwt_relay(&[]).await;
    let hs_rate = rate(&hs, |i| {
        Some(token(&format!("user{i}"), &[("*", "rw")], 600))
    })
    .await;

    let ec = TestKey::generate(&rcgen::PKCS_ECDSA_P256_SHA256);
    let dir = tempfile::tempdir().unwrap();
    let pem = write(dir.path(), "key.pem", &ec.public_pem);
    let es =
        TestRelay::start(&["--auth", "jwt", "--auth-public-keys", pem.to_str().unwrap()]).await;
    let es_rate = rate(&es, |i| {
        let claims = json!({"sub": format!("user{i}"), "exp": now() + 600, "rooms": {"*": "rw"}});
        Some(ec.sign(Algorithm::ES256, None, &claims))
    })
    .await;
    println!(
        "new sessions per second, sequential: open {open_rate:.0}, HS256 {hs_rate:.0} ({:+.1}%), ES256 {es_rate:.0} ({:+.1}%)",
        (hs_rate / open_rate - 1.0) * 100.0,
        (es_rate / open_rate - 1.0) * 100.0
    );
}
