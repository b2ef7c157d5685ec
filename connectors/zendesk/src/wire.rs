//! Zendesk's own JSON (developer.zendesk.com/api-reference): the fields of tickets, users,
//! comments, audits, uploads, the incremental export and webhooks the hub reads, and the request
//! bodies it sends. Ids are numbers in the REST API and strings in event webhooks: [`Id`] takes
//! both.

use serde::{Deserialize, Serialize};

/// A Zendesk id, as a number or a string of one.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub(crate) enum Id {
    Number(u64),
    Negative(i64),
    Text(String),
}

impl Id {
    /// The id as the hub stores it: decimal text.
    pub fn into_string(self) -> String {
        match self {
            Id::Number(id) => id.to_string(),
            Id::Negative(id) => id.to_string(),
            Id::Text(id) => id.trim().to_owned(),
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct UserEnvelope {
    pub user: User,
}

#[derive(Debug, Deserialize)]
pub(crate) struct User {
    pub id: Id,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// `GET /tickets/{id}.json?include=users`.
#[derive(Debug, Deserialize)]
pub(crate) struct TicketEnvelope {
    pub ticket: Ticket,
    #[serde(default)]
    pub users: Vec<User>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Ticket {
    pub id: Id,
    pub subject: Option<String>,
    pub status: Option<String>,
    /// `low`, `normal`, `high`, `urgent`, or null.
    pub priority: Option<String>,
    pub requester_id: Option<Id>,
    pub external_id: Option<String>,
    /// Read by hand: one odd date must not lose the ticket.
    pub updated_at: Option<String>,
}

/// `GET /tickets/{id}/comments.json`, one cursor page.
#[derive(Debug, Deserialize)]
pub(crate) struct CommentPage {
    #[serde(default)]
    pub comments: Vec<Comment>,
    pub meta: Option<PageMeta>,
    pub links: Option<PageLinks>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Comment {
    pub id: Id,
    pub author_id: Option<Id>,
    #[serde(default = "public_by_default")]
    pub public: bool,
    pub body: Option<String>,
    pub plain_body: Option<String>,
    pub created_at: Option<String>,
    #[serde(default)]
    pub attachments: Vec<CommentAttachment>,
}

/// A file on a comment, served by Zendesk at `content_url`.
#[derive(Debug, Deserialize)]
pub(crate) struct CommentAttachment {
    pub file_name: Option<String>,
    pub content_url: Option<String>,
    pub content_type: Option<String>,
    #[serde(default)]
    pub size: u64,
}

fn public_by_default() -> bool {
    true
}

#[derive(Debug, Deserialize)]
pub(crate) struct PageMeta {
    #[serde(default)]
    pub has_more: bool,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PageLinks {
    pub next: Option<String>,
}

/// `GET /incremental/tickets/cursor.json`.
#[derive(Debug, Deserialize)]
pub(crate) struct IncrementalPage {
    #[serde(default)]
    pub tickets: Vec<TicketId>,
    pub after_cursor: Option<String>,
    #[serde(default)]
    pub end_of_stream: bool,
}

/// `GET /tickets.json?external_id=…`.
#[derive(Debug, Deserialize)]
pub(crate) struct TicketList {
    #[serde(default)]
    pub tickets: Vec<TicketId>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TicketId {
    pub id: Id,
}

/// What a ticket create or update answers: the ticket and the audit of the change.
#[derive(Debug, Deserialize)]
pub(crate) struct TicketChange {
    pub ticket: TicketId,
    pub audit: Option<Audit>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Audit {
    #[serde(default)]
    pub events: Vec<AuditEvent>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AuditEvent {
    pub id: Id,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

impl TicketChange {
    /// The ids of the comments the change wrote.
    pub fn comment_ids(self) -> Vec<String> {
        self.audit
            .map(|audit| audit.events)
            .unwrap_or_default()
            .into_iter()
            .filter(|event| event.kind.as_deref() == Some("Comment"))
            .map(|event| event.id.into_string())
            .collect()
    }
}

/// The three webhook bodies that name a ticket; see `webhook.rs`. Loose values, so that a field
/// of an unexpected type is reported by name rather than as unreadable JSON.
#[derive(Debug, Deserialize)]
pub(crate) struct Webhook {
    /// Event subscriptions: `zen:event-type:ticket.comment_added`.
    #[serde(rename = "type")]
    pub kind: Option<serde_json::Value>,
    /// Event subscriptions: `zen:ticket:5158`.
    pub subject: Option<serde_json::Value>,
    /// Event subscriptions: the ticket, its id a string.
    pub detail: Option<serde_json::Value>,
    /// A trigger's body as the admin wrote it: `{"ticket_id": "{{ticket.id}}"}`.
    pub ticket_id: Option<serde_json::Value>,
    /// A trigger's body in the REST shape: `{"ticket": {"id": 5158}}`.
    pub ticket: Option<serde_json::Value>,
}

/// Every ticket write is `{"ticket": {…}}`.
#[derive(Debug, Serialize)]
pub(crate) struct TicketRequest<T> {
    pub ticket: T,
}

/// `POST /tickets.json`.
#[derive(Debug, Serialize)]
pub(crate) struct NewTicketBody<'a> {
    pub subject: &'a str,
    pub comment: CommentBody<'a>,
    pub requester_id: u64,
    pub external_id: &'a str,
    pub priority: &'a str,
    pub tags: &'a [String],
}

#[derive(Debug, Serialize)]
pub(crate) struct CommentBody<'a> {
    pub body: &'a str,
    pub public: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_id: Option<u64>,
    /// The tokens of files uploaded for the comment.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub uploads: Vec<String>,
}

/// `POST /uploads.json?filename=…` answers `201 {"upload": {"token": …, "attachment": {…}}}`.
#[derive(Debug, Deserialize)]
pub(crate) struct UploadEnvelope {
    pub upload: Upload,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Upload {
    pub token: String,
}

/// `PUT /tickets/{id}.json` adding a comment.
#[derive(Debug, Serialize)]
pub(crate) struct CommentUpdate<'a> {
    pub comment: CommentBody<'a>,
}

/// `PUT /tickets/{id}.json` setting the status.
#[derive(Debug, Serialize)]
pub(crate) struct StatusUpdate<'a> {
    pub status: &'a str,
}

/// `POST /users/create_or_update.json`.
#[derive(Debug, Serialize)]
pub(crate) struct UserRequest<'a> {
    pub user: NewUser<'a>,
}

#[derive(Debug, Serialize)]
pub(crate) struct NewUser<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub role: &'a str,
}

/// Zendesk's error answers: `{"error": "RecordNotFound", "description": "Not found"}` or
/// `{"error": {"title": …, "message": …}}`, sometimes `{"errors": [{"title", "detail"}]}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorAnswer {
    pub error: Option<serde_json::Value>,
    pub description: Option<String>,
    pub details: Option<serde_json::Value>,
    pub errors: Option<serde_json::Value>,
}
