//! Webhook notifications → the model. Each customer is one thread (their `wa_id`); text,
//! media, documents, locations, button / list replies and unsupported messages become messages (media as attachment
//! metadata whose `url` is the Graph API media node of its id); statuses of our messages
//! become delivery updates. Echoes of what the business sent (`message_echoes`), reactions and
//! notifications for another phone number are dropped.

use chrono::{DateTime, TimeZone, Utc};
use switchboard_model::{
    Attachment, ContactRef, DeliveryStatus, DeliveryUpdate, Inbound, InboundEvent, InboundMessage,
    NormalizeError,
};

use crate::{
    WhatsappConfig,
    wire::{ChangeValue, Media, Message, Notification, Status},
};

pub fn normalize(config: &WhatsappConfig, body: &[u8]) -> Result<Inbound, NormalizeError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|err| NormalizeError(format!("the body is not JSON: {err}")))?;
    let Ok(notification) = serde_json::from_value::<Notification>(value) else {
        return Ok(Inbound::Events(Vec::new()));
    };
    if notification.object.as_deref() != Some("whatsapp_business_account") {
        return Ok(Inbound::Events(Vec::new()));
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
        events.extend(
            value
                .messages
                .iter()
                .filter_map(|message| serde_json::from_value::<Message>(message.clone()).ok())
                .filter_map(|message| customer_message(config, value, message))
                .map(InboundEvent::Message),
        );
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

fn customer_message(
    config: &WhatsappConfig,
    value: &ChangeValue,
    message: Message,
) -> Option<InboundMessage> {
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
    let text = match message.kind.as_deref() {
        Some("text") => message.text.as_ref()?.body.clone(),
        Some(kind @ ("image" | "video" | "audio" | "sticker" | "document")) => {
            let item = match kind {
                "image" => message.image.as_ref(),
                "video" => message.video.as_ref(),
                "audio" => message.audio.as_ref(),
                "sticker" => message.sticker.as_ref(),
                _ => message.document.as_ref(),
            }?;
            attachments.push(media(kind, item));
            item.caption.clone().unwrap_or_default()
        }
        Some("location") => {
            let location = message.location.as_ref()?;
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
        Some("button") => {
            let button = message.button.as_ref()?;
            button.text.clone().or_else(|| button.payload.clone())?
        }
        Some("interactive") => {
            let interactive = message.interactive.as_ref()?;
            let reply = interactive
                .button_reply
                .as_ref()
                .or(interactive.list_reply.as_ref())?;
            format!("{} [{}]", reply.title, reply.id)
        }
        // The customer sent something (a poll, a view-once photo…) that the Cloud API does not
        // pass on: agents should still see that they wrote.
        Some("unsupported") => "(a message WhatsApp cannot show here)".to_owned(),
        // Reactions, system notices and orders: not a message to answer.
        _ => return None,
    };
    let name = value
        .contacts
        .iter()
        .find(|contact| contact.wa_id.as_deref() == Some(message.from.as_str()))
        .and_then(|contact| contact.profile.as_ref())
        .and_then(|profile| profile.name.clone());
    Some(InboundMessage {
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
    })
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
