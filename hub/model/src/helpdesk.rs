//! The helpdesk seam: what a ticketing system (Zendesk, Freshdesk) offers the hub beyond a chat
//! channel's webhook-in, reply-out. The hub reads tickets through the helpdesk's API (a webhook
//! only names the ticket that changed; a poller finds the ones a lost webhook missed), and writes
//! tickets, comments and statuses back. A connector that is a helpdesk returns itself from
//! [`Connector::helpdesk`](crate::Connector::helpdesk).

use chrono::{DateTime, Utc};

use crate::{
    Attachment, ContactRef, DeliveryError, InboundFile, NormalizeError, Priority, RawInbound,
};

crate::string_enum! {
    /// A ticket's status, in the words both helpdesks share. Zendesk: `new`, `open`, `pending`,
    /// `hold`, `solved`, `closed`. Freshdesk: 2 open, 3 pending, 4 resolved (solved), 5 closed.
    pub enum TicketStatus {
        New => "new",
        Open => "open",
        Pending => "pending",
        Hold => "hold",
        Solved => "solved",
        Closed => "closed",
    }
}

impl TicketStatus {
    /// Solved or closed: the hub resolves the conversation.
    pub fn is_done(self) -> bool {
        matches!(self, TicketStatus::Solved | TicketStatus::Closed)
    }
}

/// One comment (Zendesk) or conversation entry (Freshdesk) of a ticket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteComment {
    /// The helpdesk's id of the comment, unique in the account.
    pub id: String,
    /// The helpdesk user who wrote it.
    pub author_id: String,
    /// A public reply (the requester sees it) rather than an internal note.
    pub public: bool,
    /// Plain text.
    pub body: String,
    pub created_at: Option<DateTime<Utc>>,
    /// Files on the comment, as links the helpdesk serves.
    pub attachments: Vec<Attachment>,
}

/// A ticket as the helpdesk's API returns it, with its comments, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteTicket {
    pub id: String,
    pub subject: Option<String>,
    pub status: TicketStatus,
    /// The ticket's priority, when it has one.
    pub priority: Option<Priority>,
    /// The helpdesk user who asked: `external_id` is their helpdesk user id.
    pub requester: ContactRef,
    /// The `external_id` we gave the ticket when we created it (a conversation id), if any.
    pub external_id: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
    pub comments: Vec<RemoteComment>,
}

/// A page of tickets changed since a cursor (Zendesk's cursor-based incremental export,
/// Freshdesk's `updated_since` with overlap).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangedTickets {
    /// Ids of tickets created or updated after the cursor; comments not included.
    pub ticket_ids: Vec<String>,
    /// Where the next poll starts. Stored after the page's tickets are synced.
    pub cursor: Option<String>,
    /// More pages are ready now.
    pub more: bool,
}

/// A ticket the hub opens for a conversation escalated on another channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTicket {
    /// Our conversation id: the ticket's `external_id`, and the idempotency key of the create so
    /// that a retry never opens a second ticket.
    pub external_id: String,
    pub subject: String,
    /// The customer. Found or created in the helpdesk by email, else by `external_id`.
    pub requester: ContactRef,
    /// The transcript and the handoff note: the ticket's first comment, private.
    pub note: String,
    pub priority: Priority,
    pub tags: Vec<String>,
}

/// What a create answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedTicket {
    pub id: String,
    /// The ids of the comments the create wrote (the first comment), so that they never come
    /// back as new.
    pub comment_ids: Vec<String>,
}

/// A comment the hub adds to a ticket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewComment {
    pub body: String,
    pub public: bool,
    /// The helpdesk user to write it as (a ticket's requester for the customer's own words);
    /// `None`: the integration's user.
    pub author_id: Option<String>,
    /// Files to attach (Zendesk: uploaded first, their tokens on the comment; Freshdesk:
    /// multipart). A file the helpdesk refuses fails the comment: none is left out silently.
    pub files: Vec<InboundFile>,
}

/// A ticketing system's API, as the hub uses it. Every call may wait on the network and on the
/// helpdesk's rate limit; a 429 is [`DeliveryError::Retriable`] with the `Retry-After`.
#[async_trait::async_trait]
pub trait Helpdesk: Send + Sync {
    /// The ticket a verified webhook names (`verify` has passed). Pure.
    fn webhook_ticket(&self, request: &RawInbound<'_>) -> Result<String, NormalizeError>;

    /// The integration's own user id: comments by it are ours and never come back as new.
    async fn me(&self) -> Result<String, DeliveryError>;

    /// One ticket and all its comments. `Ok(None)`: no such ticket (deleted).
    async fn ticket(&self, id: &str) -> Result<Option<RemoteTicket>, DeliveryError>;

    /// Tickets changed since `cursor` (`None`: since `start`).
    async fn changed(
        &self,
        cursor: Option<&str>,
        start: DateTime<Utc>,
    ) -> Result<ChangedTickets, DeliveryError>;

    /// Opens a ticket; a retry with the same `external_id` answers the same ticket.
    async fn create_ticket(&self, ticket: &NewTicket) -> Result<CreatedTicket, DeliveryError>;

    /// Adds a comment; answers its id.
    async fn add_comment(
        &self,
        ticket_id: &str,
        comment: &NewComment,
    ) -> Result<String, DeliveryError>;

    /// Sets a ticket's status.
    async fn set_status(&self, ticket_id: &str, status: TicketStatus) -> Result<(), DeliveryError>;

    /// The helpdesk user for a customer, found by email or created. Answers their user id.
    async fn requester(&self, contact: &ContactRef) -> Result<String, DeliveryError>;
}
