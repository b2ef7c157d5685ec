//! Inboxes: one per channel configuration. Secret config fields are write-only.

use axum::{extract::State, http::StatusCode};
use serde::Deserialize;
use switchboard_model::{ChannelKind, Inbox, Permission};
use utoipa::ToSchema;

use crate::{
    auth::Auth,
    error::{ApiError, ApiJson, ApiPath, ApiResult},
    state::AppState,
};

#[derive(Deserialize, ToSchema)]
pub struct CreateInbox {
    pub name: String,
    /// `webchat`, `email`, `slack`, `whatsapp`, `telegram`, `zendesk` or `freshdesk`.
    pub channel: String,
    /// The channel's settings; its secret fields are stored apart and never returned.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateInbox {
    pub name: Option<String>,
    /// Replaces the public config; secrets given here replace the stored ones, others are kept.
    #[schema(value_type = Option<Object>)]
    pub config: Option<serde_json::Value>,
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

/// Lists the organization's inboxes.
#[utoipa::path(get, path = "/inboxes", tag = "inboxes", responses((status = 200, body = [Inbox])))]
pub async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<ApiJson<Vec<Inbox>>> {
    auth.require(Permission::InboxesRead)?;
    Ok(ApiJson(state.store.list_inboxes(auth.org_id()).await?))
}

/// Creates an inbox.
#[utoipa::path(post, path = "/inboxes", tag = "inboxes", request_body = CreateInbox,
    responses((status = 201, body = Inbox), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(request): ApiJson<CreateInbox>,
) -> ApiResult<(StatusCode, ApiJson<Inbox>)> {
    auth.require(Permission::InboxesManage)?;
    let channel = ChannelKind::parse(&request.channel)
        .map_err(|err| ApiError::Unprocessable(format!("`channel`: {err}")))?;
    // A channel whose connector this hub has checks the config now, not at the first message.
    if let Some(Err(err)) = state
        .connectors
        .validate(channel, "new-inbox", &request.config)
    {
        return Err(ApiError::Unprocessable(err.to_string()));
    }
    let inbox = state
        .store
        .create_inbox(auth.org_id(), &request.name, channel, request.config)
        .await?;
    auth.audit(
        &state,
        "inbox.created",
        &inbox.id,
        serde_json::json!({ "channel": channel, "name": inbox.name }),
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(inbox)))
}

/// One inbox.
#[utoipa::path(get, path = "/inboxes/{id}", tag = "inboxes",
    responses((status = 200, body = Inbox), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<Inbox>> {
    auth.require(Permission::InboxesRead)?;
    Ok(ApiJson(
        state
            .store
            .inbox(auth.org_id(), &id)
            .await?
            .ok_or(ApiError::NotFound)?,
    ))
}

/// Renames an inbox or changes its config.
#[utoipa::path(patch, path = "/inboxes/{id}", tag = "inboxes", request_body = UpdateInbox,
    responses((status = 200, body = Inbox)))]
pub async fn update(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<UpdateInbox>,
) -> ApiResult<ApiJson<Inbox>> {
    auth.require(Permission::InboxesManage)?;
    let inbox = state
        .store
        .update_inbox(auth.org_id(), &id, request.name.as_deref(), request.config)
        .await?;
    auth.audit(&state, "inbox.updated", &id, serde_json::json!({}))
        .await?;
    Ok(ApiJson(inbox))
}
