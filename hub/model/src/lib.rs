//! The conversation model of Switchboard: what every crate agrees on.
//!
//! Organizations own inboxes (one per channel configuration), contacts, conversations and their
//! messages. Connectors turn a channel's requests into [`InboundEvent`]s and deliver
//! [`OutboundMessage`]s; the server owns everything in between. This crate does no I/O: no
//! database, no HTTP client or server, no clock beyond `chrono::Utc::now` in constructors and [`Clock`].

pub mod analytics;
mod business_hours;
mod channel;
mod clock;
mod connector;
mod conversation;
mod display_name;
mod event;
mod helpdesk;
mod knowledge;
mod notification;
mod outbound_url;
mod records;
mod responder;
mod role;
mod routing;
mod secret;
pub mod sentiment;

pub use business_hours::{BusinessHours, BusinessHoursError, Calendar, WeeklyHours};
pub use channel::{ChannelKind, HUB_MAX_ATTACHMENT_BYTES, MediaKind, UnknownChannel, jpeg_or_png};
pub use clock::Clock;
pub use connector::{
    ConfigError, ConfigField, Connector, ConnectorFactory, DeliveryError, DeliveryReceipt,
    FieldKind, HELPDESK_RATE_LIMIT_PER_MINUTE, HandshakeError, Inbound, NormalizeError, RawInbound,
    VerifyError, WebhookSetupError,
};
pub use conversation::{
    Attachment, ConversationStatus, DeliveryStatus, MessageRole, ParseEnumError, Priority, Source,
};
pub use display_name::{
    AVATAR_PALETTE, VISITOR_PREFIX, avatar_colour, contact_avatar_colour, contact_display_name,
    friendly_name,
};
pub use event::{
    BusEvent, ContactRef, DeliveryUpdate, DropReason, IgnoredEvent, InboundEvent, InboundFile,
    InboundMessage, OutboundFile, OutboundMessage,
};
pub use helpdesk::{
    ChangedTickets, CreatedTicket, Helpdesk, NewComment, NewTicket, RemoteComment, RemoteTicket,
    TicketStatus,
};
pub use knowledge::{ArticleStatus, KbArticle, KbArticleSummary, KbArticleVersion, KnowledgeGap};
pub use notification::{MentionCandidate, Notification, NotificationKind, mentioned_users};
pub use outbound_url::{HTTP_SCHEMES, SMTP_SCHEMES, check_outbound_url};
pub use records::{
    ApiKey, AuditEvent, CannedResponse, Contact, ContactIdentity, Conversation, Csat, Inbox, Label,
    Message, Organization, Snooze, Team, User,
};
pub use responder::{Answer, Deltas, NoDeltas, Question, Responder, ResponderError, Response};
pub use role::{Permission, Role};
pub use routing::{
    AiOutcome, AssignmentStrategy, EscalationRule, Handoff, HandoffReason, MatchMode, Presence,
    PresenceStatus, RuleActions, SlaClock, SlaPolicy, SlaTargetStatus, SummarySource, Trigger,
};
pub use secret::Secret;

/// A new identifier: a UUIDv7 in its hyphenated text form, so that identifiers sort by creation
/// time as text on every database.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().hyphenated().to_string()
}

/// Declares a fieldless enum that is stored and sent as a fixed `snake_case` string.
/// One place for `as_str`, `FromStr`, `Display`, serde and the list of all values.
macro_rules! string_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        $vis enum $name { $($(#[$vmeta])* #[serde(rename = $text)] $variant),+ }

        // Written out rather than derived: utoipa's derive does not see a `rename` that a
        // macro passes in, and described `conversations:read` as `conversations_read`.
        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::conversation::ParseEnumError;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::conversation::ParseEnumError {
                        kind: stringify!($name),
                        value: text.chars().take(64).collect(),
                    }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use string_enum;
