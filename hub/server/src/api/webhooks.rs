//! Outbound webhook subscriptions: admins subscribe URLs to events; each delivery is signed
//! with the subscription's secret, shown once when it is created (`docs/webhooks.md`).

use axum::{extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_model::{HTTP_SCHEMES, Permission, check_outbound_url};
use switchboard_store::{WEBHOOK_EVENTS, WebhookDelivery, WebhookSubscription};
use utoipa::ToSchema;

use crate::{
    auth::Auth,
    error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult},
    state::AppState,
};

#[derive(Deserialize, ToSchema)]
pub struct CreateWebhook {
    /// An `http://` or `https://` URL the hub may call (no link-local or metadata address).
    pub url: String,
    /// Any of `message.created`, `conversation.escalated`, `conversation.assigned`,
    /// `conversation.resolved`, `conversation.reopened`, `csat.submitted`.
    pub events: Vec<String>,
}

/// A subscription as listed: never with its secret.
#[derive(Serialize, ToSchema)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// A subscription just created, with the secret its deliveries are signed with. The secret
/// is shown here only.
#[derive(Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    pub secret: String,
}

/// One event sent (or to be sent) to a subscription.
#[derive(Serialize, ToSchema)]
pub struct Delivery {
    /// Also the payload's `id`, the same on every attempt.
    pub id: String,
    pub event: String,
    /// `pending`, `in_flight`, `delivered` or `dead` (given up).
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    /// The subscriber's last HTTP status, if it answered.
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The delivery this one sends again, when an admin replayed it.
    pub replay_of: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<Delivery>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// At most this many, newest first (1–200, default 50).
    pub limit: Option<u64>,
}

impl From<WebhookSubscription> for Webhook {
    fn from(subscription: WebhookSubscription) -> Webhook {
        Webhook {
            id: subscription.id,
            url: subscription.url,
            events: subscription.events,
            created_at: subscription.created_at,
        }
    }
}

impl From<WebhookDelivery> for Delivery {
    fn from(delivery: WebhookDelivery) -> Delivery {
        Delivery {
            id: delivery.id,
            event: delivery.event,
            status: delivery.status,
            attempts: delivery.attempts,
            next_attempt_at: delivery.next_attempt_at,
            last_status_code: delivery.last_status_code,
            last_error: delivery.last_error,
            created_at: delivery.created_at,
            updated_at: delivery.updated_at,
            replay_of: delivery.replay_of,
        }
    }
}

/// The events asked for, each known, without repeats, in the order given.
fn checked_events(events: Vec<String>) -> ApiResult<Vec<String>> {
    if events.is_empty() {
        return Err(ApiError::Unprocessable(
            "`events` must name at least one event".into(),
        ));
    }
    let mut checked: Vec<String> = Vec::with_capacity(events.len());
    for event in events {
        if !WEBHOOK_EVENTS.contains(&event.as_str()) {
            return Err(ApiError::Unprocessable(format!(
                "unknown event `{}`; known: {}",
                event.chars().take(64).collect::<String>(),
                WEBHOOK_EVENTS.join(", ")
            )));
        }
        if !checked.contains(&event) {
            checked.push(event);
        }
    }
    Ok(checked)
}

/// Subscribes a URL to events. The answer carries the signing secret, shown only here.
#[utoipa::path(post, path = "/webhooks", tag = "webhooks", request_body = CreateWebhook,
    responses((status = 201, body = CreatedWebhook),
        (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(request): ApiJson<CreateWebhook>,
) -> ApiResult<(StatusCode, ApiJson<CreatedWebhook>)> {
    auth.require(Permission::WebhooksManage)?;
    let url = request.url.trim();
    if url.len() > 2048 {
        return Err(ApiError::Unprocessable("`url` is too long".into()));
    }
    check_outbound_url("url", url, HTTP_SCHEMES).map_err(ApiError::Unprocessable)?;
    let events = checked_events(request.events)?;
    let subscription = state
        .store
        .create_webhook(auth.org_id(), url, &events)
        .await?;
    auth.audit(
        &state,
        "webhook.created",
        &subscription.id,
        serde_json::json!({ "url": subscription.url, "events": subscription.events }),
    )
    .await?;
    let secret = subscription.secret.clone();
    Ok((
        StatusCode::CREATED,
        ApiJson(CreatedWebhook {
            webhook: subscription.into(),
            secret,
        }),
    ))
}

/// Lists the organization's subscriptions (without their secrets).
#[utoipa::path(get, path = "/webhooks", tag = "webhooks",
    responses((status = 200, body = [Webhook]), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<ApiJson<Vec<Webhook>>> {
    auth.require(Permission::WebhooksManage)?;
    let subscriptions = state.store.list_webhooks(auth.org_id()).await?;
    Ok(ApiJson(
        subscriptions.into_iter().map(Webhook::from).collect(),
    ))
}

/// Deletes a subscription and the deliveries still queued for it.
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "The subscription's id")),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    auth.require(Permission::WebhooksManage)?;
    state.store.delete_webhook(auth.org_id(), &id).await?;
    auth.audit(&state, "webhook.deleted", &id, serde_json::json!({}))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The subscription's delivery log, newest first: what was sent, how often, and what the
/// subscriber answered; `dead` deliveries were given up.
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "The subscription's id"), DeliveryParams),
    responses((status = 200, body = DeliveryList), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn deliveries(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<DeliveryParams>,
) -> ApiResult<ApiJson<DeliveryList>> {
    auth.require(Permission::WebhooksManage)?;
    let deliveries = state
        .store
        .list_webhook_deliveries(auth.org_id(), &id, super::page_limit(params.limit))
        .await?;
    Ok(ApiJson(DeliveryList {
        deliveries: deliveries.into_iter().map(Delivery::from).collect(),
    }))
}

/// Sends a delivery again: a new delivery of the same event (the body unchanged, so its `id`
/// is the event's), queued now and signed afresh when sent; the log lists it with `replay_of`.
/// A delivery still queued or being sent is refused with 409.
#[utoipa::path(post, path = "/webhooks/{id}/deliveries/{delivery_id}/replay", tag = "webhooks",
    params(("id" = String, Path, description = "The subscription's id"),
        ("delivery_id" = String, Path, description = "The delivery to send again")),
    responses((status = 201, body = Delivery), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
pub async fn replay(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((id, delivery_id)): ApiPath<(String, String)>,
) -> ApiResult<(StatusCode, ApiJson<Delivery>)> {
    auth.require(Permission::WebhooksManage)?;
    let replay = state
        .store
        .replay_webhook_delivery(auth.org_id(), &id, &delivery_id)
        .await?;
    auth.audit(
        &state,
        "webhook.replayed",
        &id,
        serde_json::json!({ "delivery_id": delivery_id, "replay_id": replay.id }),
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(replay.into())))
}
