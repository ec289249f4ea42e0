//! Token mode's refusals: every forged or wrong token is refused at Hello with
//! UNAUTHORIZED and a reason that says what to fix; good ones are admitted with the token's
//! nick.

use base64::Engine;
use chitchat_protocol::ErrorCode;
use chitchat_relay::{Config, Relay};
use clap::Parser;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use super::*;

const UNAUTHORIZED: ErrorCode = ErrorCode::UNAUTHORIZED;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A change to good claims that makes them wrong.
type ClaimsChange = fn(&mut Value);

/// Good claims for the issuer/audience relay, with `change` applied.
fn claims(change: impl FnOnce(&mut Value)) -> Value {
    let mut c = json!({
        "sub": "alice", "name": "Alice", "exp": now() + 600,
        "iss": "https://issuer.test", "aud": "chitchat-test", "rooms": {"team-*": "rw"},
    });
    change(&mut c);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hmac_tokens_are_checked_and_each_refusal_says_why() {
    let (relay, _keys) = jwt_relay(&[
        "--auth-issuer",
        "https://issuer.test",
        "--auth-audience",
        "chitchat-test",
    ])
    .await;

    // A good token: the nick is the token's name, whatever Hello said.
    let (_alice, welcome) = signed_in(&relay, hs256(SECRET, &claims(|_| {}))).await;
    assert_eq!(welcome.nick, "Alice");
    let (_bob, welcome) = signed_in(
        &relay,
        hs256(
            SECRET,
            &claims(|c| {
                c["sub"] = json!("bob");
                c.as_object_mut().unwrap().remove("name");
            }),
        ),
    )
    .await;
    assert_eq!(welcome.nick, "bob", "without a name the nick is the sub");

    refused(&relay, None, UNAUTHORIZED, "requires a token").await;
    refused(
        &relay,
        Some("garbage".into()),
        UNAUTHORIZED,
        "not a guest secret",
    )
    .await;
    refused(&relay, Some("a.b.c".into()), UNAUTHORIZED, "not a JWT").await;
    let long = "x".repeat(MAX_TOKEN_LEN + 1);
    refused(&relay, Some(long), UNAUTHORIZED, "the most is 4096").await;
    let unsigned = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims(|_| {}).to_string().as_bytes())
    );
    refused(&relay, Some(unsigned), UNAUTHORIZED, "unsigned").await;
    let other_secret = hs256(
        b"another secret, just as long as the real one",
        &claims(|_| {}),
    );
    refused(
        &relay,
        Some(other_secret),
        UNAUTHORIZED,
        "bad HS256 signature",
    )
    .await;
    let wrong_claims: [(ClaimsChange, &str); 7] = [
        (|c| c["iss"] = json!("https://evil.test"), "wrong issuer"),
        (|c| c["aud"] = json!("another-app"), "wrong audience"),
        (|c| c["nbf"] = json!(now() + 3600), "not valid yet"),
        (|c| c["exp"] = json!(now() - 60), "expired"),
        (|c| drop(c.as_object_mut().unwrap().remove("sub")), "sub"),
        (|c| c["name"] = json!("ad min"), "not a valid nick"),
        (|c| c["rooms"] = json!({"team-*": "admin"}), "rooms claim"),
    ];
    for (change, says) in wrong_claims {
        let token = hs256(SECRET, &claims(change));
        refused(&relay, Some(token), UNAUTHORIZED, says).await;
    }
    let es = TestKey::generate(&rcgen::PKCS_ECDSA_P256_SHA256);
    refused(
        &relay,
        Some(es.sign(Algorithm::ES256, None, &claims(|_| {}))),
        UNAUTHORIZED,
        "verifies only HMAC",
    )
    .await;
    // Nobody else was affected: alice is still served.
    let mut alice = signed_in(&relay, hs256(SECRET, &claims(|_| {}))).await.0;
    let (joined, _room) = crate::support::join(&mut alice, 1, "team-a", None).await;
    assert_eq!(joined.room, "team-a");
}

/// A JWKS of an ES256 key (`ec1`) and an EdDSA key (`ed1`).
fn jwks(ec: &TestKey, ed: &TestKey) -> String {
    json!({"keys": [
        {"kty": "EC", "crv": "P-256", "x": b64(&ec.raw[1..33]), "y": b64(&ec.raw[33..65]),
         "kid": "ec1", "alg": "ES256", "use": "sig"},
        {"kty": "OKP", "crv": "Ed25519", "x": b64(&ed.raw), "kid": "ed1"},
    ]})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_keys_are_chosen_by_kid_and_algorithm_confusion_is_refused() {
    let ec = TestKey::generate(&rcgen::PKCS_ECDSA_P256_SHA256);
    let ed = TestKey::generate(&rcgen::PKCS_ED25519);
    let dir = tempfile::tempdir().unwrap();
    let keys = write(dir.path(), "jwks.json", &jwks(&ec, &ed));
    let keys = keys.display().to_string();
    let relay = TestRelay::start(&["--auth", "jwt", "--auth-public-keys", &keys]).await;
    let good = json!({"sub": "carol", "exp": now() + 600});

    let (_c, w) = signed_in(&relay, ec.sign(Algorithm::ES256, Some("ec1"), &good)).await;
    assert_eq!(w.nick, "carol");
    let (_d, w) = signed_in(&relay, ed.sign(Algorithm::EdDSA, Some("ed1"), &good)).await;
    assert_eq!(w.nick, "carol");

    let token = Some(ec.sign(Algorithm::ES256, Some("nope"), &good));
    refused(&relay, token, UNAUTHORIZED, "names no key").await;
    let token = Some(ec.sign(Algorithm::ES256, None, &good));
    refused(&relay, token, UNAUTHORIZED, "has no kid").await;
    // The ES256 key's kid on an EdDSA token: the key verifies ES256 only.
    let token = Some(ed.sign(Algorithm::EdDSA, Some("ec1"), &good));
    refused(&relay, token, UNAUTHORIZED, "does not match the key").await;
    // Signed by another EC key under ec1's kid.
    let stranger = TestKey::generate(&rcgen::PKCS_ECDSA_P256_SHA256);
    let token = Some(stranger.sign(Algorithm::ES256, Some("ec1"), &good));
    refused(&relay, token, UNAUTHORIZED, "bad ES256 signature").await;
    // The classic confusion: HS256 "signed" with the public key as the HMAC secret.
    let confused = hs256(ec.public_pem.as_bytes(), &good);
    refused(&relay, Some(confused), UNAUTHORIZED, "HMAC-signed token").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pem_public_key_verifies_tokens_without_kid() {
    let ec = TestKey::generate(&rcgen::PKCS_ECDSA_P256_SHA256);
    let dir = tempfile::tempdir().unwrap();
    let pem = write(dir.path(), "key.pem", &ec.public_pem);
    let pem = pem.display().to_string();
    let relay = TestRelay::start(&["--auth", "jwt", "--auth-public-keys", &pem]).await;
    let good = json!({"sub": "dave", "exp": now() + 600});
    let (_c, w) = signed_in(&relay, ec.sign(Algorithm::ES256, None, &good)).await;
    assert_eq!(w.nick, "dave");
    let confused = hs256(ec.public_pem.as_bytes(), &good);
    refused(&relay, Some(confused), UNAUTHORIZED, "HMAC-signed token").await;
}

/// Relay::load with these flags fails, saying `says`.
async fn start_fails(flags: &[&str], says: &str) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").display().to_string();
    let certs = dir.path().join("certs").display().to_string();
    let mut args = vec![
        "chitchat-relay",
        "--listen",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--data-dir",
        &data,
        "--certs-dir",
        &certs,
    ];
    args.extend_from_slice(flags);
    match Relay::load(Config::parse_from(args)).await {
        Ok(_) => panic!("{flags:?} should not start"),
        Err(e) => assert!(format!("{e:#}").contains(says), "{flags:?}: {e:#}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_auth_flags_stop_the_relay_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let short = write(dir.path(), "short", "too short\n")
        .display()
        .to_string();
    let oct = write(
        dir.path(),
        "oct.json",
        r#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"k1"}]}"#,
    )
    .display()
    .to_string();
    let junk = write(dir.path(), "junk", "not a key").display().to_string();
    let secret = write(dir.path(), "secret", std::str::from_utf8(SECRET).unwrap())
        .display()
        .to_string();
    start_fails(&["--auth", "jwt"], "needs --auth-hmac-secret-file").await;
    start_fails(
        &["--auth", "jwt", "--auth-hmac-secret-file", &short],
        "at least 32",
    )
    .await;
    start_fails(&["--auth", "jwt", "--auth-public-keys", &oct], "symmetric").await;
    start_fails(
        &["--auth", "jwt", "--auth-public-keys", &junk],
        "neither a PEM",
    )
    .await;
    start_fails(&["--private-rooms", "team-*"], "needs --auth jwt").await;
    let jwt = ["--auth", "jwt", "--auth-hmac-secret-file", secret.as_str()];
    let mut flags = jwt.to_vec();
    flags.extend(["--private-rooms", "team-?"]);
    start_fails(&flags, "may not contain '?'").await;
}

/// `openssl` with `args` (RSA keys: rcgen on ring cannot make them).
fn openssl(args: &[&str]) {
    let status = std::process::Command::new("openssl")
        .args(args)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl (Debian package openssl) makes the RSA test key");
    assert!(status.success(), "openssl {args:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rsa_pem_key_verifies_rs256_tokens_only() {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("rsa.pem");
    let public = dir.path().join("rsa.pub.pem");
    let (private_s, public_s) = (private.to_str().unwrap(), public.to_str().unwrap());
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        private_s,
    ]);
    openssl(&["pkey", "-in", private_s, "-pubout", "-out", public_s]);
    let relay = TestRelay::start(&["--auth", "jwt", "--auth-public-keys", public_s]).await;
    let good = json!({"sub": "erin", "exp": now() + 600});
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&std::fs::read(&private).unwrap()).unwrap();
    let rs256 = |alg| jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), &good, &key).unwrap();
    let (_c, w) = signed_in(&relay, rs256(Algorithm::RS256)).await;
    assert_eq!(w.nick, "erin");
    refused(
        &relay,
        Some(rs256(Algorithm::PS256)),
        UNAUTHORIZED,
        "does not match the key",
    )
    .await;
    let confused = hs256(&std::fs::read(&public).unwrap(), &good);
    refused(&relay, Some(confused), UNAUTHORIZED, "HMAC-signed token").await;
}
