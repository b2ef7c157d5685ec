//! What flows in from channels, out to channels, and across the hub's event bus.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Attachment, ChannelKind, ConversationStatus, DeliveryStatus, Message};

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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    /// What ties messages into one conversation on this inbox: a web-chat visitor, an email
    /// thread's root Message-ID, a Slack thread `ts`, a WhatsApp or Telegram chat id.
    pub thread_key: String,
    /// The channel's id for this message, unique per inbox. The same id twice stores one message.
    pub channel_message_id: Option<String>,
    pub sender: ContactRef,
    pub text: String,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InboundEvent {
    Message(InboundMessage),
    Delivery(DeliveryUpdate),
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
}

impl BusEvent {
    pub fn org_id(&self) -> &str {
        match self {
            BusEvent::MessageCreated { org_id, .. }
            | BusEvent::ConversationChanged { org_id, .. }
            | BusEvent::DeliveryChanged { org_id, .. }
            | BusEvent::AnswerDelta { org_id, .. } => org_id,
        }
    }

    pub fn conversation_id(&self) -> &str {
        match self {
            BusEvent::MessageCreated { message, .. } => &message.conversation_id,
            BusEvent::ConversationChanged {
                conversation_id, ..
            }
            | BusEvent::DeliveryChanged {
                conversation_id, ..
            }
            | BusEvent::AnswerDelta {
                conversation_id, ..
            } => conversation_id,
        }
    }
}
