//! API keys: created with scopes, shown once, stored hashed, revocable.

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use switchboard_model::{ApiKey, Permission};
use utoipa::ToSchema;

use crate::{
    auth::Auth,
    error::{ApiError, ApiJson, ApiPath, ApiResult},
    state::AppState,
};

#[derive(Deserialize, ToSchema)]
pub struct CreateApiKey {
    pub name: String,
    /// Permissions the key carries, such as `conversations:read`.
    pub scopes: Vec<Permission>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedApiKey {
    pub key: ApiKey,
    /// The key itself. It is shown this once; only its hash is stored.
    pub secret: String,
}

/// Lists the organization's API keys (never the keys themselves).
#[utoipa::path(get, path = "/api-keys", tag = "api-keys", responses((status = 200, body = [ApiKey])))]
pub async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<ApiJson<Vec<ApiKey>>> {
    auth.require(Permission::ApiKeysManage)?;
    Ok(ApiJson(state.store.list_api_keys(auth.org_id()).await?))
}

/// Creates an API key, with no scope the caller lacks. The key acts for the user who created
/// it (or for the user the creating key acts for): it stops working when that user is
/// deactivated or loses one of its scopes' permissions.
#[utoipa::path(post, path = "/api-keys", tag = "api-keys", request_body = CreateApiKey,
    responses((status = 201, body = CreatedApiKey)))]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(request): ApiJson<CreateApiKey>,
) -> ApiResult<(StatusCode, ApiJson<CreatedApiKey>)> {
    let principal = auth.require(Permission::ApiKeysManage)?;
    if request.scopes.is_empty() {
        return Err(ApiError::Unprocessable(
            "`scopes` must name at least one permission".into(),
        ));
    }
    if let Some(beyond) = request.scopes.iter().find(|scope| !principal.can(**scope)) {
        return Err(ApiError::Forbidden(beyond.as_str()));
    }
    let created = state
        .store
        .create_api_key(
            auth.org_id(),
            &request.name,
            &request.scopes,
            // A key made by a key acts for the same user, and ends with them.
            principal.answerable_user(),
        )
        .await?;
    auth.audit(
        &state,
        "apikey.created",
        &created.key.id,
        serde_json::json!({ "name": created.key.name, "scopes": created.key.scopes }),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(CreatedApiKey {
            key: created.key,
            secret: created.secret,
        }),
    ))
}

/// Revokes an API key; it stops working at once.
#[utoipa::path(delete, path = "/api-keys/{id}", tag = "api-keys",
    params(("id" = String, Path, description = "The API key's id")), responses((status = 200, body = ApiKey)))]
pub async fn revoke(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<ApiKey>> {
    auth.require(Permission::ApiKeysManage)?;
    let key = state.store.revoke_api_key(auth.org_id(), &id).await?;
    auth.audit(&state, "apikey.revoked", &id, serde_json::json!({}))
        .await?;
    Ok(ApiJson(key))
}
