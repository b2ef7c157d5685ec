//! Zendesk's webhook signing: `X-Zendesk-Webhook-Signature` is the base64 HMAC-SHA256, keyed with
//! the signing secret's UTF-8 bytes, of the timestamp in `X-Zendesk-Webhook-Signature-Timestamp`
//! and the raw body. Zendesk's docs say timestamp then body; its published example verifies as
//! body then timestamp; both are accepted. The timestamp must be within five minutes of now.

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, Utc};
use http::HeaderMap;
use switchboard_connector_kit::signature::{hmac_sha256, secret_matches};
use switchboard_model::{Secret, VerifyError};

pub(crate) const SIGNATURE_HEADER: &str = "X-Zendesk-Webhook-Signature";
pub(crate) const TIMESTAMP_HEADER: &str = "X-Zendesk-Webhook-Signature-Timestamp";

/// How far the signed timestamp may be from now, either way.
pub(crate) const REPLAY_WINDOW: chrono::Duration = chrono::Duration::minutes(5);

fn digest(secret: &Secret, first: &[u8], second: &[u8]) -> [u8; 32] {
    hmac_sha256(secret.expose().as_bytes(), &[first, second])
}

/// Checks a request as if it arrived at `now`: both headers present, the timestamp within the
/// window, then the signature in either order, in constant time.
pub fn verify_at(
    secret: &Secret,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), VerifyError> {
    let header = |name: &'static str| {
        headers
            .get(name)
            .map(|value| value.as_bytes())
            .ok_or(VerifyError::Missing(name))
    };
    let signature = header(SIGNATURE_HEADER)?;
    let timestamp = header(TIMESTAMP_HEADER)?;
    // A timestamp we cannot read is not one Zendesk signed.
    let sent_at = std::str::from_utf8(timestamp)
        .ok()
        .and_then(|text| DateTime::parse_from_rfc3339(text.trim()).ok())
        .ok_or(VerifyError::BadSignature)?;
    if (now - sent_at.with_timezone(&Utc)).abs() > REPLAY_WINDOW {
        return Err(VerifyError::Stale);
    }
    let given = std::str::from_utf8(signature)
        .ok()
        .and_then(|text| STANDARD.decode(text.trim()).ok())
        .ok_or(VerifyError::BadSignature)?;
    // Both compared, whichever matches, so that the time taken says nothing.
    let documented = secret_matches(&digest(secret, timestamp, body), &given);
    let published = secret_matches(&digest(secret, body, timestamp), &given);
    if documented | published {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Zendesk's published example ("Verifying webhook authenticity"): it verifies as body then
    /// timestamp.
    const SECRET: &str = "HRkRd4BeOAoUkfZr-mhauJT64rvBASlJRoIyPsd3zeA=";
    const BODY: &str = r#"{"say": "hello"}"#;
    const TIMESTAMP: &str = "2021-07-25T10:00:00Z";
    const PUBLISHED: &str = "tRDSF7URY8BLCDlaBcQ7FHu051Zk+aAB0NKMP53teMw=";
    /// The same request signed timestamp then body, computed apart (Python's `hmac`).
    const DOCUMENTED: &str = "Rry/4TtIdFyawtXXp8QdI6tlAUUQ/5kL1OTp5qo/ZIk=";

    fn headers(signature: &str, timestamp: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(SIGNATURE_HEADER, signature.parse().expect("a value"));
        headers.insert(TIMESTAMP_HEADER, timestamp.parse().expect("a value"));
        headers
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("a time")
            .with_timezone(&Utc)
    }

    fn check(signature: &str, timestamp: &str, body: &str, now: &str) -> Result<(), VerifyError> {
        verify_at(
            &Secret::new(SECRET),
            &headers(signature, timestamp),
            body.as_bytes(),
            at(now),
        )
    }

    #[test]
    fn both_orders_verify() {
        check(PUBLISHED, TIMESTAMP, BODY, TIMESTAMP).expect("body then timestamp");
        check(DOCUMENTED, TIMESTAMP, BODY, TIMESTAMP).expect("timestamp then body");
        let ours = digest(&Secret::new(SECRET), TIMESTAMP.as_bytes(), BODY.as_bytes());
        assert_eq!(STANDARD.encode(ours), DOCUMENTED);
    }

    #[test]
    fn tampered_bodies_timestamps_and_signatures_fail() {
        for (signature, timestamp, body) in [
            (PUBLISHED, TIMESTAMP, r#"{"say": "hellO"}"#),
            (DOCUMENTED, TIMESTAMP, r#"{"say":"hello"}"#),
            // Another time within the window: the signature covers the timestamp.
            (PUBLISHED, "2021-07-25T10:00:01Z", BODY),
            (&PUBLISHED[1..], TIMESTAMP, BODY),
            ("not base64!", TIMESTAMP, BODY),
            ("", TIMESTAMP, BODY),
            (PUBLISHED, "yesterday", BODY),
        ] {
            assert!(
                matches!(
                    check(signature, timestamp, body, TIMESTAMP),
                    Err(VerifyError::BadSignature)
                ),
                "{signature} {timestamp} {body}"
            );
        }
        let wrong_secret = verify_at(
            &Secret::new("another secret"),
            &headers(PUBLISHED, TIMESTAMP),
            BODY.as_bytes(),
            at(TIMESTAMP),
        );
        assert!(matches!(wrong_secret, Err(VerifyError::BadSignature)));
    }

    #[test]
    fn only_five_minutes_either_way_are_fresh() {
        check(PUBLISHED, TIMESTAMP, BODY, "2021-07-25T10:05:00Z").expect("5 minutes late");
        check(PUBLISHED, TIMESTAMP, BODY, "2021-07-25T09:55:00Z").expect("5 minutes early");
        for now in [
            "2021-07-25T10:05:01Z",
            "2021-07-25T09:54:59Z",
            "2024-01-01T00:00:00Z",
        ] {
            assert!(
                matches!(
                    check(PUBLISHED, TIMESTAMP, BODY, now),
                    Err(VerifyError::Stale)
                ),
                "{now}"
            );
        }
    }

    #[test]
    fn missing_headers_are_named() {
        let now = at(TIMESTAMP);
        let secret = Secret::new(SECRET);
        let mut no_signature = headers(PUBLISHED, TIMESTAMP);
        no_signature.remove(SIGNATURE_HEADER);
        assert!(matches!(
            verify_at(&secret, &no_signature, BODY.as_bytes(), now),
            Err(VerifyError::Missing(SIGNATURE_HEADER))
        ));
        let mut no_timestamp = headers(PUBLISHED, TIMESTAMP);
        no_timestamp.remove(TIMESTAMP_HEADER);
        assert!(matches!(
            verify_at(&secret, &no_timestamp, BODY.as_bytes(), now),
            Err(VerifyError::Missing(TIMESTAMP_HEADER))
        ));
    }
}
