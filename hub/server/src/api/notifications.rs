//! `/notifications`: the signed-in agent's mentions and assignments, the inbox's bell. Each
//! user sees and marks only their own; another's is 404.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use switchboard_model::{Notification, Permission};
use utoipa::{IntoParams, ToSchema};

use crate::{
    api::page_limit,
    auth::Auth,
    error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult},
    state::AppState,
};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `true`: only the unread ones.
    pub unread: Option<bool>,
    /// At most this many, newest first (1–200, default 50).
    pub limit: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct NotificationList {
    pub notifications: Vec<Notification>,
    /// All of the caller's unread notifications, however many the page shows.
    pub unread_count: u64,
}

#[derive(Serialize, ToSchema)]
pub struct MarkedRead {
    /// How many were unread and are now read.
    pub marked: u64,
    pub unread_count: u64,
}

/// The signed-in user: notifications belong to people, not API keys.
fn recipient(auth: &Auth) -> ApiResult<&str> {
    auth.require(Permission::ConversationsRead)?;
    auth.principal
        .user_id()
        .ok_or_else(|| ApiError::Unprocessable("an API key has no notifications".into()))
}

/// The caller's notifications, newest first, with the unread count for the bell.
#[utoipa::path(get, path = "/notifications", tag = "notifications", params(ListParams),
    responses((status = 200, body = NotificationList), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<ApiJson<NotificationList>> {
    let user_id = recipient(&auth)?;
    let notifications = state
        .store
        .notifications(
            auth.org_id(),
            user_id,
            params.unread.unwrap_or(false),
            page_limit(params.limit),
        )
        .await?;
    let unread_count = state
        .store
        .unread_notifications(auth.org_id(), user_id)
        .await?;
    Ok(ApiJson(NotificationList {
        notifications,
        unread_count,
    }))
}

/// Marks one of the caller's notifications read.
#[utoipa::path(post, path = "/notifications/{id}/read", tag = "notifications",
    params(("id" = String, Path, description = "The notification's id")),
    responses((status = 200, body = Notification), (status = 404, body = crate::error::ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<Notification>> {
    let user_id = recipient(&auth)?;
    Ok(ApiJson(
        state
            .store
            .mark_notification_read(auth.org_id(), user_id, &id)
            .await?,
    ))
}

/// Marks all of the caller's notifications read.
#[utoipa::path(post, path = "/notifications/read-all", tag = "notifications",
    responses((status = 200, body = MarkedRead)))]
pub async fn read_all(State(state): State<AppState>, auth: Auth) -> ApiResult<ApiJson<MarkedRead>> {
    let user_id = recipient(&auth)?;
    let marked = state
        .store
        .mark_all_notifications_read(auth.org_id(), user_id)
        .await?;
    let unread_count = state
        .store
        .unread_notifications(auth.org_id(), user_id)
        .await?;
    Ok(ApiJson(MarkedRead {
        marked,
        unread_count,
    }))
}
