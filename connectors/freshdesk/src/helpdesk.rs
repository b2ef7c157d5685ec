//! [`Helpdesk`] over Freshdesk API v2: tickets with their conversations in, changed tickets by
//! `updated_since`, and tickets, replies and notes (with their files), statuses and contacts
//! out.
//!
//! Freshdesk has no idempotency key and no external id on tickets: a ticket we open carries
//! the tag `switchboard-{conversation id}`, and a create first searches for that tag, so a retry
//! answers the ticket the first try opened (within the search index's delay, see the docs).

use chrono::{DateTime, Utc};
use switchboard_model::{
    ChangedTickets, ContactRef, CreatedTicket, DeliveryError, Helpdesk, InboundFile, NewComment,
    NewTicket, NormalizeError, RawInbound, RemoteTicket, TicketStatus,
};

use crate::{
    FreshdeskConnector,
    api::query,
    convert::{self, description_comment_id, external_id_tag, html_body, timestamp},
    cursor::Cursor,
    webhook, wire,
};

/// Freshdesk's largest page.
const PAGE_SIZE: usize = 100;
/// Ten thousand conversations: a ticket with more is not a conversation any more, and a
/// platform that always says "next" must not keep us reading forever.
const MAX_CONVERSATION_PAGES: u32 = 100;
/// The subject of an escalation that came without one.
const DEFAULT_SUBJECT: &str = "Conversation escalated from Switchboard";
/// The longest conversation id put in a tag (ours are 36-character UUIDs).
const MAX_EXTERNAL_ID_CHARS: usize = 100;

#[async_trait::async_trait]
impl Helpdesk for FreshdeskConnector {
    fn webhook_ticket(&self, request: &RawInbound<'_>) -> Result<String, NormalizeError> {
        webhook::ticket_id(request.body)
    }

    async fn me(&self) -> Result<String, DeliveryError> {
        if let Some(id) = self.me.get() {
            return Ok(id.clone());
        }
        let agent: wire::Created = self.api.get("/agents/me").await?;
        Ok(self.me.get_or_init(|| agent.id.to_string()).clone())
    }

    async fn ticket(&self, id: &str) -> Result<Option<RemoteTicket>, DeliveryError> {
        let id = ticket_number(id)?;
        let Some(ticket) = self
            .api
            .find::<wire::Ticket>(&format!("/tickets/{id}?include=requester"))
            .await?
        else {
            return Ok(None);
        };
        // The list of changed tickets leaves both out; a webhook may still name one.
        if ticket.deleted || ticket.spam {
            return Ok(None);
        }
        let Some(conversations) = self.conversations(id).await? else {
            return Ok(None);
        };
        Ok(Some(convert::remote_ticket(ticket, conversations)))
    }

    async fn changed(
        &self,
        cursor: Option<&str>,
        start: DateTime<Utc>,
    ) -> Result<ChangedTickets, DeliveryError> {
        let position = Cursor::resume(cursor, start)?;
        let page = position.page().to_string();
        let path = format!(
            "/tickets?{}",
            query(&[
                (
                    "updated_since",
                    &convert::format_timestamp(position.since())
                ),
                ("order_by", "updated_at"),
                ("order_type", "asc"),
                ("per_page", &PAGE_SIZE.to_string()),
                ("page", &page),
            ])
        );
        let tickets: Vec<wire::Ticket> = self.api.get(&path).await?;
        let full = tickets.len() >= PAGE_SIZE;
        let updated: Vec<DateTime<Utc>> = tickets
            .iter()
            .filter_map(|ticket| timestamp(ticket.updated_at.as_deref()))
            .collect();
        let next = position.after(&updated, full);
        Ok(ChangedTickets {
            ticket_ids: tickets.iter().map(|ticket| ticket.id.to_string()).collect(),
            // Nothing seen and nothing stored: the next poll starts from `start` again.
            cursor: (cursor.is_some() || !tickets.is_empty()).then(|| next.to_string()),
            more: full,
        })
    }

    async fn create_ticket(&self, ticket: &NewTicket) -> Result<CreatedTicket, DeliveryError> {
        let tag = external_id_tag(checked_external_id(&ticket.external_id)?);
        if let Some(id) = self.find_tagged(&tag).await? {
            return self.resume_create(id, &ticket.note).await;
        }
        let email = present(&ticket.requester.email);
        let requester_id = match email {
            Some(_) => None,
            None => Some(self.requester_number(&ticket.requester).await?),
        };
        let mut tags = ticket.tags.clone();
        if !tags.contains(&tag) {
            tags.push(tag);
        }
        // Freshdesk requires both; the description is shown to the requester, so it is only the
        // subject, and the handoff note goes in a private note.
        let subject = Some(ticket.subject.trim())
            .filter(|subject| !subject.is_empty())
            .unwrap_or(DEFAULT_SUBJECT);
        let description = html_body(subject);
        let request = wire::NewTicket {
            subject,
            description: &description,
            email,
            name: email.and(present(&ticket.requester.name)),
            requester_id,
            priority: convert::priority_to_freshdesk(ticket.priority),
            status: convert::status_to_freshdesk(TicketStatus::Open),
            tags,
        };
        let created: wire::Created = self.api.post("/tickets", &request).await?;
        let mut comment_ids = vec![description_comment_id(created.id)];
        comment_ids.extend(self.handoff_note(created.id, &ticket.note).await?);
        Ok(CreatedTicket {
            id: created.id.to_string(),
            comment_ids,
        })
    }

    async fn add_comment(
        &self,
        ticket_id: &str,
        comment: &NewComment,
    ) -> Result<String, DeliveryError> {
        let author = comment.author_id.as_deref().map(user_number).transpose()?;
        if comment.public && author.is_none() {
            return self.reply(ticket_id, &comment.body, &comment.files).await;
        }
        let id = ticket_number(ticket_id)?;
        let body = html_body(&comment.body);
        // A public note marked incoming, written as the requester, is Freshdesk's way to add
        // the customer's own words to a ticket.
        let note = wire::NewNote {
            body: &body,
            private: !comment.public,
            incoming: comment.public,
            user_id: author,
        };
        self.note(id, &note, &comment.files).await
    }

    async fn set_status(&self, ticket_id: &str, status: TicketStatus) -> Result<(), DeliveryError> {
        let id = ticket_number(ticket_id)?;
        let update = wire::StatusUpdate {
            status: convert::status_to_freshdesk(status),
        };
        self.api.put(&format!("/tickets/{id}"), &update).await
    }

    async fn requester(&self, contact: &ContactRef) -> Result<String, DeliveryError> {
        self.requester_number(contact)
            .await
            .map(|id| id.to_string())
    }
}

impl FreshdeskConnector {
    /// A reply to the requester on ticket `ticket_id`, as the integration's agent, with
    /// `files` attached.
    pub(crate) async fn reply(
        &self,
        ticket_id: &str,
        text: &str,
        files: &[InboundFile],
    ) -> Result<String, DeliveryError> {
        let id = ticket_number(ticket_id)?;
        let body = html_body(text);
        let created: wire::Created = self
            .api
            .post_with_files(
                &format!("/tickets/{id}/reply"),
                &wire::NewReply { body: &body },
                files,
            )
            .await?;
        Ok(created.id.to_string())
    }

    async fn note(
        &self,
        ticket: u64,
        note: &wire::NewNote<'_>,
        files: &[InboundFile],
    ) -> Result<String, DeliveryError> {
        let created: wire::Created = self
            .api
            .post_with_files(&format!("/tickets/{ticket}/notes"), note, files)
            .await?;
        Ok(created.id.to_string())
    }

    /// The escalation's handoff note, private; none when there is nothing to say.
    async fn handoff_note(&self, ticket: u64, text: &str) -> Result<Option<String>, DeliveryError> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        let body = html_body(text);
        let note = wire::NewNote {
            body: &body,
            private: true,
            incoming: false,
            user_id: None,
        };
        self.note(ticket, &note, &[]).await.map(Some)
    }

    /// All of a ticket's conversations, oldest first; `None` when the ticket is gone.
    async fn conversations(
        &self,
        ticket: u64,
    ) -> Result<Option<Vec<wire::Conversation>>, DeliveryError> {
        let mut conversations = Vec::new();
        for page in 1..=MAX_CONVERSATION_PAGES {
            let path = format!("/tickets/{ticket}/conversations?per_page={PAGE_SIZE}&page={page}");
            let Some((items, next_page)) =
                self.api.find_page::<Vec<wire::Conversation>>(&path).await?
            else {
                return Ok(None);
            };
            let more = !items.is_empty() && (items.len() >= PAGE_SIZE || next_page);
            conversations.extend(items);
            if !more {
                break;
            }
        }
        Ok(Some(conversations))
    }

    /// The ticket a create for `tag` opened before, if any.
    async fn find_tagged(&self, tag: &str) -> Result<Option<u64>, DeliveryError> {
        let path = format!(
            "/search/tickets?{}",
            query(&[("query", &format!("\"tag:'{tag}'\""))])
        );
        let found: wire::TicketSearch = self.api.get(&path).await?;
        // The search matches words; only the exact tag is ours.
        Ok(found
            .results
            .iter()
            .find(|ticket| {
                ticket
                    .tags
                    .iter()
                    .flatten()
                    .any(|candidate| candidate.eq_ignore_ascii_case(tag))
            })
            .map(|ticket| ticket.id))
    }

    /// A retried create whose ticket exists: its description, and our private note (written
    /// now when the first try failed before writing it).
    async fn resume_create(&self, ticket: u64, note: &str) -> Result<CreatedTicket, DeliveryError> {
        let me = self.me().await?;
        let conversations = self.conversations(ticket).await?.unwrap_or_default();
        let ours: Vec<String> = conversations
            .iter()
            .filter(|entry| entry.private && entry.user_id.is_some_and(|id| id.to_string() == me))
            .map(|entry| entry.id.to_string())
            .collect();
        let mut comment_ids = vec![description_comment_id(ticket)];
        if ours.is_empty() {
            comment_ids.extend(self.handoff_note(ticket, note).await?);
        } else {
            comment_ids.extend(ours);
        }
        Ok(CreatedTicket {
            id: ticket.to_string(),
            comment_ids,
        })
    }

    /// The contact for a customer: found by email, else by our `unique_external_id`, or
    /// created.
    async fn requester_number(&self, contact: &ContactRef) -> Result<u64, DeliveryError> {
        let email = present(&contact.email);
        let unique_external_id = match email {
            Some(_) => None,
            None if contact.external_id.trim().is_empty() => {
                return Err(DeliveryError::Permanent {
                    reason:
                        "a customer with neither an email nor an id cannot be a Freshdesk contact"
                            .into(),
                });
            }
            None => Some(format!("switchboard:{}", contact.external_id.trim())),
        };
        let lookup = match (email, &unique_external_id) {
            (Some(email), _) => ("email", email),
            (None, unique) => ("unique_external_id", unique.as_deref().unwrap_or_default()),
        };
        let path = format!("/contacts?{}", query(&[lookup]));
        let found: Vec<wire::Created> = self.api.get(&path).await?;
        if let Some(contact) = found.first() {
            return Ok(contact.id);
        }
        // Freshdesk requires a name: the person's, else what we know them by.
        let name = present(&contact.name)
            .or(email)
            .or(present(&contact.phone))
            .unwrap_or(contact.external_id.trim());
        let request = wire::NewContact {
            name,
            email,
            unique_external_id: unique_external_id.as_deref(),
        };
        let created: wire::Created = self.api.post("/contacts", &request).await?;
        Ok(created.id)
    }
}

fn present(value: &Option<String>) -> Option<&str> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

/// A Freshdesk id from the hub: digits only, so that it can never change the path it is put in.
fn number(id: &str, what: &str) -> Result<u64, DeliveryError> {
    let id = id.trim();
    id.bytes()
        .all(|byte| byte.is_ascii_digit())
        .then(|| id.parse::<u64>().ok())
        .flatten()
        .ok_or_else(|| DeliveryError::Permanent {
            reason: format!(
                "{:?} is not a Freshdesk {what} id",
                id.chars().take(40).collect::<String>()
            ),
        })
}

fn ticket_number(id: &str) -> Result<u64, DeliveryError> {
    number(id, "ticket")
}

fn user_number(id: &str) -> Result<u64, DeliveryError> {
    number(id, "user")
}

/// Our conversation ids are UUIDs; anything that could break out of a search query's quotes
/// is refused rather than escaped.
fn checked_external_id(external_id: &str) -> Result<&str, DeliveryError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if external_id.is_empty()
        || external_id.len() > MAX_EXTERNAL_ID_CHARS
        || !external_id.chars().all(allowed)
    {
        return Err(DeliveryError::Permanent {
            reason: format!(
                "{:?} cannot be a Freshdesk tag: 1-{MAX_EXTERNAL_ID_CHARS} characters of A-Z a-z 0-9 - _ .",
                external_id.chars().take(40).collect::<String>()
            ),
        });
    }
    Ok(external_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_never_reach_a_path_unless_numeric() {
        assert_eq!(ticket_number("42").ok(), Some(42));
        assert_eq!(ticket_number(" 42 ").ok(), Some(42));
        for bad in [
            "",
            "4 2",
            "-1",
            "+1",
            "1/../../agents",
            "42?x=1",
            "99999999999999999999",
        ] {
            assert!(
                matches!(ticket_number(bad), Err(DeliveryError::Permanent { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn external_ids_that_could_escape_the_search_are_refused() {
        assert!(checked_external_id("0190b8f0-0000-7000-8000-000000000001").is_ok());
        for bad in ["", "a'b", "a\"b", "a b", "a:b", "ü", &"x".repeat(101)] {
            assert!(checked_external_id(bad).is_err(), "{bad:?}");
        }
    }
}
