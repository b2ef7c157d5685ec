//! `sendMessage` and `setWebhook` at `{api_base_url}/bot{token}/…`, and the Bot API's answers
//! classified: 429 (with `parameters.retry_after`) and 5xx retriable, other errors permanent.
//! The URL holds the token, so errors are reported without it.

use std::time::Duration;

use serde::Serialize;
use switchboard_model::{DeliveryError, DeliveryReceipt, OutboundMessage, WebhookSetupError};

use crate::{
    ALLOWED_UPDATES, TelegramConfig,
    normalize::channel_message_id,
    wire::{Answer, ChatId, ReplyParameters, SendMessage, SentMessage, SetWebhook},
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
                // A redirect would take the request (and the token in its path) wherever the
                // answer says, past the checks `api_base_url` went through.
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|err| format!("cannot build an HTTP client: {err}"))
        })
        .clone()
        .map_err(|reason| DeliveryError::Permanent { reason })
}

pub async fn send_message(
    client: &reqwest::Client,
    config: &TelegramConfig,
    message: &OutboundMessage,
) -> Result<DeliveryReceipt, DeliveryError> {
    let chat_id = match message.thread_key.parse::<i64>() {
        Ok(id) => ChatId::Id(id),
        Err(_) => ChatId::Username(&message.thread_key),
    };
    // In a group the answer is attached to the customer's message among everyone else's; in a
    // private chat (positive ids) a quote would only add noise.
    let reply_parameters = match chat_id {
        ChatId::Id(id) if id < 0 => message
            .in_reply_to
            .as_deref()
            .and_then(|replied| replied.strip_prefix(&format!("{id}:")))
            .and_then(|rest| rest.split(':').next()?.parse().ok())
            .map(|message_id| ReplyParameters {
                message_id,
                allow_sending_without_reply: true,
            }),
        _ => None,
    };
    let request = SendMessage {
        chat_id,
        text: &message.text,
        reply_parameters,
    };
    let result = call(client, config, "sendMessage", &request).await?;
    let sent: SentMessage =
        serde_json::from_value(result).map_err(|err| DeliveryError::Permanent {
            reason: format!("Telegram's sendMessage answer has no message: {err}"),
        })?;
    Ok(DeliveryReceipt {
        channel_message_id: Some(channel_message_id(sent.chat.id, sent.message_id)),
    })
}

pub async fn set_webhook(
    client: &reqwest::Client,
    config: &TelegramConfig,
    webhook_url: &str,
) -> Result<(), WebhookSetupError> {
    let request = SetWebhook {
        url: webhook_url,
        secret_token: config.secret_token.expose(),
        allowed_updates: ALLOWED_UPDATES,
    };
    match call(client, config, "setWebhook", &request).await {
        Ok(_) => Ok(()),
        Err(CallError {
            status: Some(status),
            error,
        }) => Err(WebhookSetupError::Refused {
            status,
            reason: error.to_string(),
        }),
        Err(CallError {
            status: None,
            error,
        }) => Err(WebhookSetupError::Failed(error)),
    }
}

/// A Bot API call that failed: the HTTP status Telegram answered with (or the one its
/// `error_code` stands for), when it answered; and the error, classified.
struct CallError {
    status: Option<u16>,
    error: DeliveryError,
}

impl From<CallError> for DeliveryError {
    fn from(failed: CallError) -> DeliveryError {
        failed.error
    }
}

/// One Bot API call: its `result` when `ok`, the classified error otherwise.
async fn call(
    client: &reqwest::Client,
    config: &TelegramConfig,
    method: &str,
    request: &impl Serialize,
) -> Result<serde_json::Value, CallError> {
    let without_token = |err: reqwest::Error| CallError {
        status: None,
        error: DeliveryError::transport(err.without_url()),
    };
    let response = client
        .post(config.method_url(method))
        .json(request)
        .send()
        .await
        .map_err(without_token)?;
    let status = response.status().as_u16();
    let retry_after_header = DeliveryError::retry_after_seconds(
        response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok()),
    );
    let body = response.bytes().await.map_err(without_token)?;
    let answer = serde_json::from_slice::<Answer>(&body).ok();
    match answer {
        Some(Answer {
            ok: true,
            result: Some(result),
            ..
        }) if (200..300).contains(&status) => Ok(result),
        Some(answer) => {
            let code = answer.error_code.unwrap_or(status);
            let retry_after = answer
                .parameters
                .and_then(|parameters| parameters.retry_after)
                .map(Duration::from_secs)
                .or(retry_after_header);
            let description = answer
                .description
                .unwrap_or_else(|| "no description".into());
            // Telegram's error_code is the HTTP status it means, even on a 200.
            let code = if (200..300).contains(&code) {
                400
            } else {
                code
            };
            Err(CallError {
                status: Some(code),
                error: DeliveryError::from_http_status(
                    code,
                    retry_after,
                    format!("Telegram refused {method} ({code}): {description}"),
                ),
            })
        }
        None => Err(CallError {
            status: Some(status),
            error: DeliveryError::from_http_status(
                if (200..300).contains(&status) {
                    502
                } else {
                    status
                },
                retry_after_header,
                format!("Telegram answered {method} with HTTP {status} and no Bot API JSON"),
            ),
        }),
    }
}
