//! Dead letters: what the organization's channels sent that the hub acknowledged and did not
//! store, with the connector's reason and the body as received (`app/dead_letters.rs`). Admins
//! only (`inboxes:manage`): a body may hold anything a platform sends, secrets of its own
//! included.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use switchboard_model::Permission;
use switchboard_store::DeadLetter as StoredDeadLetter;
use utoipa::ToSchema;

use crate::{
    api::PageParams,
    auth::Auth,
    error::{ApiJson, ApiQuery, ApiResult},
    state::AppState,
};

/// One payload acknowledged and not stored.
#[derive(Serialize, ToSchema)]
pub struct DeadLetter {
    pub id: String,
    pub inbox_id: String,
    /// The channel that sent it (`slack`, `telegram`, `whatsapp`, …).
    pub channel: String,
    /// `malformed` (not the platform's format at all), `unknown_shape` (the platform's
    /// envelope, a shape the connector does not read) or `unsupported` (a kind of event the
    /// hub does not take).
    pub reason: String,
    /// What the connector could not read, in a line.
    pub detail: String,
    /// The platform's id for it (Slack's `event_id`, Telegram's `update_id`, a WhatsApp
    /// message id), when it has one.
    pub event_id: Option<String>,
    /// The request's body as received, cut at 64 KiB (invalid UTF-8 replaced).
    pub body: String,
    /// The body's whole length in bytes: more than `body` holds when it was cut.
    pub body_bytes: u64,
    pub created_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct DeadLetterPage {
    pub dead_letters: Vec<DeadLetter>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl From<StoredDeadLetter> for DeadLetter {
    fn from(letter: StoredDeadLetter) -> DeadLetter {
        DeadLetter {
            id: letter.id,
            inbox_id: letter.inbox_id,
            channel: letter.channel,
            reason: letter.reason,
            detail: letter.detail,
            event_id: letter.event_id,
            body: letter.body,
            body_bytes: letter.body_bytes,
            created_at: letter.created_at,
        }
    }
}

/// Lists what the channels sent that the hub acknowledged and did not store, newest first.
#[utoipa::path(get, path = "/dead-letters", tag = "inboxes", params(PageParams),
    responses((status = 200, body = DeadLetterPage),
        (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<ApiJson<DeadLetterPage>> {
    auth.require(Permission::InboxesManage)?;
    let limit = page.limit();
    let letters = state
        .store
        .list_dead_letters(auth.org_id(), page.cursor.as_deref(), limit)
        .await?;
    let next_cursor = (letters.len() as u64 == limit)
        .then(|| letters.last().map(|letter| letter.id.clone()))
        .flatten();
    Ok(ApiJson(DeadLetterPage {
        dead_letters: letters.into_iter().map(DeadLetter::from).collect(),
        next_cursor,
    }))
}
