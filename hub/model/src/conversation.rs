//! The states and parts of a conversation and its messages.

use serde::{Deserialize, Serialize};

/// A stored string that is not one of an enum's values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`")]
pub struct ParseEnumError {
    pub kind: &'static str,
    pub value: String,
}

crate::string_enum! {
    /// Where a conversation stands. `bot` is answered by the AI; `escalated` waits for a human;
    /// `assigned` has one; `resolved` may reopen when the customer writes again; `closed` does not
    /// (a new message starts a new conversation).
    pub enum ConversationStatus {
        Bot => "bot",
        Escalated => "escalated",
        Assigned => "assigned",
        Resolved => "resolved",
        Closed => "closed",
    }
}

crate::string_enum! {
    pub enum Priority {
        Low => "low",
        Normal => "normal",
        High => "high",
        Urgent => "urgent",
    }
}

crate::string_enum! {
    /// Who wrote a message.
    pub enum MessageRole {
        Customer => "customer",
        Ai => "ai",
        Agent => "agent",
        System => "system",
    }
}

crate::string_enum! {
    /// Where a message is on its way. Inbound messages are `received`; messages that are not
    /// sent anywhere (private notes) are `internal`; outbound ones go `pending` → `sent` →
    /// `delivered` → `read`, or end `failed` with a reason.
    pub enum DeliveryStatus {
        Received => "received",
        Internal => "internal",
        Pending => "pending",
        Sent => "sent",
        Delivered => "delivered",
        Read => "read",
        Failed => "failed",
    }
}

impl ConversationStatus {
    /// Whether a customer's new message continues this conversation rather than opening a new one.
    pub fn accepts_messages(self) -> bool {
        self != ConversationStatus::Closed
    }
}

impl DeliveryStatus {
    /// Whether `next` may replace `self`: statuses only move forward, so a late `sent` receipt
    /// never overwrites `read`.
    pub fn may_become(self, next: DeliveryStatus) -> bool {
        use DeliveryStatus::*;
        let rank = |status| match status {
            Received | Internal => 0,
            Pending => 1,
            Sent => 2,
            Delivered => 3,
            Read => 4,
            Failed => 5,
        };
        match (self, next) {
            (Received | Internal, _) => false,
            (Read, Failed) => false,
            _ => rank(next) > rank(self),
        }
    }
}

/// A file attached to a message: metadata only; the bytes stay with the channel or object store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    /// Where the channel serves the file, when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A knowledge-base article an AI answer was grounded on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Source {
    pub article_id: String,
    pub title: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_status_only_moves_forward() {
        use DeliveryStatus::*;
        assert!(Pending.may_become(Sent));
        assert!(Sent.may_become(Read));
        assert!(Pending.may_become(Failed));
        assert!(!Read.may_become(Delivered));
        assert!(!Read.may_become(Failed));
        assert!(!Received.may_become(Sent));
        assert!(!Failed.may_become(Sent));
    }

    #[test]
    fn unknown_values_are_errors() {
        let err = "shouting".parse::<Priority>().expect_err("not a priority");
        assert_eq!(err.to_string(), "unknown Priority `shouting`");
    }
}
