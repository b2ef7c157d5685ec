//! Updates → the model. One conversation per chat (`chat.id`); a message's id is
//! `{chat_id}:{message_id}`. An edit is stored as a new message `(edited) …` whose id also
//! names the edit's time, so every edit is kept once and the original stays as it was sent.
//! A reply quotes the message it answers in a first `> ` line. Bots' messages (our own
//! included) and updates without anything to read are dropped.

use chrono::{DateTime, TimeZone, Utc};
use switchboard_model::{
    Attachment, ContactRef, Inbound, InboundEvent, InboundMessage, NormalizeError,
};

use crate::wire::{File, Message, Update};

/// How much of a replied-to message is quoted.
const QUOTE_CHARS: usize = 200;

pub fn normalize(body: &[u8]) -> Result<Inbound, NormalizeError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|err| NormalizeError(format!("the body is not JSON: {err}")))?;
    let Ok(update) = serde_json::from_value::<Update>(value) else {
        return Ok(Inbound::Events(Vec::new()));
    };
    let message = match (&update.message, &update.edited_message) {
        (Some(message), _) => customer_message(message, false),
        (None, Some(edited)) => customer_message(edited, true),
        (None, None) => None,
    };
    Ok(Inbound::Events(
        message.map(InboundEvent::Message).into_iter().collect(),
    ))
}

/// The message id the hub stores for a Telegram message: ids are only unique within a chat.
pub fn channel_message_id(chat_id: i64, message_id: i64) -> String {
    format!("{chat_id}:{message_id}")
}

fn customer_message(message: &Message, edited: bool) -> Option<InboundMessage> {
    let from = message.from.as_ref()?;
    if from.is_bot {
        return None;
    }
    let attachments = attachments(message);
    let mut text = message
        .text
        .clone()
        .or_else(|| message.caption.clone())
        .or_else(|| {
            message
                .location
                .as_ref()
                .map(|at| format!("Location: {}, {}", at.latitude, at.longitude))
        })
        .unwrap_or_default();
    if text.trim().is_empty() && attachments.is_empty() {
        return None;
    }
    if let Some(quoted) = message
        .reply_to_message
        .as_deref()
        .and_then(|replied| replied.text.as_deref().or(replied.caption.as_deref()))
    {
        let quoted: String = quoted
            .replace('\n', " ")
            .chars()
            .take(QUOTE_CHARS)
            .collect();
        text = format!("> {quoted}\n{text}");
    }
    let mut id = channel_message_id(message.chat.id, message.message_id);
    let mut sent_at = message.date;
    if edited {
        let edit_date = message.edit_date.unwrap_or(message.date);
        id = format!("{id}:edited:{edit_date}");
        text = format!("(edited) {text}");
        sent_at = edit_date;
    }
    let name = [from.first_name.as_deref(), from.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    Some(InboundMessage {
        thread_key: message.chat.id.to_string(),
        channel_message_id: Some(id),
        sender: ContactRef {
            external_id: from.id.to_string(),
            name: Some(name)
                .filter(|name| !name.is_empty())
                .or_else(|| from.username.clone()),
            email: None,
            phone: None,
        },
        text,
        attachments,
        subject: None,
        sent_at: unix_time(sent_at),
        ..Default::default()
    })
}

fn attachments(message: &Message) -> Vec<Attachment> {
    let file = |kind: &str, default_type: &str, file: &File| Attachment {
        filename: file
            .file_name
            .clone()
            .unwrap_or_else(|| format!("{kind}-{}", file.file_id)),
        content_type: file
            .mime_type
            .clone()
            .unwrap_or_else(|| default_type.to_owned()),
        size: file.file_size.unwrap_or(0),
        // The bytes are behind getFile with the bot token: keep the file id, never a URL
        // holding the token.
        url: Some(format!("telegram:file/{}", file.file_id)),
    };
    let largest_photo = message.photo.as_ref().and_then(|sizes| sizes.last());
    [
        largest_photo.map(|photo| file("photo", "image/jpeg", photo)),
        message
            .document
            .as_ref()
            .map(|doc| file("document", "application/octet-stream", doc)),
        message
            .audio
            .as_ref()
            .map(|audio| file("audio", "audio/mpeg", audio)),
        message
            .voice
            .as_ref()
            .map(|voice| file("voice", "audio/ogg", voice)),
        message
            .video
            .as_ref()
            .map(|video| file("video", "video/mp4", video)),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn unix_time(seconds: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_opt(seconds, 0).single()
}
