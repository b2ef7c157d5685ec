//! The audit log: every agent and admin action, newest first.

use axum::extract::State;
use serde::Serialize;
use switchboard_model::{AuditEvent, Permission};
use utoipa::ToSchema;

use crate::{
    api::PageParams,
    auth::Auth,
    error::{ApiJson, ApiQuery, ApiResult},
    state::AppState,
};

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    pub next_cursor: Option<String>,
}

/// Lists audit events, newest first.
#[utoipa::path(get, path = "/audit", tag = "audit", params(PageParams),
    responses((status = 200, body = AuditPage)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<ApiJson<AuditPage>> {
    auth.require(Permission::AuditRead)?;
    let limit = page.limit();
    let events = state
        .store
        .list_audit(auth.org_id(), page.cursor.as_deref(), limit)
        .await?;
    let next_cursor = (events.len() as u64 == limit)
        .then(|| events.last().map(|e| e.id.clone()))
        .flatten();
    Ok(ApiJson(AuditPage {
        events,
        next_cursor,
    }))
}
