//! Send one request and read the answer: a request that got no answer (refused, timed out, cut
//! off) is retriable, and an error answer is classified the one way every connector must
//! (`DeliveryError::from_http_status`: 429 and 5xx retriable after `Retry-After`, other
//! statuses permanent). What the body means stays the connector's.

use std::time::Duration;

use chrono::{DateTime, Utc};
use http::{HeaderMap, header};
use switchboard_model::DeliveryError;

/// A platform's answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// The delay `Retry-After` asks for, when it does.
    pub retry_after: Option<Duration>,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl Answer {
    /// A 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The error this answer stands for, classified by its status; `reason` says what failed.
    pub fn error(&self, reason: impl Into<String>) -> DeliveryError {
        DeliveryError::from_http_status(self.status, self.retry_after, reason)
    }

    /// The answer when it is a 2xx, its classified error otherwise, with the reason `reason`
    /// gives it.
    pub fn success_or(
        self,
        reason: impl FnOnce(&Answer) -> String,
    ) -> Result<Answer, DeliveryError> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(self.error(reason(&self)))
        }
    }
}

/// Sends `request` and reads its answer. Errors never name the URL: it may hold a token
/// (Telegram's), and a log line needs no URLs.
pub async fn send(request: reqwest::RequestBuilder) -> Result<Answer, DeliveryError> {
    let without_url = |err: reqwest::Error| DeliveryError::transport(err.without_url());
    let response = request.send().await.map_err(without_url)?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(without_url)?;
    Ok(Answer {
        status,
        retry_after: retry_after(&headers, Utc::now()),
        headers,
        body,
    })
}

/// The delay `Retry-After` asks for at `now`: a number of seconds, or an HTTP date (RFC 9110;
/// a date already past asks for none).
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Some(delay) = DeliveryError::retry_after_seconds(Some(value)) {
        return Some(delay);
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;
    use serde_json::json;
    use switchboard_testkit::{FakePlatform, FakeResponse};

    use super::*;

    fn headers(retry_after: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static(retry_after));
        headers
    }

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .expect("a time")
            .with_timezone(&Utc);
        assert_eq!(
            retry_after(&headers("120"), now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            retry_after(&headers(" 7 "), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(&headers("Wed, 21 Oct 2015 07:30:00 GMT"), now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            retry_after(&headers("Wed, 21 Oct 2015 07:00:00 GMT"), now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers("soon"), now), None);
        assert_eq!(retry_after(&headers("-5"), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[tokio::test]
    async fn answers_are_classified_and_redirects_not_followed() {
        let platform = FakePlatform::start(FakeResponse::json(200, json!({ "ok": true }))).await;
        let client = crate::client(crate::DEFAULT_TIMEOUT).expect("a client");
        let url = format!("{}/call", platform.url());

        let answer = send(client.post(&url)).await.expect("an answer");
        assert!(answer.is_success());
        assert_eq!(&answer.body[..], br#"{"ok":true}"#);
        assert_eq!(
            platform.requests()[0].header("user-agent"),
            Some(crate::USER_AGENT)
        );

        platform.respond_next(FakeResponse::json(429, json!({})).with_header("retry-after", "9"));
        match send(client.post(&url))
            .await
            .expect("an answer")
            .success_or(|a| format!("HTTP {}", a.status))
        {
            Err(DeliveryError::Retriable {
                reason,
                retry_after,
            }) => {
                assert_eq!(reason, "HTTP 429");
                assert_eq!(retry_after, Some(Duration::from_secs(9)));
            }
            other => panic!("a 429 is retriable, got {other:?}"),
        }
        platform.respond_next(FakeResponse::json(400, json!({})));
        assert!(matches!(
            send(client.post(&url))
                .await
                .expect("an answer")
                .success_or(|_| "no".into()),
            Err(DeliveryError::Permanent { .. })
        ));
        platform.respond_next(
            FakeResponse::json(302, json!({})).with_header("location", "http://127.0.0.1:9/x"),
        );
        let answer = send(client.post(&url)).await.expect("the redirect itself");
        assert_eq!(answer.status, 302);

        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let dead = format!(
            "http://{}/secret-token/call",
            closed.local_addr().expect("an address")
        );
        drop(closed);
        match send(client.post(&dead)).await {
            Err(DeliveryError::Retriable { reason, .. }) => {
                assert!(!reason.contains("secret-token"), "{reason}")
            }
            other => panic!("no answer is retriable, got {other:?}"),
        }
    }
}
