//! The Web API calls the hub makes with the bot token — `chat.postMessage` (a reply in the
//! conversation's thread, a post in the agent channel) and `users.info` — and Slack's errors
//! classified in one place: HTTP 429 / 5xx and `ratelimited`-like codes are retriable, the rest
//! permanent.
//!
//! A reply with files takes Slack's upload flow (`files.upload` is retired): for each file
//! `files.getUploadURLExternal` (its name and length), the bytes POSTed to the `upload_url`
//! Slack answers, then one `files.completeUploadExternal` that shares them all in the
//! conversation's thread with the text as `initial_comment`.

use switchboard_connector_kit as kit;
use switchboard_model::{
    DeliveryError, DeliveryReceipt, HTTP_SCHEMES, OutboundFile, OutboundMessage, check_outbound_url,
};

use crate::{
    SlackConfig,
    normalize::thread_key,
    wire::{
        ApiEnvelope, CompleteUpload, SlackApiChatPostMessageRequest, SlackMessageContent,
        UploadedFile,
    },
};

/// The client every inbox of this channel shares (the kit's: no redirects, 20 s).
pub fn http_client() -> Result<reqwest::Client, DeliveryError> {
    kit::client(kit::DEFAULT_TIMEOUT)
}

/// Error codes Slack documents as temporary.
const RETRIABLE_CODES: &[&str] = &[
    "ratelimited",
    "rate_limited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

/// Sends one Web API request and reads the envelope every answer shares. Slack answers most
/// errors with HTTP 200 and `"ok": false`, so both the status and the body are checked.
async fn call(
    request: reqwest::RequestBuilder,
    method: &str,
) -> Result<ApiEnvelope, DeliveryError> {
    let answer = kit::send(request)
        .await?
        .success_or(|answer| format!("Slack answered HTTP {}", answer.status))?;
    let retry_after = answer.retry_after;
    let envelope: ApiEnvelope =
        serde_json::from_slice(&answer.body).map_err(|err| DeliveryError::Retriable {
            reason: format!("Slack's answer is not its JSON: {err}"),
            retry_after: None,
        })?;
    if !envelope.ok {
        let code = envelope.error.unwrap_or_else(|| "unknown_error".into());
        let reason = format!("Slack refused {method}: {code}");
        return Err(if RETRIABLE_CODES.contains(&code.as_str()) {
            DeliveryError::Retriable {
                reason,
                retry_after,
            }
        } else {
            DeliveryError::Permanent { reason }
        });
    }
    Ok(envelope)
}

/// A message Slack accepted: its channel and `ts` (which Slack always sends; a double that
/// leaves it out still counts as accepted).
pub struct Posted {
    pub channel: String,
    pub ts: Option<String>,
}

/// `chat.postMessage` of `text` into `channel`, in the thread `thread_ts` when given.
pub async fn post(
    client: &reqwest::Client,
    config: &SlackConfig,
    channel: &str,
    thread_ts: Option<&str>,
    text: &str,
) -> Result<Posted, DeliveryError> {
    let mut request = SlackApiChatPostMessageRequest::new(
        channel.into(),
        SlackMessageContent::new().with_text(text.to_owned()),
    );
    if let Some(thread_ts) = thread_ts {
        request = request.with_thread_ts(thread_ts.into());
    }
    let envelope = call(
        client
            .post(format!("{}/chat.postMessage", config.api_base_url))
            .bearer_auth(config.bot_token.expose())
            .json(&request),
        "chat.postMessage",
    )
    .await?;
    Ok(Posted {
        channel: envelope.channel.unwrap_or_else(|| channel.to_owned()),
        ts: envelope.ts,
    })
}

/// A reply in the conversation's thread (`{channel}:{thread_ts}`).
pub async fn post_message(
    client: &reqwest::Client,
    config: &SlackConfig,
    message: &OutboundMessage,
) -> Result<DeliveryReceipt, DeliveryError> {
    let (channel, thread_ts) =
        message
            .thread_key
            .split_once(':')
            .ok_or_else(|| DeliveryError::Permanent {
                reason: format!("`{}` is not a Slack thread", message.thread_key),
            })?;
    if !message.files.is_empty() {
        return share_files(client, config, message, channel, thread_ts).await;
    }
    let posted = post(client, config, channel, Some(thread_ts), &message.text).await?;
    Ok(DeliveryReceipt {
        // The same shape as inbound ids, so that Slack's echo of this message is a duplicate.
        channel_message_id: posted.ts.map(|ts| thread_key(&posted.channel, &ts)),
    })
}

/// A reply with files: each uploaded, then all shared in the thread with the text. Slack's
/// answer names no message (the share is posted by Slack, and its echo, a bot's message, is
/// ignored), so the receipt has no id.
async fn share_files(
    client: &reqwest::Client,
    config: &SlackConfig,
    message: &OutboundMessage,
    channel: &str,
    thread_ts: &str,
) -> Result<DeliveryReceipt, DeliveryError> {
    let mut file_ids = Vec::with_capacity(message.files.len());
    for file in &message.files {
        file_ids.push(upload(client, config, file).await?);
    }
    let text = message.text.trim();
    let request = CompleteUpload {
        files: file_ids
            .iter()
            .zip(&message.files)
            .map(|(id, file)| UploadedFile {
                id,
                title: &file.filename,
            })
            .collect(),
        channel_id: channel,
        thread_ts,
        initial_comment: (!text.is_empty()).then_some(text),
    };
    call(
        client
            .post(format!(
                "{}/files.completeUploadExternal",
                config.api_base_url
            ))
            .bearer_auth(config.bot_token.expose())
            .json(&request),
        "files.completeUploadExternal",
    )
    .await?;
    Ok(DeliveryReceipt {
        channel_message_id: None,
    })
}

/// `files.getUploadURLExternal`, then the bytes to the URL it answers; the file's id.
async fn upload(
    client: &reqwest::Client,
    config: &SlackConfig,
    file: &OutboundFile,
) -> Result<String, DeliveryError> {
    let form = format!(
        "filename={}&length={}",
        form_encode(&file.filename),
        file.bytes.len()
    );
    let envelope = call(
        client
            .post(format!(
                "{}/files.getUploadURLExternal",
                config.api_base_url
            ))
            .bearer_auth(config.bot_token.expose())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form),
        "files.getUploadURLExternal",
    )
    .await?;
    let missing = |what: &str| DeliveryError::Permanent {
        reason: format!("Slack's files.getUploadURLExternal answer has no {what}"),
    };
    let upload_url = envelope.upload_url.ok_or_else(|| missing("upload_url"))?;
    let file_id = envelope.file_id.ok_or_else(|| missing("file_id"))?;
    // The bytes go where Slack says, but only where the hub may send anything.
    check_outbound_url("upload_url", &upload_url, HTTP_SCHEMES)
        .map_err(|reason| DeliveryError::Permanent { reason })?;
    kit::send(
        client
            .post(&upload_url)
            .header("content-type", "application/octet-stream")
            .body(reqwest::Body::from(file.bytes.clone())),
    )
    .await?
    .success_or(|answer| format!("Slack's upload URL answered HTTP {}", answer.status))?;
    Ok(file_id)
}

/// `application/x-www-form-urlencoded` for one value: unreserved bytes as they are, the rest
/// percent-encoded.
fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `users.info`: the email address of a Slack user, when Slack shares it (the app needs the
/// `users:read` and `users:read.email` scopes); `None` for bots, deactivated users and users
/// without one.
pub async fn user_email(
    client: &reqwest::Client,
    config: &SlackConfig,
    user_id: &str,
) -> Result<Option<String>, DeliveryError> {
    // Slack's user ids are letters and digits; anything else did not come from Slack and is
    // not put into a URL.
    if user_id.is_empty() || !user_id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(DeliveryError::Permanent {
            reason: format!("`{user_id}` is not a Slack user id"),
        });
    }
    let envelope = call(
        client
            .get(format!("{}/users.info?user={user_id}", config.api_base_url))
            .bearer_auth(config.bot_token.expose()),
        "users.info",
    )
    .await?;
    Ok(envelope
        .user
        .filter(|user| !user.deleted && !user.is_bot)
        .and_then(|user| user.profile)
        .and_then(|profile| profile.email)
        .map(|email| email.trim().to_lowercase())
        .filter(|email| !email.is_empty()))
}
