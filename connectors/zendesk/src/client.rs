//! The HTTP side of the Zendesk API: the shared client, Basic auth with the API token, JSON
//! bodies (a file's own bytes for an upload), the rate gate, and every answer classified (429
//! and 5xx retriable with `Retry-After`, 404 told apart, other errors permanent). The token is
//! only ever in the `Authorization` header, marked sensitive, and scrubbed from any error text.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::STANDARD};
use http::{HeaderValue, Method, header};
use serde::{Serialize, de::DeserializeOwned};
use switchboard_connector_kit as kit;
use switchboard_model::{ChannelKind, ConfigError, DeliveryError, Secret};
use tokio::time::Instant;

use crate::{ZendeskConfig, gate::RateGate, webhook, wire::ErrorAnswer};

/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How long an upload may take: Zendesk takes files of up to 50 MB, 40 s at 10 Mbit/s.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(60);
/// How much of Zendesk's error answer goes into a reason.
const MAX_REASON_DETAIL: usize = 300;

/// One account's API: `{base_url}/api/v2`, its credentials and its rate gate.
#[derive(Debug)]
pub(crate) struct Client {
    base_url: String,
    api_token: Secret,
    authorization: HeaderValue,
    gate: RateGate,
}

/// Whether a call may be sent again. A write Zendesk answered with 2xx has happened, so an
/// answer we cannot read is permanent there: retrying would write twice. Reads may be repeated,
/// and so may uploads: one that no comment uses is only a file Zendesk drops after 60 minutes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Repeatable,
    Write,
}

/// A request's body: its `Content-Type` and bytes, and how long sending it may take.
struct Payload {
    content_type: HeaderValue,
    bytes: Vec<u8>,
    timeout: Duration,
}

impl Payload {
    fn json(what: &str, body: &impl Serialize) -> Result<Payload, DeliveryError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|err| permanent(format!("{what} cannot be written as JSON: {err}")))?;
        Ok(Payload {
            content_type: HeaderValue::from_static("application/json"),
            bytes,
            timeout: TIMEOUT,
        })
    }
}

impl Client {
    pub fn new(config: &ZendeskConfig) -> Result<Client, ConfigError> {
        let credentials = format!("{}/token:{}", config.email, config.api_token.expose());
        let mut authorization =
            HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(credentials))).map_err(
                |_| ConfigError {
                    channel: ChannelKind::Zendesk,
                    reason: "`email` and `api_token` do not make an Authorization header".into(),
                },
            )?;
        authorization.set_sensitive(true);
        Ok(Client {
            base_url: config.base_url.clone(),
            api_token: config.api_token.clone(),
            authorization,
            gate: RateGate::default(),
        })
    }

    /// `{base_url}/api/v2/{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v2/{path}", self.base_url)
    }

    /// `{base_url}/api/v2/{path}?{name}={value}`, the value encoded.
    pub fn url_with(&self, path: &str, name: &str, value: &str) -> Result<String, DeliveryError> {
        let mut url = url::Url::parse(&self.url(path)).map_err(|err| DeliveryError::Permanent {
            reason: format!("`base_url` does not make an API URL: {err}"),
        })?;
        url.query_pairs_mut().append_pair(name, value);
        Ok(url.into())
    }

    /// Whether `url` is on this account, so that a link from an answer may be followed with
    /// our credentials.
    pub fn owns(&self, url: &str) -> bool {
        url.strip_prefix(&self.base_url)
            .is_some_and(|rest| rest.starts_with('/'))
    }

    /// A `GET`; `Ok(None)` on 404.
    pub async fn get<T: DeserializeOwned>(
        &self,
        what: &str,
        url: &str,
    ) -> Result<Option<T>, DeliveryError> {
        let Some(body) = self.send(what, Method::GET, url, None, None).await? else {
            return Ok(None);
        };
        parse(what, &body, Kind::Repeatable).map(Some)
    }

    /// A `POST` or `PUT` of `body`; a 404 is permanent.
    pub async fn write<T: DeserializeOwned>(
        &self,
        what: &str,
        method: Method,
        url: &str,
        body: &impl Serialize,
        idempotency_key: Option<&str>,
    ) -> Result<T, DeliveryError> {
        let payload = Payload::json(what, body)?;
        self.post_or_put(what, method, url, payload, idempotency_key, Kind::Write)
            .await
    }

    /// A `POST` of `bytes` as they are, typed `content_type` (`application/octet-stream` when
    /// that is no header value); a 404 is permanent. For an upload, which may be sent again.
    pub async fn upload<T: DeserializeOwned>(
        &self,
        what: &str,
        url: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> Result<T, DeliveryError> {
        let payload = Payload {
            content_type: HeaderValue::from_str(content_type.trim())
                .ok()
                .filter(|value| !value.is_empty())
                .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream")),
            bytes: bytes.to_vec(),
            timeout: UPLOAD_TIMEOUT,
        };
        self.post_or_put(what, Method::POST, url, payload, None, Kind::Repeatable)
            .await
    }

    async fn post_or_put<T: DeserializeOwned>(
        &self,
        what: &str,
        method: Method,
        url: &str,
        payload: Payload,
        idempotency_key: Option<&str>,
        kind: Kind,
    ) -> Result<T, DeliveryError> {
        let answer = self
            .send(what, method, url, Some(payload), idempotency_key)
            .await?
            .ok_or_else(|| DeliveryError::Permanent {
                reason: format!("Zendesk refused {what} (HTTP 404): not found"),
            })?;
        parse(what, &answer, kind)
    }

    /// One request through the gate: the body of a 2xx, `None` for a 404, the classified error
    /// otherwise.
    async fn send(
        &self,
        what: &str,
        method: Method,
        url: &str,
        payload: Option<Payload>,
        idempotency_key: Option<&str>,
    ) -> Result<Option<Vec<u8>>, DeliveryError> {
        // The kit's client: no redirects, since a redirect could lead the account's
        // credentials anywhere (docs/security.md).
        let mut request = kit::client(TIMEOUT)?
            .request(method, url)
            .header(header::AUTHORIZATION, self.authorization.clone())
            .header(header::ACCEPT, "application/json");
        if let Some(payload) = payload {
            request = request
                .header(header::CONTENT_TYPE, payload.content_type)
                .body(payload.bytes)
                .timeout(payload.timeout);
        }
        if let Some(key) = idempotency_key {
            let key = HeaderValue::from_str(key).map_err(|_| DeliveryError::Permanent {
                reason: format!("{what}: the idempotency key is not a header value"),
            })?;
            request = request.header("idempotency-key", key);
        }
        self.gate.wait().await;
        let answer = kit::send(request).await?;
        self.gate
            .note(Instant::now(), answer.status, &answer.headers);
        match answer.status {
            200..=299 => Ok(Some(answer.body.to_vec())),
            404 => Ok(None),
            status => {
                let reason = format!(
                    "Zendesk refused {what} (HTTP {status}){}",
                    describe(&answer.body)
                );
                Err(answer.error(self.scrub(reason)))
            }
        }
    }

    /// The reason without the token, should an answer ever echo it.
    fn scrub(&self, reason: String) -> String {
        reason.replace(self.api_token.expose(), "***")
    }
}

/// A failure no retry mends.
pub(crate) fn permanent(reason: impl Into<String>) -> DeliveryError {
    DeliveryError::Permanent {
        reason: reason.into(),
    }
}
/// `id` when it is a ticket id, so that it can go into a path.
pub(crate) fn checked_ticket_id(id: &str) -> Result<String, DeliveryError> {
    webhook::ticket_id(id).ok_or_else(|| {
        permanent(format!(
            "`{}` is not a Zendesk ticket id",
            id.chars().take(40).collect::<String>()
        ))
    })
}

/// A 2xx answer read as `T`.
fn parse<T: DeserializeOwned>(what: &str, body: &[u8], kind: Kind) -> Result<T, DeliveryError> {
    serde_json::from_slice(body).map_err(|err| {
        let reason = format!("Zendesk's answer to {what} is not what its API documents: {err}");
        match kind {
            Kind::Repeatable => DeliveryError::Retriable {
                reason,
                retry_after: None,
            },
            Kind::Write => DeliveryError::Permanent { reason },
        }
    })
}

/// `: <Zendesk's error and description>`, cut short, or nothing when the answer has none.
fn describe(body: &[u8]) -> String {
    let Ok(answer) = serde_json::from_slice::<ErrorAnswer>(body) else {
        return String::new();
    };
    let text = |value: &serde_json::Value| match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let parts: Vec<String> = [
        answer.error.as_ref().map(text),
        answer.description,
        answer.details.as_ref().map(text),
        answer.errors.as_ref().map(text),
    ]
    .into_iter()
    .flatten()
    .filter(|part| !part.is_empty())
    .collect();
    if parts.is_empty() {
        return String::new();
    }
    let joined = parts.join(": ");
    let mut detail: String = joined.chars().take(MAX_REASON_DETAIL).collect();
    if detail.len() < joined.len() {
        detail.push('…');
    }
    format!(": {detail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zendesk_errors_are_described_briefly() {
        assert_eq!(
            describe(br#"{"error":"RecordNotFound","description":"Not found"}"#),
            ": RecordNotFound: Not found"
        );
        assert_eq!(
            describe(br#"{"error":{"title":"Forbidden","message":"You do not have access"}}"#),
            r#": {"message":"You do not have access","title":"Forbidden"}"#
        );
        assert_eq!(describe(b"<html>Bad gateway</html>"), "");
        assert_eq!(describe(b"{}"), "");
        let long = format!(r#"{{"description":"{}"}}"#, "x".repeat(1000));
        assert_eq!(describe(long.as_bytes()).chars().count(), 2 + 300 + 1);
    }

    #[test]
    fn only_links_on_the_account_are_ours() {
        let config = ZendeskConfig::parse(&serde_json::json!({
            "base_url": "https://acme.zendesk.com", "email": "a@acme.test",
            "api_token": "t", "webhook_secret": "s",
        }))
        .expect("parses");
        let client = Client::new(&config).expect("builds");
        assert!(
            client.owns("https://acme.zendesk.com/api/v2/tickets/1/comments.json?page[after]=x")
        );
        assert!(!client.owns("https://acme.zendesk.com.evil.test/api/v2/x"));
        assert!(!client.owns("https://acme.zendesk.com"));
        assert!(!client.owns("http://acme.zendesk.com/api/v2/x"));
        assert_eq!(
            client.url("users/me.json"),
            "https://acme.zendesk.com/api/v2/users/me.json"
        );
        let credentials = STANDARD.encode("a@acme.test/token:t");
        assert!(!format!("{client:?}").contains(&credentials), "{client:?}");
    }
}
