//! `sendMessage`, `sendPhoto`, `sendDocument` and `setWebhook` at
//! `{api_base_url}/bot{token}/…`, and the Bot API's answers classified: 429 (with
//! `parameters.retry_after`) and 5xx retriable, other errors permanent. The URL holds the
//! token, so errors are reported without it.
//!
//! Files go up as `multipart/form-data`: a JPEG or PNG of at most 10 MB with `sendPhoto`,
//! anything else with `sendDocument` (up to 50 MB). The text rides as the first file's caption
//! when it fits Telegram's 1,024 characters; a longer text goes first as its own message.

use std::time::Duration;

use switchboard_connector_kit as kit;
use switchboard_model::{
    DeliveryError, DeliveryReceipt, OutboundFile, OutboundMessage, WebhookSetupError, jpeg_or_png,
};

use crate::{
    ALLOWED_UPDATES, TelegramConfig,
    normalize::channel_message_id,
    wire::{Answer, ChatId, ReplyParameters, SendMessage, SentMessage, SetWebhook},
};

/// The client every inbox of this channel shares (the kit's: no redirects, 20 s).
pub fn http_client() -> Result<reqwest::Client, DeliveryError> {
    kit::client(kit::DEFAULT_TIMEOUT)
}

/// The longest caption Telegram takes on a photo or document, in characters.
const MAX_CAPTION_CHARS: usize = 1024;
/// The largest photo `sendPhoto` takes; a larger image goes as a document.
const MAX_PHOTO_BYTES: usize = 10_000_000;

/// Sends a reply: its text, then its files (the text as the first file's caption when it
/// fits). The receipt names the first message sent, the one a customer's reply quotes.
pub async fn deliver(
    client: &reqwest::Client,
    config: &TelegramConfig,
    message: &OutboundMessage,
) -> Result<DeliveryReceipt, DeliveryError> {
    let caption_fits = message.text.trim().chars().count() <= MAX_CAPTION_CHARS;
    kit::send_text_and_files(
        &message.text,
        &message.files,
        caption_fits,
        || send_message(client, config, message),
        |file, caption| send_file(client, config, message, file, caption.unwrap_or_default()),
    )
    .await
}

/// One file with `sendPhoto` or `sendDocument`; answers the sent message's channel id.
async fn send_file(
    client: &reqwest::Client,
    config: &TelegramConfig,
    message: &OutboundMessage,
    file: &OutboundFile,
    caption: &str,
) -> Result<String, DeliveryError> {
    let as_photo = jpeg_or_png(&file.content_type) && file.bytes.len() <= MAX_PHOTO_BYTES;
    let (method, field) = if as_photo {
        ("sendPhoto", "photo")
    } else {
        ("sendDocument", "document")
    };
    let part = |mime: &str| {
        reqwest::multipart::Part::stream(reqwest::Body::from(file.bytes.clone()))
            .file_name(file.filename.clone())
            .mime_str(mime)
    };
    // A type reqwest cannot read still goes, as bytes.
    let part = part(&file.content_type)
        .or_else(|_| part("application/octet-stream"))
        .map_err(|err| DeliveryError::Permanent {
            reason: format!("cannot name a file's type: {err}"),
        })?;
    let (chat_id, reply_parameters) = addressing(message);
    let mut form = reqwest::multipart::Form::new().text(
        "chat_id",
        match chat_id {
            ChatId::Id(id) => id.to_string(),
            ChatId::Username(name) => name.to_owned(),
        },
    );
    if !caption.is_empty() {
        form = form.text("caption", caption.to_owned());
    }
    if let Some(reply_parameters) = reply_parameters {
        let json = serde_json::to_string(&reply_parameters).unwrap_or_default();
        form = form.text("reply_parameters", json);
    }
    let form = form.part(field, part);
    let result = call(client, config, method, |request| request.multipart(form)).await?;
    sent_id(method, result)
}

/// The chat a reply goes to, and in a group the customer's message it answers.
fn addressing(message: &OutboundMessage) -> (ChatId<'_>, Option<ReplyParameters>) {
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
    (chat_id, reply_parameters)
}

async fn send_message(
    client: &reqwest::Client,
    config: &TelegramConfig,
    message: &OutboundMessage,
) -> Result<DeliveryReceipt, DeliveryError> {
    let (chat_id, reply_parameters) = addressing(message);
    let request = SendMessage {
        chat_id,
        text: &message.text,
        reply_parameters,
    };
    let result = call(client, config, "sendMessage", |builder| {
        builder.json(&request)
    })
    .await?;
    Ok(DeliveryReceipt {
        channel_message_id: Some(sent_id("sendMessage", result)?),
    })
}

fn sent_id(method: &str, result: serde_json::Value) -> Result<String, DeliveryError> {
    let sent: SentMessage =
        serde_json::from_value(result).map_err(|err| DeliveryError::Permanent {
            reason: format!("Telegram's {method} answer has no message: {err}"),
        })?;
    Ok(channel_message_id(sent.chat.id, sent.message_id))
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
    match call(client, config, "setWebhook", |builder| {
        builder.json(&request)
    })
    .await
    {
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

/// One Bot API call, its body set by `body` (JSON or a form): its `result` when `ok`, the
/// classified error otherwise.
async fn call(
    client: &reqwest::Client,
    config: &TelegramConfig,
    method: &str,
    body: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> Result<serde_json::Value, CallError> {
    // The kit's errors never name the URL, which holds the token.
    let kit::Answer {
        status,
        retry_after: retry_after_header,
        body: answered,
        ..
    } = kit::send(body(client.post(config.method_url(method))))
        .await
        .map_err(|error| CallError {
            status: None,
            error,
        })?;
    let answer = serde_json::from_slice::<Answer>(&answered).ok();
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
