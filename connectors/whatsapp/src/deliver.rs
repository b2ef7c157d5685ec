//! `POST {api_base_url}/{version}/{phone_number_id}/messages` with the access token. A free-form
//! reply is only allowed within 24 hours of the customer's last message; after that only an
//! approved template, asked for by a reply whose text is
//! `/template NAME [LANGUAGE] [| body parameter | …]`.
//!
//! Files are uploaded first (`POST {phone_number_id}/media`, `multipart/form-data` with
//! `messaging_product=whatsapp`, `type` and `file`), then sent as an `image` (JPEG, PNG),
//! `audio`, `video` or `document` (with its `filename`) message by the media id. The text is
//! the first file's caption when it fits 1,024 characters and the file takes one (audio does
//! not); otherwise it goes first, as a text message.

use chrono::{DateTime, Utc};
use switchboard_connector_kit as kit;
use switchboard_model::{
    ChannelKind, DeliveryError, DeliveryReceipt, MediaKind, OutboundFile, OutboundMessage,
    jpeg_or_png,
};

use crate::{
    WhatsappConfig,
    wire::{
        Component, ErrorResponse, Language, Parameter, SendMedia, SendRequest, SendResponse,
        SendTemplate, SendText, UploadedMedia,
    },
};

/// The reason a free-form reply outside the window fails with.
pub const OUTSIDE_WINDOW: &str = "outside WhatsApp's 24-hour window: send an approved template";

/// Graph API error codes that mean "slow down" rather than "never".
const THROTTLING_CODES: &[i64] = &[4, 80007, 130429, 131048, 131056];
/// The platform's own "more than 24 hours since the customer wrote".
const REENGAGEMENT_CODE: i64 = 131047;

/// The client every inbox of this channel shares (the kit's: no redirects, 20 s).
pub fn http_client() -> Result<reqwest::Client, DeliveryError> {
    kit::client(kit::DEFAULT_TIMEOUT)
}

/// An approved message template to send instead of free text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pub name: String,
    pub language: String,
    /// The body's `{{1}}`, `{{2}}`… in order.
    pub parameters: Vec<String>,
}

impl Template {
    /// Reads `/template NAME [LANGUAGE] [| parameter | …]`; `None` for any other text.
    pub fn from_reply(text: &str) -> Option<Template> {
        let rest = text.trim().strip_prefix("/template")?;
        if !rest.starts_with(char::is_whitespace) {
            return None;
        }
        let mut parts = rest.split('|');
        let mut head = parts.next()?.split_whitespace();
        let name = head.next()?.to_owned();
        let language = head.next().unwrap_or("en_US").to_owned();
        let parameters = parts
            .map(|parameter| parameter.trim().to_owned())
            .filter(|parameter| !parameter.is_empty())
            .collect();
        Some(Template {
            name,
            language,
            parameters,
        })
    }
}

/// Whether a free-form reply may still be sent at `now`.
pub fn window_open(customer_last_message_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    match (
        customer_last_message_at,
        ChannelKind::Whatsapp.reply_window(),
    ) {
        (Some(last), Some(window)) => now - last < window,
        (_, None) => true,
        (None, Some(_)) => false,
    }
}

/// The longest caption WhatsApp takes on a media message, in characters.
const MAX_CAPTION_CHARS: usize = 1024;

/// A message of `kind` to `to`, its content to be set.
fn request<'a>(to: &'a str, kind: &'static str) -> SendRequest<'a> {
    SendRequest {
        messaging_product: "whatsapp",
        recipient_type: "individual",
        to,
        kind,
        text: None,
        template: None,
        image: None,
        audio: None,
        video: None,
        document: None,
    }
}

pub async fn send(
    client: &reqwest::Client,
    config: &WhatsappConfig,
    message: &OutboundMessage,
    now: DateTime<Utc>,
) -> Result<DeliveryReceipt, DeliveryError> {
    let template = Template::from_reply(&message.text);
    if template.is_none() && !window_open(message.customer_last_message_at, now) {
        return Err(DeliveryError::Permanent {
            reason: OUTSIDE_WINDOW.into(),
        });
    }
    if template.is_some() || message.files.is_empty() {
        return send_text(client, config, message, template.as_ref()).await;
    }
    let takes_caption = |file: &OutboundFile| MediaKind::of(&file.content_type) != MediaKind::Audio;
    let caption_fits = message.text.trim().chars().count() <= MAX_CAPTION_CHARS
        && message.files.first().is_some_and(takes_caption);
    kit::send_text_and_files(
        &message.text,
        &message.files,
        caption_fits,
        || send_text(client, config, message, None),
        |file, caption| send_file(client, config, message, file, caption),
    )
    .await
}

/// Uploads one file and sends it as a media message; answers the message's id.
async fn send_file(
    client: &reqwest::Client,
    config: &WhatsappConfig,
    message: &OutboundMessage,
    file: &OutboundFile,
    caption: Option<&str>,
) -> Result<String, DeliveryError> {
    let part = |mime: &str| {
        reqwest::multipart::Part::stream(reqwest::Body::from(file.bytes.clone()))
            .file_name(file.filename.clone())
            .mime_str(mime)
    };
    let (part, mime) = match part(&file.content_type) {
        Ok(part) => (part, file.content_type.as_str()),
        Err(_) => (
            part("application/octet-stream").map_err(|err| DeliveryError::Permanent {
                reason: format!("cannot name a file's type: {err}"),
            })?,
            "application/octet-stream",
        ),
    };
    let form = reqwest::multipart::Form::new()
        .text("messaging_product", "whatsapp")
        .text("type", mime.to_owned())
        .part("file", part);
    let upload = client
        .post(config.graph_url(&format!("{}/media", config.phone_number_id)))
        .bearer_auth(config.access_token.expose())
        .multipart(form);
    let uploaded: UploadedMedia = answer(upload, "the file").await?;
    let media = SendMedia {
        id: &uploaded.id,
        caption,
        filename: None,
    };
    let to = message.recipient.external_id.as_str();
    let request = match MediaKind::of(mime) {
        MediaKind::Image if jpeg_or_png(mime) => SendRequest {
            image: Some(media),
            ..request(to, "image")
        },
        MediaKind::Audio => SendRequest {
            audio: Some(SendMedia {
                caption: None,
                ..media
            }),
            ..request(to, "audio")
        },
        MediaKind::Video => SendRequest {
            video: Some(media),
            ..request(to, "video")
        },
        _ => SendRequest {
            document: Some(SendMedia {
                filename: Some(&file.filename),
                ..media
            }),
            ..request(to, "document")
        },
    };
    post_message(client, config, &request).await
}

async fn send_text(
    client: &reqwest::Client,
    config: &WhatsappConfig,
    message: &OutboundMessage,
    template: Option<&Template>,
) -> Result<DeliveryReceipt, DeliveryError> {
    let to = message.recipient.external_id.as_str();
    let request = match template {
        Some(template) => SendRequest {
            template: Some(SendTemplate {
                name: &template.name,
                language: Language {
                    code: &template.language,
                },
                components: if template.parameters.is_empty() {
                    Vec::new()
                } else {
                    vec![Component {
                        kind: "body",
                        parameters: template
                            .parameters
                            .iter()
                            .map(|text| Parameter { kind: "text", text })
                            .collect(),
                    }]
                },
            }),
            ..request(to, "template")
        },
        None => SendRequest {
            text: Some(SendText {
                preview_url: false,
                body: &message.text,
            }),
            ..request(to, "text")
        },
    };
    Ok(DeliveryReceipt {
        channel_message_id: Some(post_message(client, config, &request).await?),
    })
}

/// `POST {phone_number_id}/messages`; answers the sent message's id.
async fn post_message(
    client: &reqwest::Client,
    config: &WhatsappConfig,
    request: &SendRequest<'_>,
) -> Result<String, DeliveryError> {
    let call = client
        .post(config.graph_url(&format!("{}/messages", config.phone_number_id)))
        .bearer_auth(config.access_token.expose())
        .json(request);
    let sent: SendResponse = answer(call, "the message").await?;
    match sent.messages.into_iter().next() {
        Some(sent) => Ok(sent.id),
        None => Err(DeliveryError::Permanent {
            reason: "WhatsApp accepted the request but returned no message id".into(),
        }),
    }
}

/// Sends a Graph API request about `what`: the answer's JSON when it succeeded, the error
/// classified otherwise.
async fn answer<T: serde::de::DeserializeOwned>(
    request: reqwest::RequestBuilder,
    what: &str,
) -> Result<T, DeliveryError> {
    let kit::Answer {
        status,
        retry_after,
        body,
        ..
    } = kit::send(request).await?;
    if (200..300).contains(&status) {
        return serde_json::from_slice(&body).map_err(|err| DeliveryError::Retriable {
            reason: format!("WhatsApp's answer is not its JSON: {err}"),
            retry_after: None,
        });
    }
    let error = serde_json::from_slice::<ErrorResponse>(&body)
        .ok()
        .map(|response| response.error);
    let code = error.as_ref().and_then(|error| error.code);
    let detail = error
        .and_then(|error| error.message)
        .unwrap_or_else(|| format!("HTTP {status}"));
    let reason = match code {
        Some(code) => format!("WhatsApp refused {what} ({code}): {detail}"),
        None => format!("WhatsApp refused {what}: {detail}"),
    };
    Err(match code {
        Some(code) if THROTTLING_CODES.contains(&code) => DeliveryError::Retriable {
            reason,
            retry_after,
        },
        Some(REENGAGEMENT_CODE) => DeliveryError::Permanent {
            reason: OUTSIDE_WINDOW.into(),
        },
        _ => DeliveryError::from_http_status(status, retry_after, reason),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_replies_are_read_from_the_text() {
        assert_eq!(
            Template::from_reply("/template order_update es | Ana | #1234"),
            Some(Template {
                name: "order_update".into(),
                language: "es".into(),
                parameters: vec!["Ana".into(), "#1234".into()],
            })
        );
        assert_eq!(
            Template::from_reply("  /template hello_world").map(|t| (t.name, t.language)),
            Some(("hello_world".into(), "en_US".into()))
        );
        assert_eq!(Template::from_reply("/templates are great"), None);
        assert_eq!(Template::from_reply("/template"), None);
        assert_eq!(Template::from_reply("please use /template x"), None);
    }

    #[test]
    fn the_window_is_24_hours_from_the_customers_last_message() {
        let now = Utc::now();
        assert!(window_open(Some(now - chrono::Duration::hours(23)), now));
        assert!(!window_open(Some(now - chrono::Duration::hours(25)), now));
        assert!(!window_open(None, now));
    }
}
