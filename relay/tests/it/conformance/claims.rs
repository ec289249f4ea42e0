//! Conformance case on guest nick claims: a claim is held by its hash alone, renewed by it,
//! checked without being taken when no hash is given, and gone after its time-to-live.

use std::time::{Duration, Instant};

use chitchat_relay::broker::{ClaimOutcome, NickClaim};

use super::*;

fn claim(key: &str, hash: Option<u8>) -> NickClaim {
    NickClaim {
        key: key.into(),
        secret_hash: hash.map(|b| [b; 32]),
    }
}

async fn outcomes(broker: &dyn Broker, claims: &[NickClaim], ttl: Duration) -> Vec<ClaimOutcome> {
    broker
        .claim_nicks(claims, ttl)
        .await
        .unwrap_or_else(|e| panic!("claiming {claims:?} failed: {e}"))
}

/// Held, renewed, taken, free, in one batch and alone; racing claimants get one winner;
/// a claim left unrenewed expires.
pub async fn nick_claims_are_held_by_one_secret(factory: &dyn StoreFactory) {
    use ClaimOutcome::{Free, Held, Taken};
    let (broker, _sink) = open(factory).await;
    let long = Duration::from_secs(600);
    let batch = [
        claim("ada", Some(1)),
        claim("bob", None),
        claim("ada", Some(2)),
    ];
    assert_eq!(outcomes(&*broker, &batch, long).await, [Held, Free, Taken]);
    assert_eq!(
        outcomes(&*broker, &[claim("ada", Some(1)), claim("ada", None)], long).await,
        [Held, Taken],
        "the holder renews; no hash is refused on a held key"
    );
    assert_eq!(
        outcomes(&*broker, &[claim("bob", Some(2))], long).await,
        [Held],
        "checking a free key without a hash claimed nothing"
    );

    // Racing claimants of one free key: exactly one holds it.
    let racers: Vec<_> = (10..20u8)
        .map(|b| {
            let broker = broker.clone();
            tokio::spawn(async move { broker.claim_nicks(&[claim("race", Some(b))], long).await })
        })
        .collect();
    let mut held = 0;
    for racer in racers {
        let outcome = racer
            .await
            .expect("the racer runs")
            .expect("the claim answers");
        held += usize::from(outcome == [Held]);
    }
    assert_eq!(held, 1, "one racer wins the key");

    // An unrenewed claim expires; renewing keeps it.
    let short = Duration::from_millis(300);
    assert_eq!(
        outcomes(&*broker, &[claim("brief", Some(1))], short).await,
        [Held]
    );
    let deadline = Instant::now() + DEADLINE;
    while outcomes(&*broker, &[claim("brief", None)], short).await == [Taken] {
        assert!(Instant::now() < deadline, "the claim did not expire");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        outcomes(&*broker, &[claim("brief", Some(3))], short).await,
        [Held]
    );
}
