//! What flows in from channels, out to channels, and across the hub's event bus.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    Attachment, ChannelKind, ConversationStatus, DeliveryStatus, Message, MessageRole, Notification,
};

/// A file a channel delivered with a message, bytes included. The connector stays pure: the
/// server stores the bytes (in the data dir) and keeps an [`Attachment`] on the message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundFile {
    /// As the sender named it: never trusted as a path.
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// A file the hub delivers with an outbound message: one of its `attachments`, bytes included.
/// The delivery worker reads the bytes from the hub's files before it calls the connector, so
/// that a connector never touches the disk; they are never serialized.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutboundFile {
    /// Already safe as a filename (letters, digits, `.`, `-`, `_`, spaces).
    pub filename: String,
    pub content_type: String,
    pub bytes: bytes::Bytes,
}

/// The person behind a message, as the channel knows them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactRef {
    /// The channel's own id for the person: a visitor token, an email address, a Slack user id,
    /// a WhatsApp phone number, a Telegram user id. Unique per (organization, channel).
    pub external_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// One customer message, normalized from a channel's payload.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    /// What ties messages into one conversation on this inbox: a web-chat visitor, an email
    /// thread's root Message-ID, a Slack thread `ts`, a WhatsApp or Telegram chat id.
    pub thread_key: String,
    /// Earlier messages this one answers, most telling first (email: our reply token, then
    /// In-Reply-To, then References, newest first). Each is tried as a thread key and as the
    /// `channel_message_id` of a stored message of the inbox (ours included); the first that
    /// finds a conversation wins, and `thread_key` is used only when none does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reply_to_keys: Vec<String>,
    /// The channel's id for this message, unique per inbox. The same id twice stores one message.
    pub channel_message_id: Option<String>,
    pub sender: ContactRef,
    /// What the customer wrote this time: for email, without the quoted history and signature.
    pub text: String,
    /// The whole text as it arrived, when `text` is a cut of it (quotes stripped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_full: Option<String>,
    /// Files the channel serves itself, or that were too large to keep (then `url` is `None`).
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// Files that came with the message; the server stores them and adds to `attachments`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<InboundFile>,
    /// Sent by a machine, not a person: an out-of-office or other auto-reply, a bounce, bulk
    /// mail. Stored, but it never reopens a conversation and the AI does not answer it.
    #[serde(default)]
    pub automated: bool,
    /// An email subject, a ticket title.
    #[serde(default)]
    pub subject: Option<String>,
    /// When the channel says the customer sent it.
    #[serde(default)]
    pub sent_at: Option<DateTime<Utc>>,
}

/// The channel reports what became of a message we sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryUpdate {
    pub channel_message_id: String,
    pub status: DeliveryStatus,
    pub error: Option<String>,
}

/// One thing a channel's request tells the hub.
// A request carries a handful of events, each moved once into the store: boxing the message
// would cost every connector noise for no measurable gain.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InboundEvent {
    Message(InboundMessage),
    Delivery(DeliveryUpdate),
    /// Something the platform sent that the hub will not store: the server acknowledges it
    /// (the platform would only send it again), counts it and keeps it as a dead letter.
    Ignored(IgnoredEvent),
}

/// Why a verified payload, acknowledged to the platform, was kept as a dead letter instead of
/// stored. What is *not* a drop, and so never one of these: a duplicate, our own bot's echo,
/// another bot's message, a platform's housekeeping (edits by us, joins, read receipts), a
/// handshake; connectors document theirs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// The body is not what the platform sends at all (not JSON, no envelope).
    Malformed,
    /// The platform's envelope, with an event in a shape the connector does not read (a field
    /// of another type, a new envelope): a customer's words may be inside.
    UnknownShape,
    /// Read, but of a kind the hub does not take (a Telegram callback query, a WhatsApp
    /// reaction or order, a Slack event type it was not written for).
    Unsupported,
}

impl DropReason {
    /// The `reason` label on metrics and in the dead-letter list.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::UnknownShape => "unknown_shape",
            DropReason::Unsupported => "unsupported",
        }
    }
}

/// What a connector did not store, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IgnoredEvent {
    pub reason: DropReason,
    /// One line for the admin: what it was and what the connector could not read.
    pub detail: String,
    /// The platform's id for what was dropped, when it has one (Slack's `event_id`, Telegram's
    /// `update_id`, a WhatsApp message id): a resend of it is kept once.
    pub event_id: Option<String>,
}

impl IgnoredEvent {
    pub fn new(reason: DropReason, detail: impl Into<String>) -> IgnoredEvent {
        IgnoredEvent {
            reason,
            detail: detail.into(),
            event_id: None,
        }
    }

    /// This event with the platform's id for it.
    pub fn with_event_id(self, event_id: Option<String>) -> IgnoredEvent {
        IgnoredEvent { event_id, ..self }
    }

    /// As an inbound event.
    pub fn event(self) -> InboundEvent {
        InboundEvent::Ignored(self)
    }
}

/// A message the hub has stored and must deliver on its conversation's channel.
///
/// [`ChannelKind::reply_window`]: crate::ChannelKind::reply_window
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboundMessage {
    pub message_id: String,
    pub org_id: String,
    pub inbox_id: String,
    pub conversation_id: String,
    pub channel: ChannelKind,
    pub thread_key: String,
    /// The customer on this channel.
    pub recipient: ContactRef,
    pub text: String,
    pub attachments: Vec<Attachment>,
    /// The bytes of the `attachments` the hub keeps (an agent's uploads), in the same order;
    /// filled by the delivery worker just before `Connector::deliver`, empty otherwise.
    #[serde(skip)]
    pub files: Vec<OutboundFile>,
    /// Who wrote it, as the customer should see it: the agent's name, or the AI's.
    #[serde(default)]
    pub author_name: Option<String>,
    pub subject: Option<String>,
    /// The channel id of the customer's latest message, for channels that thread replies on it.
    pub in_reply_to: Option<String>,
    /// When the customer last wrote in this conversation (the hub fills it from the stored
    /// messages), for channels that only allow free-form replies for a while after that
    /// (WhatsApp's 24-hour window, see [`ChannelKind::reply_window`]).
    #[serde(default)]
    pub customer_last_message_at: Option<DateTime<Utc>>,
    /// 1 on the first try. Connectors may send `message_id` as an idempotency key where the
    /// platform takes one, so that a retry after a crash does not post twice.
    pub attempt: u32,
}

/// What the hub tells its parts (web-chat sockets, the agent inbox, other nodes) after a commit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BusEvent {
    MessageCreated {
        org_id: String,
        inbox_id: String,
        message: Box<Message>,
    },
    ConversationChanged {
        org_id: String,
        inbox_id: String,
        conversation_id: String,
        status: ConversationStatus,
    },
    DeliveryChanged {
        org_id: String,
        conversation_id: String,
        message_id: String,
        status: DeliveryStatus,
    },
    /// A piece of an answer being generated; the whole answer follows as `MessageCreated` with
    /// the same `message_id`.
    AnswerDelta {
        org_id: String,
        inbox_id: String,
        conversation_id: String,
        message_id: String,
        text: String,
    },
    /// Someone is typing in a conversation: the customer (shown to agents) or an agent (shown to
    /// the customer on web chat). Never stored.
    Typing {
        org_id: String,
        inbox_id: String,
        conversation_id: String,
        role: MessageRole,
    },
    /// An agent has a new notification: only that agent's inbox shows it.
    NotificationCreated {
        org_id: String,
        user_id: String,
        notification: Box<Notification>,
    },
}

impl BusEvent {
    pub fn org_id(&self) -> &str {
        match self {
            BusEvent::MessageCreated { org_id, .. }
            | BusEvent::ConversationChanged { org_id, .. }
            | BusEvent::DeliveryChanged { org_id, .. }
            | BusEvent::AnswerDelta { org_id, .. }
            | BusEvent::Typing { org_id, .. }
            | BusEvent::NotificationCreated { org_id, .. } => org_id,
        }
    }

    pub fn conversation_id(&self) -> &str {
        match self {
            BusEvent::MessageCreated { message, .. } => &message.conversation_id,
            BusEvent::NotificationCreated { notification, .. } => &notification.conversation_id,
            BusEvent::ConversationChanged {
                conversation_id, ..
            }
            | BusEvent::DeliveryChanged {
                conversation_id, ..
            }
            | BusEvent::AnswerDelta {
                conversation_id, ..
            }
            | BusEvent::Typing {
                conversation_id, ..
            } => conversation_id,
        }
    }
}
