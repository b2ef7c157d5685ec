//! Inboxes: one per channel configuration. Secret config fields are write-only.

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use switchboard_model::{ChannelKind, DeliveryError, Inbox, Permission, WebhookSetupError};
use utoipa::ToSchema;

use crate::{
    auth::Auth,
    error::{ApiError, ApiJson, ApiPath, ApiResult},
    state::{AppState, ConnectorUnavailable},
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

/// Creates an inbox. An email inbox's address must be no other inbox's, in any organization
/// (409).
#[utoipa::path(post, path = "/inboxes", tag = "inboxes", request_body = CreateInbox,
    responses((status = 201, body = Inbox), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
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
    if request.config.get("escalation_desk") == Some(&serde_json::Value::Bool(true)) {
        one_escalation_desk(&state, auth.org_id(), None).await?;
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

/// An organization has at most one escalation desk: refuses a second.
/// `this`: the inbox being changed, which may stay the desk.
async fn one_escalation_desk(state: &AppState, org_id: &str, this: Option<&str>) -> ApiResult<()> {
    for channel in [ChannelKind::Zendesk, ChannelKind::Freshdesk] {
        for inbox in state.store.org_inboxes_for_channel(org_id, channel).await? {
            if crate::helpdesk::is_escalation_desk(&inbox) && Some(inbox.inbox.id.as_str()) != this
            {
                return Err(ApiError::Unprocessable(format!(
                    "the organization's escalation desk is inbox {} already; \
                     set `escalation_desk` to false there first",
                    inbox.inbox.id
                )));
            }
        }
    }
    Ok(())
}

/// One inbox.
#[utoipa::path(get, path = "/inboxes/{id}", tag = "inboxes",
    params(("id" = String, Path, description = "The inbox's id")),
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

/// Renames an inbox or changes its config, which the channel's connector checks as on
/// creation (with the stored secrets the change keeps).
#[utoipa::path(patch, path = "/inboxes/{id}", tag = "inboxes",
    params(("id" = String, Path, description = "The inbox's id")), request_body = UpdateInbox,
    responses((status = 200, body = Inbox), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<UpdateInbox>,
) -> ApiResult<ApiJson<Inbox>> {
    auth.require(Permission::InboxesManage)?;
    if request
        .config
        .as_ref()
        .and_then(|config| config.get("escalation_desk"))
        == Some(&serde_json::Value::Bool(true))
    {
        one_escalation_desk(&state, auth.org_id(), Some(&id)).await?;
    }
    let inbox = state
        .store
        .update_inbox(
            auth.org_id(),
            &id,
            request.name.as_deref(),
            request.config,
            |channel, config| match state.connectors.validate(channel, &id, config) {
                Some(Err(err)) => Err(err.to_string()),
                Some(Ok(())) | None => Ok(()),
            },
        )
        .await?;
    auth.audit(&state, "inbox.updated", &id, serde_json::json!({}))
        .await?;
    Ok(ApiJson(inbox))
}

#[derive(Serialize, ToSchema)]
pub struct WebhookRegistered {
    /// The URL the platform now posts this inbox's updates to.
    pub webhook_url: String,
}

/// Registers the inbox's webhook URL (`{public_url}/webhooks/{channel}/{id}`) with the platform,
/// with the inbox's secret (Telegram's `setWebhook`). Channels whose webhook is set in the
/// platform's console answer 422 `not_supported`; a platform's refusal is 422
/// `platform_refused` (429 and 5xx: 502 `platform_unavailable`) with its HTTP status, never
/// its text.
#[utoipa::path(post, path = "/inboxes/{id}/register-webhook", tag = "inboxes",
    params(("id" = String, Path, description = "The inbox's id")),
    responses((status = 200, body = WebhookRegistered), (status = 422, body = crate::error::ErrorBody),
        (status = 502, body = crate::error::ErrorBody)))]
pub async fn register_webhook(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<WebhookRegistered>> {
    auth.require(Permission::InboxesManage)?;
    state
        .store
        .inbox(auth.org_id(), &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let inbox = state
        .store
        .inbox_for_channel(&id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let connector = state
        .connectors
        .connector_for(&inbox)
        .map_err(|err| match err {
            ConnectorUnavailable::NotEnabled(channel) => ApiError::Status {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "not_supported",
                message: format!("the {channel} channel is not enabled on this hub"),
            },
            ConnectorUnavailable::BadConfig(reason) => ApiError::Unprocessable(reason),
        })?;
    let webhook_url = format!(
        "{}/webhooks/{}/{id}",
        state.settings.public_url().trim_end_matches('/'),
        inbox.inbox.channel
    );
    match connector.register_webhook(&webhook_url).await {
        Ok(()) => {}
        Err(WebhookSetupError::Unsupported(channel)) => {
            return Err(ApiError::Status {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "not_supported",
                message: format!(
                    "{channel} webhooks are set in the platform's console: use {webhook_url}"
                ),
            });
        }
        // What the platform said stays in the log: the URL the hub called is the
        // organization's to set, so its answers would make the hub a probe of whatever that
        // URL reaches. The caller gets the status.
        Err(WebhookSetupError::Refused { status, reason }) => {
            tracing::warn!(inbox_id = %id, status, %reason, "the platform refused the webhook");
            let message = format!(
                "the platform did not register the webhook: it answered HTTP {status} \
                 (its answer is in the hub's log)"
            );
            return Err(if status == 429 || status >= 500 {
                ApiError::Status {
                    status: StatusCode::BAD_GATEWAY,
                    code: "platform_unavailable",
                    message,
                }
            } else {
                ApiError::Status {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    code: "platform_refused",
                    message,
                }
            });
        }
        Err(WebhookSetupError::Failed(err)) => {
            tracing::warn!(inbox_id = %id, error = %err, "cannot register the webhook");
            return Err(match err {
                DeliveryError::Retriable { .. } => ApiError::Status {
                    status: StatusCode::BAD_GATEWAY,
                    code: "platform_unavailable",
                    message: "the platform could not be reached; try again later".into(),
                },
                DeliveryError::Permanent { .. } => ApiError::Status {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    code: "platform_refused",
                    message: "the webhook could not be registered (the reason is in the \
                              hub's log)"
                        .into(),
                },
            });
        }
    }
    auth.audit(
        &state,
        "inbox.webhook_registered",
        &id,
        serde_json::json!({ "webhook_url": webhook_url }),
    )
    .await?;
    Ok(ApiJson(WebhookRegistered { webhook_url }))
}
