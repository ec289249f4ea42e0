//! Sending within the relay's rate limit: a send refused with `RATE_LIMITED` waits and goes
//! again, the same text, until the relay takes it or refuses it for another reason. Used by
//! the full-screen chat, line mode and `chitchat send` reading stdin, so no typed or piped
//! line is dropped for being sent too fast.

use std::future::Future;
use std::time::Duration;

use chitchat_protocol::ErrorCode;

use crate::{ClientError, Sent};

/// The first wait after `RATE_LIMITED`. The relay's answer names its rate but not when the
/// next send fits; its token bucket refills one send per 1/rate seconds, and relays run
/// at tens per second, so a tenth of a second is about one token.
const FIRST_WAIT: Duration = Duration::from_millis(100);

/// The longest wait between tries: a relay limited to one send per second still gets a try
/// as soon as its bucket has a token again.
const LONGEST_WAIT: Duration = Duration::from_secs(1);

/// Runs `attempt` until it is not refused with `RATE_LIMITED`, waiting a little longer
/// after each refusal (from [`FIRST_WAIT`], doubling, up to [`LONGEST_WAIT`]).
pub async fn patiently<F, Fut>(mut attempt: F) -> Result<Sent, ClientError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Sent, ClientError>>,
{
    let mut wait = FIRST_WAIT;
    loop {
        match attempt().await {
            Err(e) if e.code() == Some(ErrorCode::RATE_LIMITED) => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(LONGEST_WAIT);
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_out_the_rate_limit_and_stops_on_other_errors() {
        let mut tries = 0;
        let sent = patiently(|| {
            tries += 1;
            let n = tries;
            async move {
                if n < 4 {
                    Err(ClientError::Refused {
                        code: ErrorCode::RATE_LIMITED,
                        message: "slow down".into(),
                    })
                } else {
                    Ok(Sent {
                        epoch: 1,
                        seq: 9,
                        ts: 0,
                    })
                }
            }
        })
        .await;
        assert_eq!(sent.map(|s| s.seq).ok(), Some(9));
        assert_eq!(tries, 4);

        let mut tries = 0;
        let refused = patiently(|| {
            tries += 1;
            async {
                Err(ClientError::Refused {
                    code: ErrorCode::TEXT_TOO_LONG,
                    message: "too long".into(),
                })
            }
        })
        .await;
        assert!(refused.is_err());
        assert_eq!(tries, 1);
    }
}
