//! Canned responses: saved replies agents insert while writing. Everyone who reads
//! conversations may list them; `settings:manage` edits them.

use axum::{extract::State, http::StatusCode};
use serde::Deserialize;
use switchboard_model::{CannedResponse, Permission};
use utoipa::ToSchema;

use crate::{
    auth::Auth,
    error::{ApiJson, ApiPath, ApiResult},
    state::AppState,
};

#[derive(Deserialize, ToSchema)]
pub struct CreateCanned {
    /// 1–64 letters, digits, `-` or `_`; unique in the organization.
    pub shortcut: String,
    #[serde(default)]
    pub title: String,
    pub text: String,
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateCanned {
    pub shortcut: Option<String>,
    pub title: Option<String>,
    pub text: Option<String>,
}

/// Lists the organization's canned responses by shortcut.
#[utoipa::path(get, path = "/canned-responses", tag = "canned responses",
    responses((status = 200, body = [CannedResponse])))]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<ApiJson<Vec<CannedResponse>>> {
    auth.require(Permission::ConversationsRead)?;
    Ok(ApiJson(
        state.store.list_canned_responses(auth.org_id()).await?,
    ))
}

/// Adds a canned response.
#[utoipa::path(post, path = "/canned-responses", tag = "canned responses",
    request_body = CreateCanned,
    responses((status = 201, body = CannedResponse), (status = 409, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(request): ApiJson<CreateCanned>,
) -> ApiResult<(StatusCode, ApiJson<CannedResponse>)> {
    auth.require(Permission::SettingsManage)?;
    let canned = state
        .store
        .create_canned_response(
            auth.org_id(),
            &request.shortcut,
            &request.title,
            &request.text,
        )
        .await?;
    auth.audit(
        &state,
        "canned_response.created",
        &canned.id,
        serde_json::json!({ "shortcut": canned.shortcut }),
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(canned)))
}

/// Changes the given fields of a canned response.
#[utoipa::path(put, path = "/canned-responses/{id}", tag = "canned responses",
    params(("id" = String, Path, description = "The canned response's id")),
    request_body = UpdateCanned,
    responses((status = 200, body = CannedResponse), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "Another canned response has this shortcut")))]
pub async fn update(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<UpdateCanned>,
) -> ApiResult<ApiJson<CannedResponse>> {
    auth.require(Permission::SettingsManage)?;
    let canned = state
        .store
        .update_canned_response(
            auth.org_id(),
            &id,
            request.shortcut.as_deref(),
            request.title.as_deref(),
            request.text.as_deref(),
        )
        .await?;
    auth.audit(
        &state,
        "canned_response.updated",
        &id,
        serde_json::json!({}),
    )
    .await?;
    Ok(ApiJson(canned))
}

/// Deletes a canned response.
#[utoipa::path(delete, path = "/canned-responses/{id}", tag = "canned responses",
    params(("id" = String, Path, description = "The canned response's id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    auth.require(Permission::SettingsManage)?;
    state
        .store
        .delete_canned_response(auth.org_id(), &id)
        .await?;
    auth.audit(
        &state,
        "canned_response.deleted",
        &id,
        serde_json::json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
