//! Freshdesk API v2's own JSON: the fields of tickets, conversations, contacts and agents the
//! hub reads, the request bodies it sends, and the error answer. Ids are 64-bit numbers.

use serde::{Deserialize, Serialize};

/// `GET /tickets/{id}?include=requester`, and the items of `GET /tickets` and search results
/// (which leave some fields out).
#[derive(Debug, Deserialize)]
pub(crate) struct Ticket {
    pub id: u64,
    pub subject: Option<String>,
    pub status: Option<u64>,
    /// 1 low, 2 medium, 3 high, 4 urgent.
    pub priority: Option<u64>,
    pub requester_id: Option<u64>,
    pub requester: Option<Requester>,
    pub description_text: Option<String>,
    pub tags: Option<Vec<String>>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    /// In the trash: the hub treats it as gone.
    #[serde(default)]
    pub deleted: bool,
    /// Marked as spam: not a conversation.
    #[serde(default)]
    pub spam: bool,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Requester {
    pub id: u64,
    pub name: Option<String>,
    pub email: Option<String>,
    /// A string, or a number in older accounts.
    pub mobile: Option<serde_json::Value>,
    pub phone: Option<serde_json::Value>,
}

/// One entry of `GET /tickets/{id}/conversations`: a reply, a note, or an incoming message.
#[derive(Debug, Deserialize)]
pub(crate) struct Conversation {
    pub id: u64,
    pub body_text: Option<String>,
    #[serde(default)]
    pub private: bool,
    pub user_id: Option<u64>,
    pub created_at: Option<String>,
    #[serde(default)]
    pub attachments: Vec<ConversationAttachment>,
}

/// A file on a conversation entry, served by Freshdesk at `attachment_url`.
#[derive(Debug, Deserialize)]
pub(crate) struct ConversationAttachment {
    pub name: Option<String>,
    pub attachment_url: Option<String>,
    pub content_type: Option<String>,
    #[serde(default)]
    pub size: u64,
}

/// `GET /search/tickets`.
#[derive(Debug, Deserialize)]
pub(crate) struct TicketSearch {
    #[serde(default)]
    pub results: Vec<Ticket>,
}

/// Any answer that names what it created or found: a ticket, a conversation, a contact, the
/// agent of `agents/me`.
#[derive(Debug, Deserialize)]
pub(crate) struct Created {
    pub id: u64,
}

/// `POST /tickets/{id}/reply`.
#[derive(Debug, Serialize)]
pub(crate) struct NewReply<'a> {
    pub body: &'a str,
}

/// `POST /tickets/{id}/notes`; `incoming` with `private: false` is a message from the
/// requester.
#[derive(Debug, Serialize)]
pub(crate) struct NewNote<'a> {
    pub body: &'a str,
    pub private: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub incoming: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<u64>,
}

/// `POST /tickets`: the requester by `email` (with `name`), or by `requester_id`.
#[derive(Debug, Serialize)]
pub(crate) struct NewTicket<'a> {
    pub subject: &'a str,
    pub description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requester_id: Option<u64>,
    pub priority: u8,
    pub status: u8,
    pub tags: Vec<String>,
}

/// `PUT /tickets/{id}`.
#[derive(Debug, Serialize)]
pub(crate) struct StatusUpdate {
    pub status: u8,
}

/// `POST /contacts`: one of `email` or `unique_external_id` names the person.
#[derive(Debug, Serialize)]
pub(crate) struct NewContact<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unique_external_id: Option<&'a str>,
}

/// An error answer: `{"description", "errors": [{"field", "message", "code"}]}` for
/// validation, `{"code", "message"}` for the rest.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorAnswer {
    pub description: Option<String>,
    pub message: Option<String>,
    pub code: Option<String>,
    pub errors: Option<Vec<FieldError>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct FieldError {
    pub field: Option<String>,
    pub message: Option<String>,
}
