//! Rows into model records. A stored value that no longer parses is [`StoreError::Corrupt`],
//! never a panic.

use std::str::FromStr;

use serde::de::DeserializeOwned;
use switchboard_model as model;

use crate::{StoreError, entities::*};

pub(crate) fn parse<T: FromStr>(text: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|err: T::Err| StoreError::Corrupt(err.to_string()))
}

pub(crate) fn from_json<T: DeserializeOwned>(value: &serde_json::Value) -> Result<T, StoreError> {
    serde_json::from_value(value.clone()).map_err(|err| StoreError::Corrupt(err.to_string()))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    // Serializing our own plain data types cannot fail.
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// A stored sentiment score (or level) as the 0–100 the scorer works in.
pub(crate) fn sentiment(score: i32) -> Option<u8> {
    u8::try_from(score.clamp(0, 100)).ok()
}

pub(crate) fn organization(row: organization::Model) -> model::Organization {
    model::Organization {
        id: row.id,
        slug: row.slug,
        name: row.name,
        created_at: row.created_at,
        time_zone: row.time_zone,
        reopen_window_hours: row.reopen_window_secs / 3600,
    }
}

pub(crate) fn team(row: team::Model) -> model::Team {
    model::Team {
        id: row.id,
        org_id: row.org_id,
        name: row.name,
        created_at: row.created_at,
    }
}

pub(crate) fn user(row: user::Model) -> Result<model::User, StoreError> {
    Ok(model::User {
        role: parse(&row.role)?,
        id: row.id,
        org_id: row.org_id,
        email: row.email,
        name: row.name,
        active: row.active,
        created_at: row.created_at,
    })
}

pub(crate) fn api_key(row: api_key::Model) -> Result<model::ApiKey, StoreError> {
    Ok(model::ApiKey {
        scopes: from_json(&row.scopes)?,
        id: row.id,
        org_id: row.org_id,
        name: row.name,
        prefix: row.prefix,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
        revoked_at: row.revoked_at,
    })
}

pub(crate) fn inbox(row: inbox::Model) -> Result<model::Inbox, StoreError> {
    let mut secrets_set: Vec<String> = match &row.secrets {
        serde_json::Value::Object(map) => map.keys().cloned().collect(),
        _ => Vec::new(),
    };
    secrets_set.sort();
    Ok(model::Inbox {
        channel: parse(&row.channel)?,
        id: row.id,
        org_id: row.org_id,
        name: row.name,
        config: row.config,
        secrets_set,
        created_at: row.created_at,
    })
}

pub(crate) fn contact(
    row: contact::Model,
    identities: Vec<contact_identity::Model>,
) -> Result<model::Contact, StoreError> {
    let identities = identities
        .into_iter()
        .map(|identity| {
            Ok(model::ContactIdentity {
                channel: parse(&identity.channel)?,
                external_id: identity.external_id,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    let identities: Vec<model::ContactIdentity> = identities;
    let external_ids: Vec<&str> = identities.iter().map(|i| i.external_id.as_str()).collect();
    let display_name = model::contact_display_name(
        row.name.as_deref(),
        row.email.as_deref(),
        row.phone.as_deref(),
        &external_ids,
    );
    let avatar_colour = model::contact_avatar_colour(&row.id, &identities).to_owned();
    Ok(model::Contact {
        id: row.id,
        org_id: row.org_id,
        name: row.name,
        email: row.email,
        phone: row.phone,
        identities,
        created_at: row.created_at,
        display_name,
        avatar_colour,
        labels: Vec::new(),
    })
}

pub(crate) fn conversation(row: conversation::Model) -> Result<model::Conversation, StoreError> {
    Ok(model::Conversation {
        channel: parse(&row.channel)?,
        status: parse(&row.status)?,
        priority: parse(&row.priority)?,
        id: row.id,
        org_id: row.org_id,
        inbox_id: row.inbox_id,
        contact_id: row.contact_id,
        assignee_id: row.assignee_id,
        team_id: row.team_id,
        topic: row.topic,
        sentiment: row.sentiment,
        subject: row.subject,
        thread_key: row.thread_key,
        last_seq: row.last_seq,
        last_message_preview: row.last_message_preview,
        last_message_at: row.last_message_at,
        first_response_at: row.first_response_at,
        resolved_at: row.resolved_at,
        created_at: row.created_at,
        updated_at: row.updated_at,
        labels: Vec::new(),
        snooze: None,
        contact_display_name: None,
        contact_avatar_colour: None,
    })
}

pub(crate) fn message(row: message::Model) -> Result<model::Message, StoreError> {
    Ok(model::Message {
        role: parse(&row.role)?,
        delivery_status: parse(&row.delivery_status)?,
        attachments: from_json(&row.attachments)?,
        sources: from_json(&row.sources)?,
        mentions: row
            .mentions
            .as_ref()
            .map(from_json)
            .transpose()?
            .unwrap_or_default(),
        id: row.id,
        org_id: row.org_id,
        conversation_id: row.conversation_id,
        seq: row.seq,
        private: row.private,
        text: row.text,
        text_full: row.text_full,
        automated: row.automated,
        confidence: row.confidence,
        model: row.model,
        tokens: row.tokens,
        author_id: row.author_id,
        channel_message_id: row.channel_message_id,
        delivery_error: row.delivery_error,
        sentiment: row.sentiment,
        created_at: row.created_at,
    })
}

pub(crate) fn audit_event(row: audit_log::Model) -> model::AuditEvent {
    model::AuditEvent {
        id: row.id,
        org_id: row.org_id,
        actor: row.actor,
        action: row.action,
        subject_id: row.subject_id,
        data: row.data,
        created_at: row.created_at,
    }
}

/// The first characters of a message, for conversation lists.
pub(crate) fn preview(text: &str) -> String {
    const MAX_CHARS: usize = 140;
    let mut preview: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some((cut, _)) = preview.char_indices().nth(MAX_CHARS) {
        preview.truncate(cut);
        preview.push('…');
    }
    preview
}

#[cfg(test)]
mod tests {
    #[test]
    fn preview_collapses_whitespace_and_cuts_on_a_char_boundary() {
        assert_eq!(super::preview("  hello\n\n  world "), "hello world");
        let long = "é".repeat(200);
        let preview = super::preview(&long);
        assert_eq!(preview.chars().count(), 141);
        assert!(preview.ends_with('…'));
    }
}
