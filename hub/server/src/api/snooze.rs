//! Snoozing a conversation: `POST /conversations/{id}/snooze` and `/unsnooze`.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use switchboard_model::{Conversation, Permission};
use utoipa::ToSchema;

use crate::{
    auth::Auth,
    bus::publish_change,
    error::{ApiError, ApiJson, ApiPath, ApiResult},
    state::AppState,
};

/// Exactly one of the two.
#[derive(Deserialize, ToSchema)]
pub struct SnoozeRequest {
    /// Back at this time (RFC 3339), or earlier if the customer writes.
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
    /// Back when the customer writes, however long that takes.
    #[serde(default)]
    pub until_customer_replies: bool,
}

/// The snooze a request asks for: `Some(time)` until a time ahead of `now`, `None` until the
/// customer writes; one of the two exactly (here and in `POST /conversations/bulk`).
pub(crate) fn snooze_until(
    until: Option<DateTime<Utc>>,
    until_customer_replies: bool,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    match (until, until_customer_replies) {
        (Some(until), false) if until <= now => Err(ApiError::Unprocessable(
            "`until` must be in the future".into(),
        )),
        (Some(until), false) => Ok(Some(until)),
        (None, true) => Ok(None),
        _ => Err(ApiError::Unprocessable(
            "give either `until` or `until_customer_replies: true`".into(),
        )),
    }
}

/// Snoozes the conversation: it leaves the inbox's views (`GET /conversations` without
/// `snoozed=true`) until `until` passes or the customer writes, then comes back by itself.
/// Snoozing again replaces the earlier time.
#[utoipa::path(post, path = "/conversations/{id}/snooze", tag = "conversations",
    params(("id" = String, Path, description = "The conversation's id")),
    request_body = SnoozeRequest,
    responses((status = 200, body = Conversation), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn snooze(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<SnoozeRequest>,
) -> ApiResult<ApiJson<Conversation>> {
    let principal = auth.require(Permission::ConversationsReply)?;
    let until = snooze_until(
        request.until,
        request.until_customer_replies,
        state.clock.now(),
    )?;
    let conversation = state
        .store
        .snooze(auth.org_id(), &id, until, &principal.actor())
        .await?;
    publish_change(state.bus.as_ref(), &conversation);
    Ok(ApiJson(conversation))
}

/// Brings a snoozed conversation back into the views now.
#[utoipa::path(post, path = "/conversations/{id}/unsnooze", tag = "conversations",
    params(("id" = String, Path, description = "The conversation's id")),
    responses((status = 200, body = Conversation), (status = 404, body = crate::error::ErrorBody)))]
pub async fn unsnooze(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<Conversation>> {
    let principal = auth.require(Permission::ConversationsReply)?;
    let conversation = state
        .store
        .unsnooze(auth.org_id(), &id, &principal.actor())
        .await?;
    publish_change(state.bus.as_ref(), &conversation);
    Ok(ApiJson(conversation))
}
