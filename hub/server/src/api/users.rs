//! Users of the organization and their roles.

use axum::{extract::State, http::StatusCode};
use serde::Deserialize;
use switchboard_model::{Permission, Role, User};
use utoipa::ToSchema;

use crate::{
    auth::Auth,
    error::{ApiJson, ApiPath, ApiResult},
    state::AppState,
};

#[derive(Deserialize, ToSchema)]
pub struct CreateUser {
    pub email: String,
    #[serde(default)]
    pub name: String,
    pub role: Role,
    /// At least 8 characters.
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateUser {
    pub role: Option<Role>,
    /// `false` deactivates the user and ends their sessions.
    pub active: Option<bool>,
}

/// Lists the organization's users.
#[utoipa::path(get, path = "/users", tag = "users", responses((status = 200, body = [User])))]
pub async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<ApiJson<Vec<User>>> {
    auth.require(Permission::UsersRead)?;
    Ok(ApiJson(state.store.list_users(auth.org_id()).await?))
}

/// Adds a user.
#[utoipa::path(post, path = "/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = User), (status = 409, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(request): ApiJson<CreateUser>,
) -> ApiResult<(StatusCode, ApiJson<User>)> {
    auth.require(Permission::UsersManage)?;
    let user = state
        .store
        .create_user(
            auth.org_id(),
            &request.email,
            &request.name,
            request.role,
            &request.password,
        )
        .await?;
    auth.audit(
        &state,
        "user.created",
        &user.id,
        serde_json::json!({ "email": user.email, "role": user.role }),
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(user)))
}

/// Changes a user's role or deactivates them.
#[utoipa::path(patch, path = "/users/{id}", tag = "users", request_body = UpdateUser,
    responses((status = 200, body = User)))]
pub async fn update(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<UpdateUser>,
) -> ApiResult<ApiJson<User>> {
    auth.require(Permission::UsersManage)?;
    let user = state
        .store
        .update_user(auth.org_id(), &id, request.role, request.active)
        .await?;
    auth.audit(
        &state,
        "user.updated",
        &id,
        serde_json::json!({ "role": request.role, "active": request.active }),
    )
    .await?;
    Ok(ApiJson(user))
}
