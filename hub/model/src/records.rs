//! The stored things of the model, as the rest of the hub sees them. Every one belongs to an
//! organization; the store never returns one across organizations.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    Attachment, ChannelKind, ConversationStatus, DeliveryStatus, MessageRole, Permission, Priority,
    Role, Source,
};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Organization {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// The IANA time zone its reports count days in by default (`UTC` unless set).
    pub time_zone: String,
    /// A conversation the AI resolved and the customer reopened within this many hours is not
    /// an automated resolution (24 unless set).
    pub reopen_window_hours: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

/// A group of agents that conversations are routed to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Team {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// An API key as it is listed: the key itself is shown once, at creation, and only its hash kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKey {
    pub id: String,
    pub org_id: String,
    pub name: String,
    /// The first characters of the key, to tell keys apart.
    pub prefix: String,
    pub scopes: Vec<Permission>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// One channel configuration. `config` holds the public settings; the secrets are stored apart
/// and only their names are listed in `secrets_set`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Inbox {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub channel: ChannelKind,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub config: serde_json::Value,
    pub secrets_set: Vec<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Contact {
    pub id: String,
    pub org_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub identities: Vec<ContactIdentity>,
    pub created_at: DateTime<Utc>,
    /// How the hub shows them: name, email or phone, or an anonymous visitor's generated,
    /// stable name ("Curious Otter"); see [`crate::contact_display_name`].
    #[serde(default)]
    pub display_name: String,
    /// `#rrggbb`, for their avatar: white text reads on it (WCAG AA).
    #[serde(default)]
    pub avatar_colour: String,
    /// The names of their labels, in name order.
    #[serde(default)]
    pub labels: Vec<String>,
}

/// How a contact is known on one channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContactIdentity {
    pub channel: ChannelKind,
    pub external_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Conversation {
    pub id: String,
    pub org_id: String,
    pub inbox_id: String,
    pub channel: ChannelKind,
    pub contact_id: String,
    pub status: ConversationStatus,
    pub priority: Priority,
    pub assignee_id: Option<String>,
    pub team_id: Option<String>,
    pub topic: Option<String>,
    /// 0 (very negative) to 100 (very positive): the trend of the customer's messages, an
    /// exponentially weighted average in which the latest counts most.
    pub sentiment: Option<i32>,
    pub subject: Option<String>,
    pub thread_key: String,
    pub last_seq: i64,
    pub last_message_preview: Option<String>,
    pub last_message_at: Option<DateTime<Utc>>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The names of its labels, in name order.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Set while the conversation is snoozed: out of the inbox's views until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snooze: Option<Snooze>,
    /// Its contact's [`Contact::display_name`], so that a list shows who wrote without
    /// fetching every contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_display_name: Option<String>,
    /// Its contact's [`Contact::avatar_colour`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_avatar_colour: Option<String>,
}

/// A snoozed conversation comes back when its time passes or when the customer writes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Snooze {
    /// `null`: only the customer's next message wakes it.
    pub until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// An organization's label: conversations carry it to be found, filtered and counted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Label {
    pub id: String,
    pub org_id: String,
    /// Lowercase letters, digits, `-` and `_`; unique in the organization.
    pub name: String,
    /// `#rrggbb`.
    pub color: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    pub id: String,
    pub org_id: String,
    pub conversation_id: String,
    /// 1, 2, 3… within the conversation, in the order the hub stored them.
    pub seq: i64,
    pub role: MessageRole,
    /// A note between agents: never sent to the customer.
    pub private: bool,
    pub text: String,
    /// The whole text as it arrived, when `text` is a cut of it (an email without its quoted
    /// history and signature).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_full: Option<String>,
    /// Sent by a machine (an auto-reply, a bounce): shown to agents, never answered by the AI.
    #[serde(default)]
    pub automated: bool,
    pub attachments: Vec<Attachment>,
    pub sources: Vec<Source>,
    /// 0..1, for AI answers.
    pub confidence: Option<f64>,
    pub model: Option<String>,
    pub tokens: Option<i64>,
    /// The agent who wrote it.
    pub author_id: Option<String>,
    /// The users a private note mentions (`@name`), each notified.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
    pub channel_message_id: Option<String>,
    pub delivery_status: DeliveryStatus,
    pub delivery_error: Option<String>,
    /// 0 (very negative) to 100 (very positive), for customer messages with text.
    #[serde(default)]
    pub sentiment: Option<i32>,
    pub created_at: DateTime<Utc>,
}

/// One line of the append-only audit log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    pub id: String,
    pub org_id: String,
    /// `user:<id>`, `apikey:<id>`, `system`, `connector:<channel>`.
    pub actor: String,
    /// `conversation.assigned`, `inbox.created`, `user.login`…
    pub action: String,
    pub subject_id: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// A customer's rating of a resolved conversation (web chat asks for it on resolve).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Csat {
    pub conversation_id: String,
    /// 1 (bad) to 5 (great).
    pub score: i32,
    pub comment: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A saved reply that agents insert by its shortcut.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CannedResponse {
    pub id: String,
    pub org_id: String,
    /// What an agent types after `/` to find it, such as `refund`.
    pub shortcut: String,
    pub title: String,
    pub text: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
