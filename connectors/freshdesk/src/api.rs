//! Freshdesk API v2 at `{base_url}/api/v2`: Basic authentication with the API key, JSON both
//! ways (`multipart/form-data` out for a reply or note with files), a 10 s timeout, every call
//! through the connector's rate-limit [`Gate`], and the answers classified: 429 (after
//! `Retry-After`) and 5xx retriable, other 4xx permanent, with Freshdesk's own description.
//! Errors never hold the API key, nor a URL.

use std::time::Duration;

use base64::Engine;
use reqwest::multipart::{Form, Part};
use serde::{Serialize, de::DeserializeOwned};
use switchboard_connector_kit as kit;
use switchboard_model::{DeliveryError, InboundFile, Secret};

use crate::{FreshdeskConfig, gate::Gate, wire::ErrorAnswer};

/// How long one call may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a call carrying files may take: 20 MB take 16 s at 10 Mbit/s, and a write that
/// timed out is retried, which may post it twice.
const TIMEOUT_WITH_FILES: Duration = Duration::from_secs(60);
/// Freshdesk takes at most 20 MB of attachments on one reply or note, all files together.
pub const MAX_ATTACHMENT_BYTES: usize = 20 * 1024 * 1024;
/// The name of a file whose sender gave none.
const UNNAMED_FILE: &str = "attachment";
/// The type of a file whose given type is not one.
const OCTET_STREAM: &str = "application/octet-stream";
/// How much of Freshdesk's error description an error keeps.
const MAX_REASON_CHARS: usize = 300;

/// One inbox's way into its helpdesk's API.
#[derive(Debug)]
pub struct Api {
    /// `{base_url}/api/v2`.
    root: String,
    api_key: Secret,
    /// `Basic base64("{api_key}:X")`: Freshdesk ignores the password.
    authorization: Secret,
    gate: Gate,
}

/// A request's body.
enum Payload {
    Json(Vec<u8>),
    Form(Form),
}

impl Payload {
    fn json(
        method: &reqwest::Method,
        path: &str,
        body: &impl Serialize,
    ) -> Result<Payload, DeliveryError> {
        serde_json::to_vec(body)
            .map(Payload::Json)
            .map_err(|err| DeliveryError::Permanent {
                reason: format!("the body of {} is not JSON: {err}", call_name(method, path)),
            })
    }
}

impl Api {
    pub fn new(config: &FreshdeskConfig) -> Api {
        let credentials = format!("{}:X", config.api_key.expose());
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        Api {
            root: format!("{}/api/v2", config.base_url),
            api_key: config.api_key.clone(),
            authorization: Secret::new(format!("Basic {encoded}")),
            gate: Gate::default(),
        }
    }

    /// `GET {path}` (`path` may hold a query).
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, DeliveryError> {
        let answer = self.send(reqwest::Method::GET, path, None).await?;
        self.read(reqwest::Method::GET, path, answer)
    }

    /// `GET {path}`, where a 404 means there is no such thing.
    pub async fn find<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, DeliveryError> {
        self.find_page(path)
            .await
            .map(|page| page.map(|(items, _)| items))
    }

    /// One page of a list: the items, and whether Freshdesk's `Link` header names a next page.
    /// A 404 means the list's owner (a ticket) is gone.
    pub async fn find_page<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Option<(T, bool)>, DeliveryError> {
        let answer = self.send(reqwest::Method::GET, path, None).await?;
        if answer.status == 404 {
            return Ok(None);
        }
        // A `Link: <…>; rel="next"` header: Freshdesk has another page.
        let next_page = answer
            .headers
            .get_all(http::header::LINK)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .any(|link| link.contains("rel=\"next\""));
        self.read(reqwest::Method::GET, path, answer)
            .map(|items| Some((items, next_page)))
    }

    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, DeliveryError> {
        let payload = Payload::json(&reqwest::Method::POST, path, body)?;
        let answer = self
            .send(reqwest::Method::POST, path, Some(payload))
            .await?;
        self.read(reqwest::Method::POST, path, answer)
    }

    /// `POST {path}` of `body` with `files` attached: as JSON when there are none, else as
    /// `multipart/form-data` (Freshdesk takes attachments no other way): each of the body's
    /// fields a text part, each file an `attachments[]` part with its name and type. More than
    /// [`MAX_ATTACHMENT_BYTES`] in all is refused before anything is sent.
    pub async fn post_with_files<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
        files: &[InboundFile],
    ) -> Result<T, DeliveryError> {
        if files.is_empty() {
            return self.post(path, body).await;
        }
        let total: usize = files.iter().map(|file| file.bytes.len()).sum();
        if total > MAX_ATTACHMENT_BYTES {
            return Err(DeliveryError::Permanent {
                reason: format!(
                    "Freshdesk takes at most 20 MB of attachments on one reply or note; these {} files are {total} bytes",
                    files.len()
                ),
            });
        }
        let form = form(path, body, files)?;
        let answer = self
            .send(reqwest::Method::POST, path, Some(Payload::Form(form)))
            .await?;
        self.read(reqwest::Method::POST, path, answer)
    }

    /// `PUT {path}`; the answer's body is not needed.
    pub async fn put(&self, path: &str, body: &impl Serialize) -> Result<(), DeliveryError> {
        let payload = Payload::json(&reqwest::Method::PUT, path, body)?;
        let answer = self.send(reqwest::Method::PUT, path, Some(payload)).await?;
        self.check(&reqwest::Method::PUT, path, &answer)
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        payload: Option<Payload>,
    ) -> Result<kit::Answer, DeliveryError> {
        self.gate.wait().await?;
        // The kit's client: no redirects, since a redirect could lead the account's
        // credentials anywhere (docs/security.md).
        let mut request = kit::client(TIMEOUT)?
            .request(method, format!("{}{path}", self.root))
            .header(http::header::AUTHORIZATION, self.authorization.expose())
            .header(http::header::ACCEPT, "application/json");
        match payload {
            None => {}
            Some(Payload::Json(bytes)) => {
                request = request
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(bytes);
            }
            Some(Payload::Form(form)) => {
                request = request.multipart(form).timeout(TIMEOUT_WITH_FILES);
            }
        }
        let answer = kit::send(request).await?;
        let remaining = answer
            .headers
            .get("x-ratelimit-remaining")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok());
        self.gate
            .observe(answer.status, answer.retry_after, remaining);
        Ok(answer)
    }

    fn read<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        answer: kit::Answer,
    ) -> Result<T, DeliveryError> {
        self.check(&method, path, &answer)?;
        serde_json::from_slice(&answer.body).map_err(|err| {
            let call = call_name(&method, path);
            if method == reqwest::Method::GET {
                // A proxy's page or a half-sent body: worth another try.
                DeliveryError::transport(format!(
                    "Freshdesk answered {call} with JSON the hub cannot read: {err}"
                ))
            } else {
                // Freshdesk did it; trying again would do it twice.
                DeliveryError::Permanent {
                    reason: format!(
                        "Freshdesk accepted {call} but its answer cannot be read ({err}); not sent again"
                    ),
                }
            }
        })
    }

    /// The classified error for an answer that is not a success.
    fn check(
        &self,
        method: &reqwest::Method,
        path: &str,
        answer: &kit::Answer,
    ) -> Result<(), DeliveryError> {
        if answer.is_success() {
            return Ok(());
        }
        let description = serde_json::from_slice::<ErrorAnswer>(&answer.body)
            .ok()
            .map(describe)
            .filter(|text| !text.is_empty())
            .unwrap_or_else(|| "no description".into());
        let mut reason = format!(
            "Freshdesk refused {} (HTTP {}): {description}",
            call_name(method, path),
            answer.status
        );
        // Freshdesk never echoes the key, but an error is logged: make sure.
        if !self.api_key.is_empty() {
            reason = reason.replace(self.api_key.expose(), "***");
        }
        Err(answer.error(reason))
    }
}

/// `POST /tickets/42/reply`: the call without its query, which may hold an email address.
fn call_name(method: &reqwest::Method, path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    format!("{method} {path}")
}

/// Freshdesk's error answer in one line: the description, then each field's message.
fn describe(answer: ErrorAnswer) -> String {
    let head = answer
        .description
        .or(answer.message)
        .or(answer.code)
        .unwrap_or_default();
    let fields = answer.errors.unwrap_or_default().into_iter().map(|error| {
        match (error.field, error.message) {
            (Some(field), Some(message)) => format!("{field}: {message}"),
            (field, message) => field.or(message).unwrap_or_default(),
        }
    });
    let text = std::iter::once(head)
        .chain(fields)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let mut short: String = text.chars().take(MAX_REASON_CHARS).collect();
    if text.chars().count() > MAX_REASON_CHARS {
        short.push('…');
    }
    short
}

/// `body`'s fields as text parts and `files` as `attachments[]` parts.
fn form(path: &str, body: &impl Serialize, files: &[InboundFile]) -> Result<Form, DeliveryError> {
    let not_a_form = |why: String| DeliveryError::Permanent {
        reason: format!(
            "the body of {} cannot be a form: {why}",
            call_name(&reqwest::Method::POST, path)
        ),
    };
    let fields = match serde_json::to_value(body) {
        Ok(serde_json::Value::Object(fields)) => fields,
        Ok(other) => return Err(not_a_form(format!("{other} is not an object"))),
        Err(err) => return Err(not_a_form(err.to_string())),
    };
    let mut form = Form::new();
    for (name, value) in fields {
        let text = match value {
            serde_json::Value::Null => continue,
            serde_json::Value::String(text) => text,
            serde_json::Value::Bool(_) | serde_json::Value::Number(_) => value.to_string(),
            other => return Err(not_a_form(format!("`{name}` is {other}"))),
        };
        form = form.text(name, text);
    }
    for file in files {
        // reqwest writes the name into the part's header as it is: no line breaks there.
        let name: String = file.filename.chars().filter(|c| !c.is_control()).collect();
        let name = Some(name.trim())
            .filter(|name| !name.is_empty())
            .unwrap_or(UNNAMED_FILE)
            .to_owned();
        let part = |content_type: &str| {
            Part::bytes(file.bytes.clone())
                .file_name(name.clone())
                .mime_str(content_type)
        };
        let part = part(file.content_type.trim())
            .or_else(|_| part(OCTET_STREAM))
            .map_err(|err| not_a_form(err.without_url().to_string()))?;
        form = form.part("attachments[]", part);
    }
    Ok(form)
}

/// `key=value&…`, each value encoded for a URL's query.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        query.append_pair(key, value);
    }
    query.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::FieldError;

    #[test]
    fn error_answers_read_as_one_line() {
        let validation = ErrorAnswer {
            description: Some("Validation failed".into()),
            message: None,
            code: None,
            errors: Some(vec![
                FieldError {
                    field: Some("email".into()),
                    message: Some("It should be a valid email address".into()),
                },
                FieldError {
                    field: None,
                    message: Some("missing_field".into()),
                },
            ]),
        };
        assert_eq!(
            describe(validation),
            "Validation failed; email: It should be a valid email address; missing_field"
        );
        let long = ErrorAnswer {
            description: None,
            message: Some("x".repeat(1000)),
            code: Some("access_denied".into()),
            errors: None,
        };
        assert_eq!(describe(long).chars().count(), MAX_REASON_CHARS + 1);
    }

    #[test]
    fn queries_are_encoded() {
        assert_eq!(
            query(&[
                ("query", "\"tag:'switchboard-a b'\""),
                ("email", "a+b@x.test")
            ]),
            "query=%22tag%3A%27switchboard-a+b%27%22&email=a%2Bb%40x.test"
        );
        assert_eq!(
            call_name(&reqwest::Method::GET, "/contacts?email=a@x.test"),
            "GET /contacts"
        );
    }
}
