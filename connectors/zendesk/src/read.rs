//! Reading from Zendesk (`{base_url}/api/v2`): the integration's user, a ticket with its
//! sideloaded requester and every page of its comments, the cursor-based incremental export, and
//! the tickets opened with an `external_id`; Zendesk's JSON turned into the model's types.

use chrono::{DateTime, Utc};
use switchboard_model::{
    Attachment, ChangedTickets, ContactRef, DeliveryError, RemoteComment, RemoteTicket,
    TicketStatus,
};

use crate::{
    client::{Client, checked_ticket_id, permanent},
    wire::{CommentPage, IncrementalPage, TicketEnvelope, TicketList, UserEnvelope},
};

/// Comments per page: Zendesk's most.
const COMMENT_PAGE_SIZE: u32 = 100;
/// Pages of comments read for one ticket at most (Zendesk caps a ticket at 5,000 comments).
const MAX_COMMENT_PAGES: usize = 100;
/// Zendesk refuses an incremental export that starts less than a minute ago.
const MIN_EXPORT_AGE: chrono::Duration = chrono::Duration::seconds(61);

/// A Zendesk status word as the model's; one we do not know is taken as open.
pub fn ticket_status(word: Option<&str>) -> TicketStatus {
    word.and_then(|word| word.trim().to_ascii_lowercase().parse().ok())
        .unwrap_or(TicketStatus::Open)
}

fn time(text: Option<&str>) -> Option<DateTime<Utc>> {
    text.and_then(|text| DateTime::parse_from_rfc3339(text.trim()).ok())
        .map(|time| time.with_timezone(&Utc))
}

/// `GET /users/me.json`: the user whose token we hold.
pub async fn me(client: &Client) -> Result<String, DeliveryError> {
    let envelope: UserEnvelope = client
        .get("users/me", &client.url("users/me.json"))
        .await?
        .ok_or_else(|| permanent("Zendesk has no users/me here: check `base_url`"))?;
    Ok(envelope.user.id.into_string())
}

/// `GET /tickets/{id}.json?include=users`, then every page of its comments.
pub async fn ticket(client: &Client, id: &str) -> Result<Option<RemoteTicket>, DeliveryError> {
    let id = checked_ticket_id(id)?;
    let url = client.url(&format!("tickets/{id}.json?include=users"));
    let Some(envelope) = client.get::<TicketEnvelope>("the ticket", &url).await? else {
        return Ok(None);
    };
    // Deleted between the two calls: no ticket either.
    let Some(comments) = comments(client, &id).await? else {
        return Ok(None);
    };
    Ok(Some(remote_ticket(envelope, comments)))
}

fn remote_ticket(envelope: TicketEnvelope, comments: Vec<RemoteComment>) -> RemoteTicket {
    let ticket = envelope.ticket;
    let requester_id = ticket.requester_id.map(|id| id.into_string());
    let user = requester_id.as_deref().and_then(|requester_id| {
        envelope
            .users
            .into_iter()
            .find(|user| user.id.clone().into_string() == requester_id)
    });
    let requester = ContactRef {
        external_id: requester_id.unwrap_or_default(),
        name: user.as_ref().and_then(|user| user.name.clone()),
        email: user.as_ref().and_then(|user| user.email.clone()),
        phone: user.and_then(|user| user.phone),
    };
    RemoteTicket {
        id: ticket.id.into_string(),
        subject: ticket.subject,
        status: ticket_status(ticket.status.as_deref()),
        priority: ticket.priority.as_deref().and_then(|p| p.parse().ok()),
        requester,
        external_id: ticket.external_id.filter(|id| !id.is_empty()),
        updated_at: time(ticket.updated_at.as_deref()),
        comments,
    }
}

/// `GET /tickets/{id}/comments.json`, following `links.next` while `meta.has_more`, oldest first.
async fn comments(client: &Client, id: &str) -> Result<Option<Vec<RemoteComment>>, DeliveryError> {
    let mut url = client.url(&format!(
        "tickets/{id}/comments.json?page[size]={COMMENT_PAGE_SIZE}"
    ));
    let mut comments = Vec::new();
    for _ in 0..MAX_COMMENT_PAGES {
        let Some(page) = client
            .get::<CommentPage>("the ticket's comments", &url)
            .await?
        else {
            return Ok(None);
        };
        comments.extend(page.comments.into_iter().map(|comment| {
            RemoteComment {
                id: comment.id.into_string(),
                author_id: comment
                    .author_id
                    .map(|id| id.into_string())
                    .unwrap_or_default(),
                public: comment.public,
                body: comment.plain_body.or(comment.body).unwrap_or_default(),
                created_at: time(comment.created_at.as_deref()),
                attachments: comment
                    .attachments
                    .into_iter()
                    .map(|file| Attachment {
                        filename: file.file_name.unwrap_or_else(|| "attachment".into()),
                        content_type: file
                            .content_type
                            .unwrap_or_else(|| "application/octet-stream".into()),
                        size: file.size,
                        url: file.content_url,
                    })
                    .collect(),
            }
        }));
        let more = page.meta.is_some_and(|meta| meta.has_more);
        match page.links.and_then(|links| links.next).filter(|_| more) {
            None => return Ok(Some(comments)),
            // The link carries our credentials' answer: follow it only on this account.
            Some(next) if client.owns(&next) && next != url => url = next,
            Some(_) => {
                return Err(permanent(
                    "Zendesk's next page of comments is not a new page under `base_url`",
                ));
            }
        }
    }
    Err(permanent(format!(
        "ticket {id} has more than {} comments",
        MAX_COMMENT_PAGES * COMMENT_PAGE_SIZE as usize
    )))
}

/// The export's `start_time`: `start`, but at least a minute ago (Zendesk refuses later ones)
/// and not before 1970.
fn start_time(start: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    start.min(now - MIN_EXPORT_AGE).timestamp().max(0)
}

/// `GET /incremental/tickets/cursor.json` from `cursor`, or from `start` on the first poll.
pub async fn changed(
    client: &Client,
    cursor: Option<&str>,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<ChangedTickets, DeliveryError> {
    let path = "incremental/tickets/cursor.json";
    let url = match cursor {
        Some(cursor) => client.url_with(path, "cursor", cursor)?,
        None => client.url_with(path, "start_time", &start_time(start, now).to_string())?,
    };
    let page: IncrementalPage = client
        .get("the incremental ticket export", &url)
        .await?
        .ok_or_else(|| permanent("Zendesk has no incremental ticket export here"))?;
    Ok(ChangedTickets {
        ticket_ids: page
            .tickets
            .into_iter()
            .map(|ticket| ticket.id.into_string())
            .collect(),
        // Without a new cursor the next poll asks from the same one again.
        cursor: page
            .after_cursor
            .filter(|after| !after.is_empty())
            .or_else(|| cursor.map(str::to_owned)),
        more: !page.end_of_stream,
    })
}

/// `GET /tickets.json?external_id=…`: the first ticket opened with it, if any.
pub async fn ticket_by_external_id(
    client: &Client,
    external_id: &str,
) -> Result<Option<String>, DeliveryError> {
    let url = client.url_with("tickets.json", "external_id", external_id)?;
    let found: Option<TicketList> = client.get("the ticket lookup", &url).await?;
    let first = found
        .map(|list| list.tickets)
        .unwrap_or_default()
        .into_iter()
        .map(|ticket| ticket.id.into_string())
        .min_by_key(|id| (id.len(), id.clone()));
    Ok(first)
}
#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn zendesk_status_words_map_to_the_model() {
        for (word, status) in [
            (Some("new"), TicketStatus::New),
            (Some("open"), TicketStatus::Open),
            (Some("pending"), TicketStatus::Pending),
            (Some("hold"), TicketStatus::Hold),
            (Some("solved"), TicketStatus::Solved),
            (Some("closed"), TicketStatus::Closed),
            (Some("Solved"), TicketStatus::Solved),
            (Some("deleted"), TicketStatus::Open),
            (Some(""), TicketStatus::Open),
            (None, TicketStatus::Open),
        ] {
            assert_eq!(ticket_status(word), status, "{word:?}");
        }
        // The words we send are Zendesk's own.
        for status in TicketStatus::ALL {
            assert_eq!(ticket_status(Some(status.as_str())), *status);
        }
    }

    #[test]
    fn the_requester_comes_from_the_sideloaded_users() {
        let envelope: TicketEnvelope = serde_json::from_value(json!({
            "ticket": { "id": 5158, "subject": "Locker 12 will not open", "status": "pending",
                        "requester_id": 901, "external_id": null,
                        "updated_at": "2024-05-02T09:30:00Z", "tags": ["locker"] },
            "users": [
                { "id": 7, "name": "Agent Smith", "email": "smith@acme.test" },
                { "id": 901, "name": "Maria Lopez", "email": "maria@example.test", "phone": "+34600000000" }
            ]
        }))
        .expect("a ticket");
        let ticket = remote_ticket(envelope, Vec::new());
        assert_eq!(ticket.id, "5158");
        assert_eq!(ticket.status, TicketStatus::Pending);
        assert_eq!(ticket.external_id, None);
        assert_eq!(
            ticket.requester,
            ContactRef {
                external_id: "901".into(),
                name: Some("Maria Lopez".into()),
                email: Some("maria@example.test".into()),
                phone: Some("+34600000000".into()),
            }
        );
        assert_eq!(
            ticket.updated_at,
            Some(
                DateTime::parse_from_rfc3339("2024-05-02T09:30:00Z")
                    .expect("a time")
                    .with_timezone(&Utc)
            )
        );
    }

    #[test]
    fn the_export_never_starts_within_the_last_minute() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).expect("a time");
        let hour_ago = now - chrono::Duration::hours(1);
        assert_eq!(start_time(hour_ago, now), 1_700_000_000 - 3600);
        assert_eq!(start_time(now, now), 1_700_000_000 - 61);
        assert_eq!(
            start_time(now + chrono::Duration::days(1), now),
            1_700_000_000 - 61
        );
        let before_1970 = DateTime::from_timestamp(-5, 0).expect("a time");
        assert_eq!(start_time(before_1970, now), 0);
    }
}
