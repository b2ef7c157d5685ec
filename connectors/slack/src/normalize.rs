//! Events API payloads → the model: a customer's message in a channel, a DM or a thread becomes
//! an `InboundMessage` whose thread is `{channel}:{thread_ts or ts}`; everything else (our own
//! bot, other bots, edits, deletions, joins: Slack's housekeeping, no customer's words) is
//! acknowledged and not kept. A body that is not JSON, an event in a shape we do not read and
//! an event type we do not take are [`IgnoredEvent`]s: the hub keeps them as dead letters.

use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use switchboard_model::{
    Attachment, ContactRef, DropReason, IgnoredEvent, Inbound, InboundEvent, InboundMessage,
    NormalizeError,
};

use crate::wire::{
    SlackEventCallbackBody, SlackMessageEvent, SlackMessageEventType, SlackPushEvent,
    SlackPushEventCallback,
};

pub fn normalize(body: &[u8]) -> Result<Inbound, NormalizeError> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Ok(ignored(IgnoredEvent::new(
            DropReason::Malformed,
            "a Slack request whose body is not JSON",
        )));
    };
    let event_id = value["event_id"].as_str().map(str::to_owned);
    let dropped = |reason, detail: String| {
        ignored(IgnoredEvent::new(reason, detail).with_event_id(event_id.clone()))
    };
    // A well-formed payload of a kind or shape we do not read (a new envelope type, a message
    // with a field of another type) is acknowledged, and the hub keeps it as a dead letter.
    let event_type = value["event"]["type"].as_str();
    let push = match SlackPushEvent::deserialize(&value) {
        Ok(push) => push,
        Err(err) => {
            let envelope = value["type"].as_str().unwrap_or("?");
            let what = match event_type {
                Some(event) => format!("`{envelope}` of a `{event}` event"),
                None => format!("`{envelope}`"),
            };
            return Ok(dropped(
                DropReason::UnknownShape,
                format!("a Slack {what} in a shape this hub does not read: {err}"),
            ));
        }
    };
    Ok(match push {
        SlackPushEvent::UrlVerification(check) => Inbound::Handshake {
            response_body: check.challenge,
        },
        SlackPushEvent::EventCallback(callback) => match &callback.event {
            SlackEventCallbackBody::Message(event) => Inbound::Events(
                customer_message(&callback, event)
                    .map(InboundEvent::Message)
                    .into_iter()
                    .collect(),
            ),
            // slack-morphism keeps what it cannot read as a message under another variant: a
            // customer's message in a shape we do not know must not vanish unnoticed.
            _ if event_type == Some("message") => dropped(
                DropReason::UnknownShape,
                "a Slack `message` event in a shape this hub does not read".into(),
            ),
            // The `message.*` event of the same words comes too (docs/channels/slack.md).
            _ if event_type == Some("app_mention") => Inbound::Events(Vec::new()),
            _ => dropped(
                DropReason::Unsupported,
                format!(
                    "a Slack `{}` event, which this hub does not take",
                    event_type.unwrap_or("?")
                ),
            ),
        },
        // `app_rate_limited`: Slack telling us it held events back; nothing of a customer's.
        _ => Inbound::Events(Vec::new()),
    })
}

fn ignored(event: IgnoredEvent) -> Inbound {
    Inbound::Events(vec![event.event()])
}

/// The `ts` in Slack's ids: the thread of a reply, the id of a message within its channel.
pub fn thread_key(channel: &str, ts: &str) -> String {
    format!("{channel}:{ts}")
}

fn customer_message(
    callback: &SlackPushEventCallback,
    event: &SlackMessageEvent,
) -> Option<InboundMessage> {
    // Subtypes that are a person writing; the rest are edits, deletions, joins, bots.
    let written_by_a_person = matches!(
        event.subtype,
        None | Some(
            SlackMessageEventType::MeMessage
                | SlackMessageEventType::FileShare
                | SlackMessageEventType::ThreadBroadcast
        )
    );
    if !written_by_a_person || event.hidden == Some(true) || event.sender.bot_id.is_some() {
        return None;
    }
    let user = event.sender.user.as_ref()?.0.clone();
    // Slackbot's notices are Slack talking, not a customer.
    if user == "USLACKBOT" {
        return None;
    }
    // Our own bot user (the app's authorization) posting through another path is still us.
    let ours = callback
        .authorizations
        .iter()
        .flatten()
        .any(|authorization| authorization.is_bot == Some(true) && authorization.user_id.0 == user);
    if ours {
        return None;
    }
    let channel = event.origin.channel.as_ref()?.0.clone();
    let ts = event.origin.ts.0.clone();
    let root = event
        .origin
        .thread_ts
        .as_ref()
        .map_or(ts.as_str(), |thread| thread.0.as_str());
    let content = event.content.as_ref();
    let mut text = content
        .and_then(|content| content.text.clone())
        .unwrap_or_default();
    if text.trim().is_empty() {
        // A forwarded or shared message arrives as a legacy attachment with empty `text`.
        text = content
            .and_then(|content| content.attachments.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|shared| shared.fallback.clone().or_else(|| shared.text.clone()))
            .collect::<Vec<_>>()
            .join("\n");
    }
    let attachments: Vec<Attachment> = content
        .and_then(|content| content.files.as_ref())
        .into_iter()
        .flatten()
        .map(|file| Attachment {
            filename: file
                .name
                .clone()
                .or_else(|| file.title.clone())
                .unwrap_or_else(|| file.id.0.clone()),
            content_type: file.mimetype.as_ref().map_or_else(
                || "application/octet-stream".to_owned(),
                |mime| mime.0.clone(),
            ),
            size: 0,
            url: file.url_private.as_ref().map(|url| url.to_string()),
        })
        .collect();
    if text.trim().is_empty() && attachments.is_empty() {
        return None;
    }
    let name = event.sender.user_profile.as_ref().and_then(|profile| {
        profile
            .display_name
            .clone()
            .filter(|name| !name.is_empty())
            .or_else(|| profile.real_name.clone())
    });
    Some(InboundMessage {
        thread_key: thread_key(&channel, root),
        channel_message_id: Some(thread_key(&channel, &ts)),
        sender: ContactRef {
            external_id: user,
            name,
            ..ContactRef::default()
        },
        text,
        attachments,
        subject: None,
        sent_at: ts_time(&ts),
        ..Default::default()
    })
}

/// Slack's `ts` is Unix seconds with microseconds after a dot.
fn ts_time(ts: &str) -> Option<DateTime<Utc>> {
    let (seconds, micros) = ts.split_once('.').unwrap_or((ts, "0"));
    let seconds: i64 = seconds.parse().ok()?;
    let micros: u32 = format!("{micros:0<6}").get(..6)?.parse().ok()?;
    Utc.timestamp_opt(seconds, micros * 1000).single()
}
