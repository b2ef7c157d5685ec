//! `chat.postMessage` in the conversation's thread with the bot token, and Slack's errors
//! classified: HTTP 429 / 5xx and `ratelimited`-like codes are retriable, the rest permanent.

use std::time::Duration;

use switchboard_model::{DeliveryError, DeliveryReceipt, OutboundMessage};

use crate::{
    SlackConfig,
    normalize::thread_key,
    wire::{ApiEnvelope, SlackApiChatPostMessageRequest, SlackMessageContent},
};

/// The client every inbox of this channel shares, built on first use. The hub installs ring
/// as the TLS crypto provider at start; installing it here too (a no-op when one is set) keeps
/// reqwest from panicking in a process that did not.
pub fn http_client() -> Result<reqwest::Client, DeliveryError> {
    static CLIENT: std::sync::OnceLock<Result<reqwest::Client, String>> =
        std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .map_err(|err| format!("cannot build an HTTP client: {err}"))
        })
        .clone()
        .map_err(|reason| DeliveryError::Permanent { reason })
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
    let request = SlackApiChatPostMessageRequest::new(
        channel.into(),
        SlackMessageContent::new().with_text(message.text.clone()),
    )
    .with_thread_ts(thread_ts.into());
    let response = client
        .post(format!("{}/chat.postMessage", config.api_base_url))
        .bearer_auth(config.bot_token.expose())
        .json(&request)
        .send()
        .await
        .map_err(DeliveryError::transport)?;
    let status = response.status().as_u16();
    let retry_after = DeliveryError::retry_after_seconds(
        response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok()),
    );
    let body = response.bytes().await.map_err(DeliveryError::transport)?;
    if !(200..300).contains(&status) {
        return Err(DeliveryError::from_http_status(
            status,
            retry_after,
            format!("Slack answered HTTP {status}"),
        ));
    }
    let envelope: ApiEnvelope =
        serde_json::from_slice(&body).map_err(|err| DeliveryError::Retriable {
            reason: format!("Slack's answer is not its JSON: {err}"),
            retry_after: None,
        })?;
    if !envelope.ok {
        let code = envelope.error.unwrap_or_else(|| "unknown_error".into());
        let reason = format!("Slack refused chat.postMessage: {code}");
        return Err(if RETRIABLE_CODES.contains(&code.as_str()) {
            DeliveryError::Retriable {
                reason,
                retry_after,
            }
        } else {
            DeliveryError::Permanent { reason }
        });
    }
    Ok(DeliveryReceipt {
        // The same shape as inbound ids, so that Slack's echo of this message is a duplicate.
        channel_message_id: envelope
            .ts
            .map(|ts| thread_key(envelope.channel.as_deref().unwrap_or(channel), &ts)),
    })
}
