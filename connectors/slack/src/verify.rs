//! Slack's request signing: `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{raw body}` with the
//! signing secret, and a timestamp at most five minutes away from now (either way).

use http::HeaderMap;
use switchboard_connector_kit::signature::{hmac_sha256, hmac_sha256_matches};
use switchboard_model::{Secret, VerifyError};

/// How far `X-Slack-Request-Timestamp` may be from now, in seconds, as Slack recommends.
pub const REPLAY_WINDOW_SECS: i64 = 5 * 60;

/// What Slack signs: `v0:{timestamp}:{raw body}`.
fn signed<'a>(timestamp: &'a str, body: &'a [u8]) -> [&'a [u8]; 4] {
    [b"v0:", timestamp.as_bytes(), b":", body]
}

/// The `X-Slack-Signature` Slack sends for `body` at `timestamp`.
pub fn sign(secret: &Secret, timestamp: &str, body: &[u8]) -> String {
    format!(
        "v0={}",
        hex::encode(hmac_sha256(
            secret.expose().as_bytes(),
            &signed(timestamp, body)
        ))
    )
}

/// Checks a request as if it arrived at `now` (Unix seconds): the signature first, in constant
/// time, then the replay window.
pub fn verify_at(
    secret: &Secret,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<(), VerifyError> {
    let header = |name: &'static str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .ok_or(VerifyError::Missing(name))
    };
    let timestamp = header("x-slack-request-timestamp")?;
    let signature = header("x-slack-signature")?;
    let given = signature
        .strip_prefix("v0=")
        .and_then(|hex_digest| hex::decode(hex_digest).ok())
        .ok_or(VerifyError::BadSignature)?;
    if !hmac_sha256_matches(secret.expose().as_bytes(), &signed(timestamp, body), &given) {
        return Err(VerifyError::BadSignature);
    }
    let sent_at: i64 = timestamp.trim().parse().map_err(|_| VerifyError::Stale)?;
    if now.abs_diff(sent_at) > REPLAY_WINDOW_SECS.unsigned_abs() {
        return Err(VerifyError::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slack's documented example (docs.slack.dev, "Verifying requests from Slack").
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn headers(signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-slack-request-timestamp",
            TIMESTAMP.parse().expect("value"),
        );
        headers.insert("x-slack-signature", signature.parse().expect("value"));
        headers
    }

    #[test]
    fn the_documented_example_verifies_within_its_window_only() {
        let secret = Secret::new(SECRET);
        assert_eq!(sign(&secret, TIMESTAMP, BODY.as_bytes()), SIGNATURE);
        let at: i64 = TIMESTAMP.parse().expect("a number");
        verify_at(&secret, &headers(SIGNATURE), BODY.as_bytes(), at + 60).expect("verifies");
        assert!(matches!(
            verify_at(&secret, &headers(SIGNATURE), BODY.as_bytes(), at + 301),
            Err(VerifyError::Stale)
        ));
        assert!(matches!(
            verify_at(&secret, &headers(SIGNATURE), BODY.as_bytes(), at - 301),
            Err(VerifyError::Stale)
        ));
        let tampered = format!("{BODY}------");
        assert!(matches!(
            verify_at(&secret, &headers(SIGNATURE), tampered.as_bytes(), at),
            Err(VerifyError::BadSignature)
        ));
        assert!(matches!(
            verify_at(&secret, &headers("v1=abc"), BODY.as_bytes(), at),
            Err(VerifyError::BadSignature)
        ));
        assert!(matches!(
            verify_at(&secret, &HeaderMap::new(), BODY.as_bytes(), at),
            Err(VerifyError::Missing(_))
        ));
    }

    /// A signed timestamp far in the past overflowed `now - sent_at` (a panic in debug builds).
    #[test]
    fn a_signed_timestamp_at_the_end_of_time_is_stale() {
        let secret = Secret::new(SECRET);
        let timestamp = i64::MIN.to_string();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-slack-request-timestamp",
            timestamp.parse().expect("value"),
        );
        let signature = sign(&secret, &timestamp, BODY.as_bytes());
        headers.insert("x-slack-signature", signature.parse().expect("value"));
        assert!(matches!(
            verify_at(&secret, &headers, BODY.as_bytes(), 1_531_420_618),
            Err(VerifyError::Stale)
        ));
    }
}
