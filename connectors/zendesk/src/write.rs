//! Writing to Zendesk (`{base_url}/api/v2`): the requester's user, ticket creates (idempotent),
//! comments with their uploaded files, and statuses.

use http::Method;
use serde::de::IgnoredAny;
use switchboard_model::{
    ContactRef, CreatedTicket, DeliveryError, InboundFile, NewTicket, TicketStatus,
};

use crate::{
    client::{Client, checked_ticket_id, permanent},
    read::ticket_by_external_id,
    wire::{
        CommentBody, CommentUpdate, NewTicketBody, NewUser, StatusUpdate, TicketChange,
        TicketRequest, UploadEnvelope, UserEnvelope, UserRequest,
    },
};

/// The name of an upload whose sender gave none.
const UNNAMED_FILE: &str = "attachment";

/// A Zendesk user id as the number its API takes.
fn user_number(id: &str) -> Result<u64, DeliveryError> {
    id.trim().parse().map_err(|_| {
        permanent(format!(
            "`{}` is not a Zendesk user id",
            id.chars().take(40).collect::<String>()
        ))
    })
}

/// `POST /tickets.json` with `Idempotency-Key: {external_id}`; the requester's user first.
///
/// Zendesk answers a repeated key with the first answer, but only for two hours and only when
/// the body is the same; a retry whose transcript grew is refused. So a refused create first
/// looks for the ticket a previous try opened with the same `external_id`.
pub async fn create_ticket(
    client: &Client,
    ticket: &NewTicket,
) -> Result<CreatedTicket, DeliveryError> {
    let requester_id = user_number(&requester(client, &ticket.requester).await?)?;
    let body = TicketRequest {
        ticket: NewTicketBody {
            subject: &ticket.subject,
            comment: CommentBody {
                body: &ticket.note,
                public: false,
                author_id: None,
                uploads: Vec::new(),
            },
            requester_id,
            external_id: &ticket.external_id,
            priority: ticket.priority.as_str(),
            tags: &ticket.tags,
        },
    };
    let created = client
        .write::<TicketChange>(
            "the ticket create",
            Method::POST,
            &client.url("tickets.json"),
            &body,
            Some(&ticket.external_id),
        )
        .await;
    match created {
        Ok(created) => Ok(CreatedTicket {
            id: created.ticket.id.clone().into_string(),
            comment_ids: created.comment_ids(),
        }),
        Err(DeliveryError::Permanent { reason }) => {
            match ticket_by_external_id(client, &ticket.external_id).await? {
                // Its first comment is by the integration's user, which the hub skips anyway.
                Some(id) => Ok(CreatedTicket {
                    id,
                    comment_ids: Vec::new(),
                }),
                None => Err(DeliveryError::Permanent { reason }),
            }
        }
        Err(retriable) => Err(retriable),
    }
}

/// `PUT /tickets/{id}.json` with a comment; answers the comment's id from the audit. Each file
/// is uploaded first and the comment carries the uploads' tokens; a failed upload fails the
/// call before the comment is written. The uploads of a call that fails after them are left
/// unused, and Zendesk deletes unused uploads after 60 minutes; a retry uploads again.
pub async fn add_comment(
    client: &Client,
    ticket_id: &str,
    body: &str,
    public: bool,
    author_id: Option<&str>,
    files: &[InboundFile],
) -> Result<String, DeliveryError> {
    let id = checked_ticket_id(ticket_id)?;
    let author_id = author_id.map(user_number).transpose()?;
    let mut uploads = Vec::with_capacity(files.len());
    for file in files {
        uploads.push(upload(client, file).await?);
    }
    let request = TicketRequest {
        ticket: CommentUpdate {
            comment: CommentBody {
                body,
                public,
                author_id,
                uploads,
            },
        },
    };
    let updated: TicketChange = client
        .write(
            "the comment",
            Method::PUT,
            &client.url(&format!("tickets/{id}.json")),
            &request,
            None,
        )
        .await?;
    updated
        .comment_ids()
        .into_iter()
        .next()
        .ok_or_else(|| permanent("Zendesk's answer to the comment has no Comment event"))
}

/// `POST /uploads.json?filename={name}` with the file's bytes as the body; answers the upload's
/// token.
async fn upload(client: &Client, file: &InboundFile) -> Result<String, DeliveryError> {
    // Zendesk requires a name; the sender's may be blank.
    let name = Some(file.filename.trim())
        .filter(|name| !name.is_empty())
        .unwrap_or(UNNAMED_FILE);
    let url = client.url_with("uploads.json", "filename", name)?;
    let answer: UploadEnvelope = client
        .upload("the upload", &url, &file.content_type, &file.bytes)
        .await?;
    Ok(answer.upload.token)
}

/// `PUT /tickets/{id}.json` with the status.
pub async fn set_status(
    client: &Client,
    ticket_id: &str,
    status: TicketStatus,
) -> Result<(), DeliveryError> {
    let id = checked_ticket_id(ticket_id)?;
    let request = TicketRequest {
        ticket: StatusUpdate {
            status: status.as_str(),
        },
    };
    client
        .write::<IgnoredAny>(
            "the status change",
            Method::PUT,
            &client.url(&format!("tickets/{id}.json")),
            &request,
            None,
        )
        .await
        .map(|_| ())
}

/// `POST /users/create_or_update.json`: Zendesk matches the user by email, else by our
/// `switchboard:` external id, so asking twice answers the same user.
pub async fn requester(client: &Client, contact: &ContactRef) -> Result<String, DeliveryError> {
    let present = |value: &Option<String>| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    };
    let email = present(&contact.email);
    let external_id = Some(contact.external_id.trim())
        .filter(|id| !id.is_empty())
        .map(str::to_owned);
    let Some(name) = present(&contact.name)
        .or_else(|| email.clone())
        .or_else(|| external_id.clone())
    else {
        return Err(permanent(
            "a Zendesk requester needs an email address or an external id",
        ));
    };
    let request = UserRequest {
        user: NewUser {
            name: &name,
            email: email.as_deref(),
            external_id: match (&email, external_id) {
                (None, Some(id)) => Some(format!("switchboard:{id}")),
                _ => None,
            },
            role: "end-user",
        },
    };
    let envelope: UserEnvelope = client
        .write(
            "the requester",
            Method::POST,
            &client.url("users/create_or_update.json"),
            &request,
            None,
        )
        .await?;
    Ok(envelope.user.id.into_string())
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_are_not_numbers_never_reach_a_path() {
        for id in ["", "abc", "5158/../../users", "12 34", "-1", "0"] {
            assert!(
                matches!(checked_ticket_id(id), Err(DeliveryError::Permanent { .. })),
                "{id}"
            );
        }
        assert_eq!(checked_ticket_id(" 5158 ").expect("an id"), "5158");
        assert!(user_number("abc").is_err());
        assert_eq!(user_number("901").expect("a number"), 901);
    }
}
