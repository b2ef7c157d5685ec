//! Updates → the model. One conversation per chat (`chat.id`); a message's id is
//! `{chat_id}:{message_id}`. An edit is stored as a new message `(edited) …` whose id also
//! names the edit's time, so every edit is kept once and the original stays as it was sent.
//! A reply quotes the message it answers in a first `> ` line. Bots' messages (our own
//! included) and service notices (members joining, a new title) are not kept; a body that is
//! not JSON, an update of another kind (`callback_query`…) and a message holding only what we
//! do not read (a sticker, a poll) are [`IgnoredEvent`]s, which the hub keeps as dead letters.

use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use switchboard_model::{
    Attachment, ContactRef, DropReason, IgnoredEvent, Inbound, InboundEvent, InboundMessage,
    NormalizeError,
};

use crate::wire::{File, Message, Update};

/// How much of a replied-to message is quoted.
const QUOTE_CHARS: usize = 200;

pub fn normalize(body: &[u8]) -> Result<Inbound, NormalizeError> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Ok(ignored(IgnoredEvent::new(
            DropReason::Malformed,
            "a Telegram request whose body is not JSON",
        )));
    };
    let update_id = value["update_id"].as_i64().map(|id| id.to_string());
    let update = match Update::deserialize(&value) {
        Ok(update) => update,
        Err(err) => {
            return Ok(ignored(
                IgnoredEvent::new(
                    DropReason::UnknownShape,
                    format!("a Telegram update in a shape this hub does not read: {err}"),
                )
                .with_event_id(update_id),
            ));
        }
    };
    let (message, edited, raw) = match (&update.message, &update.edited_message) {
        (Some(message), _) => (message, false, &value["message"]),
        (None, Some(edited)) => (edited, true, &value["edited_message"]),
        (None, None) => {
            let kind = update_kind(&value).unwrap_or("?");
            return Ok(ignored(
                IgnoredEvent::new(
                    DropReason::Unsupported,
                    format!("a Telegram `{kind}` update, which this hub does not take"),
                )
                .with_event_id(update_id),
            ));
        }
    };
    if let Some(message) = customer_message(message, edited) {
        return Ok(Inbound::Events(vec![InboundEvent::Message(message)]));
    }
    // A bot's message (ours included) or a service notice (a member joined, a title changed)
    // carries no customer's words; anything else a person sent is content we cannot show.
    let by_a_person = message.from.as_ref().is_some_and(|from| !from.is_bot);
    match content_kind(raw).filter(|_| by_a_person) {
        Some(kind) => Ok(ignored(
            IgnoredEvent::new(
                DropReason::Unsupported,
                format!("a Telegram message of a kind this hub does not read (`{kind}`)"),
            )
            .with_event_id(update_id),
        )),
        None => Ok(Inbound::Events(Vec::new())),
    }
}

fn ignored(event: IgnoredEvent) -> Inbound {
    Inbound::Events(vec![event.event()])
}

/// The kind of an update: its one field besides `update_id` (`callback_query`, `poll`…).
fn update_kind(update: &serde_json::Value) -> Option<&str> {
    update
        .as_object()?
        .keys()
        .map(String::as_str)
        .find(|key| *key != "update_id")
}

/// Fields every message has, or that describe it rather than hold what was sent.
const MESSAGE_METADATA: &[&str] = &[
    "message_id",
    "message_thread_id",
    "from",
    "sender_chat",
    "sender_boost_count",
    "date",
    "edit_date",
    "chat",
    "forward_origin",
    "is_topic_message",
    "is_automatic_forward",
    "reply_to_message",
    "external_reply",
    "quote",
    "reply_to_story",
    "via_bot",
    "has_protected_content",
    "is_from_offline",
    "media_group_id",
    "author_signature",
    "entities",
    "caption_entities",
    "link_preview_options",
    "effect_id",
    "has_media_spoiler",
    "show_caption_above_media",
    "reply_markup",
    "business_connection_id",
];

/// Service notices: Telegram telling the chat what happened, not a person writing.
const SERVICE_FIELDS: &[&str] = &[
    "new_chat_members",
    "left_chat_member",
    "new_chat_title",
    "new_chat_photo",
    "delete_chat_photo",
    "group_chat_created",
    "supergroup_chat_created",
    "channel_chat_created",
    "message_auto_delete_timer_changed",
    "migrate_to_chat_id",
    "migrate_from_chat_id",
    "pinned_message",
    "forum_topic_created",
    "forum_topic_edited",
    "forum_topic_closed",
    "forum_topic_reopened",
    "video_chat_started",
    "video_chat_ended",
    "video_chat_scheduled",
    "video_chat_participants_invited",
    "write_access_allowed",
    "users_shared",
    "chat_shared",
    "boost_added",
    "chat_background_set",
];

/// What a message a person sent holds, when it is none of what the hub reads (`sticker`,
/// `poll`, `contact`…); `None` for a service notice.
fn content_kind(message: &serde_json::Value) -> Option<&str> {
    let fields = message.as_object()?;
    if fields
        .keys()
        .any(|key| SERVICE_FIELDS.contains(&key.as_str()))
    {
        return None;
    }
    Some(
        fields
            .keys()
            .map(String::as_str)
            .find(|key| !MESSAGE_METADATA.contains(key))
            .unwrap_or("empty"),
    )
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
