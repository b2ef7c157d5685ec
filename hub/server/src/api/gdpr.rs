//! A contact's data under the GDPR: `GET /contacts/{id}/export` and `DELETE /contacts/{id}`
//! (permission `contacts:erase`).

use axum::{extract::State, http::StatusCode};
use switchboard_model::Permission;

use crate::{
    auth::Auth,
    error::{ApiJson, ApiPath, ApiResult},
    state::AppState,
};

/// Everything held about a contact: the contact and its identities, its customer value, each
/// conversation with its messages (attachments listed), CSAT answers, handoffs and routing
/// state, and the audit entries about them.
#[utoipa::path(get, path = "/contacts/{id}/export", tag = "contacts",
    params(("id" = String, Path, description = "The contact's id")),
    responses((status = 200, body = Object), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<serde_json::Value>> {
    let principal = auth.require(Permission::ContactsErase)?;
    let exported =
        crate::gdpr::export(&state.store, auth.org_id(), &id, &principal.actor()).await?;
    Ok(ApiJson(exported))
}

/// Erases a contact: its identities, conversations, messages and their files, CSAT answers,
/// handoffs, routing state, queued webhooks and the knowledge-gap questions in its words. The
/// audit log keeps that it was done, by whom and when, without what they wrote.
#[utoipa::path(delete, path = "/contacts/{id}", tag = "contacts",
    params(("id" = String, Path, description = "The contact's id")),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn erase(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let principal = auth.require(Permission::ContactsErase)?;
    crate::gdpr::erase(
        &state.store,
        &state.settings.attachments_dir(),
        auth.org_id(),
        &id,
        &principal.actor(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
