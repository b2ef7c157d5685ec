//! Webhook notifications → the model. Each customer is one thread (their `wa_id`); text,
//! media, documents, locations, button / list replies and unsupported messages become messages (media as attachment
//! metadata whose `url` is the Graph API media node of its id); statuses of our messages
//! become delivery updates. Echoes of what the business sent (`message_echoes`), WhatsApp's
//! `system` notices and notifications for another phone number are not kept; a body that is
//! not JSON, a message in a shape we do not read and kinds we do not take (reactions, orders,
//! shared contacts) are [`IgnoredEvent`]s, which the hub keeps as dead letters.

use chrono::{DateTime, TimeZone, Utc};
use switchboard_model::{
    Attachment, ContactRef, DeliveryStatus, DeliveryUpdate, DropReason, IgnoredEvent, Inbound,
    InboundEvent, InboundMessage, NormalizeError,
};

use crate::{
    WhatsappConfig,
    wire::{ChangeValue, Media, Message, Notification, Status},
};

pub fn normalize(config: &WhatsappConfig, body: &[u8]) -> Result<Inbound, NormalizeError> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Ok(ignored(
            DropReason::Malformed,
            "a WhatsApp request whose body is not JSON".into(),
        ));
    };
    let notification = match serde_json::from_value::<Notification>(value) {
        Ok(notification) => notification,
        Err(err) => {
            return Ok(ignored(
                DropReason::UnknownShape,
                format!("a WhatsApp notification in a shape this hub does not read: {err}"),
            ));
        }
    };
    if notification.object.as_deref() != Some("whatsapp_business_account") {
        return Ok(ignored(
            DropReason::Unsupported,
            format!(
                "a webhook for `{}`, not `whatsapp_business_account`",
                notification.object.as_deref().unwrap_or("?")
            ),
        ));
    }
    let mut events = Vec::new();
    for change in notification.entry.iter().flat_map(|entry| &entry.changes) {
        // Only `messages` carries customers' messages and our statuses; `smb_message_echoes`
        // and the rest are about the business's own side.
        let (Some("messages"), Some(value)) = (change.field.as_deref(), &change.value) else {
            continue;
        };
        let for_us = value
            .metadata
            .as_ref()
            .and_then(|metadata| metadata.phone_number_id.as_deref())
            .is_none_or(|id| id == config.phone_number_id);
        if !for_us {
            continue;
        }
        for raw in &value.messages {
            let read = match serde_json::from_value::<Message>(raw.clone()) {
                Ok(message) => customer_message(config, value, message),
                Err(err) => Some(
                    IgnoredEvent::new(
                        DropReason::UnknownShape,
                        format!("a WhatsApp message in a shape this hub does not read: {err}"),
                    )
                    .with_event_id(raw["id"].as_str().map(str::to_owned))
                    .event(),
                ),
            };
            events.extend(read);
        }
        events.extend(
            value
                .statuses
                .iter()
                .filter_map(|status| serde_json::from_value::<Status>(status.clone()).ok())
                .filter_map(delivery_update)
                .map(InboundEvent::Delivery),
        );
    }
    Ok(Inbound::Events(events))
}

fn ignored(reason: DropReason, detail: String) -> Inbound {
    Inbound::Events(vec![IgnoredEvent::new(reason, detail).event()])
}

/// A customer's message as the hub stores it; an [`IgnoredEvent`] for one it cannot (a kind it
/// does not take, a kind without its content); `None` for WhatsApp's own notices (`system`: a
/// customer changed their number), which hold nothing they wrote.
fn customer_message(
    config: &WhatsappConfig,
    value: &ChangeValue,
    message: Message,
) -> Option<InboundEvent> {
    let kind = message.kind.clone().unwrap_or_else(|| "?".into());
    let dropped = |reason, detail: String| {
        Some(
            IgnoredEvent::new(reason, detail)
                .with_event_id(Some(message.id.clone()))
                .event(),
        )
    };
    let without_content = || {
        dropped(
            DropReason::UnknownShape,
            format!("a WhatsApp `{kind}` message without its `{kind}` content"),
        )
    };
    let media = |kind: &str, media: &Media| Attachment {
        filename: media
            .filename
            .clone()
            .unwrap_or_else(|| format!("{kind}-{}", media.id)),
        content_type: media
            .mime_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into()),
        size: 0,
        url: Some(config.graph_url(&media.id)),
    };
    let mut attachments = Vec::new();
    let text = match kind.as_str() {
        "text" => match message.text.as_ref() {
            Some(text) => text.body.clone(),
            None => return without_content(),
        },
        kind @ ("image" | "video" | "audio" | "sticker" | "document") => {
            let item = match kind {
                "image" => message.image.as_ref(),
                "video" => message.video.as_ref(),
                "audio" => message.audio.as_ref(),
                "sticker" => message.sticker.as_ref(),
                _ => message.document.as_ref(),
            };
            let Some(item) = item else {
                return without_content();
            };
            attachments.push(media(kind, item));
            item.caption.clone().unwrap_or_default()
        }
        "location" => {
            let Some(location) = message.location.as_ref() else {
                return without_content();
            };
            let place = [location.name.as_deref(), location.address.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
            let coordinates = format!("{}, {}", location.latitude, location.longitude);
            if place.is_empty() {
                format!("Location: {coordinates}")
            } else {
                format!("Location: {place} ({coordinates})")
            }
        }
        "button" => match message
            .button
            .as_ref()
            .and_then(|button| button.text.clone().or_else(|| button.payload.clone()))
        {
            Some(text) => text,
            None => return without_content(),
        },
        "interactive" => match message.interactive.as_ref().and_then(|interactive| {
            interactive
                .button_reply
                .as_ref()
                .or(interactive.list_reply.as_ref())
        }) {
            Some(reply) => format!("{} [{}]", reply.title, reply.id),
            None => return without_content(),
        },
        // The customer sent something (a poll, a view-once photo…) that the Cloud API does not
        // pass on: agents should still see that they wrote.
        "unsupported" => "(a message WhatsApp cannot show here)".to_owned(),
        "system" => return None,
        // Reactions, orders, shared contacts, kinds newer than this connector.
        _ => {
            return dropped(
                DropReason::Unsupported,
                format!("a WhatsApp `{kind}` message, which this hub does not take"),
            );
        }
    };
    let name = value
        .contacts
        .iter()
        .find(|contact| contact.wa_id.as_deref() == Some(message.from.as_str()))
        .and_then(|contact| contact.profile.as_ref())
        .and_then(|profile| profile.name.clone());
    Some(InboundEvent::Message(InboundMessage {
        thread_key: message.from.clone(),
        channel_message_id: Some(message.id),
        sender: ContactRef {
            phone: Some(format!("+{}", message.from)),
            external_id: message.from,
            name,
            email: None,
        },
        text,
        attachments,
        subject: None,
        sent_at: message.timestamp.as_deref().and_then(unix_time),
        ..Default::default()
    }))
}

fn delivery_update(status: Status) -> Option<DeliveryUpdate> {
    let delivery_status = match status.status.as_str() {
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        // A voice message played has been read.
        "read" | "played" => DeliveryStatus::Read,
        "failed" => DeliveryStatus::Failed,
        _ => return None,
    };
    let error = status.errors.first().map(|error| {
        let text = error
            .error_data
            .as_ref()
            .and_then(|data| data.details.clone())
            .or_else(|| error.message.clone())
            .or_else(|| error.title.clone())
            .unwrap_or_else(|| "failed".into());
        match error.code {
            Some(code) => format!("WhatsApp error {code}: {text}"),
            None => text,
        }
    });
    Some(DeliveryUpdate {
        channel_message_id: status.id,
        status: delivery_status,
        error,
    })
}

fn unix_time(seconds: &str) -> Option<DateTime<Utc>> {
    Utc.timestamp_opt(seconds.parse().ok()?, 0).single()
}
