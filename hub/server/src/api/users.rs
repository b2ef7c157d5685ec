//! Users of the organization and their roles.

use axum::{extract::State, http::StatusCode};
use serde::Deserialize;
use switchboard_model::{Permission, Role, User};
use utoipa::ToSchema;

use crate::{
    auth::Auth,
    error::{ApiError, ApiJson, ApiPath, ApiResult},
    state::AppState,
};

#[derive(Deserialize, ToSchema)]
pub struct CreateUser {
    pub email: String,
    #[serde(default)]
    pub name: String,
    pub role: Role,
    /// At least 10 characters, and not one of the most common passwords.
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

/// Refuses a caller that lacks any permission of `role` to give that role or to change a user
/// who has it: `users:manage` alone makes nobody an admin. A user with `users:manage` is an
/// admin and has them all; an API key has only its scopes, so only a key with every
/// permission, which only an admin or the operator can create, may add an admin.
fn within_reach(auth: &Auth, role: Role) -> ApiResult<()> {
    match role
        .permissions()
        .iter()
        .find(|permission| !auth.principal.can(**permission))
    {
        None => Ok(()),
        Some(beyond) => Err(ApiError::Status {
            status: StatusCode::FORBIDDEN,
            code: "forbidden",
            message: format!(
                "the {} role has the `{}` permission, which you do not: only a caller with \
                 every permission of a role may give it or change its users",
                role.as_str(),
                beyond.as_str()
            ),
        }),
    }
}

/// Adds a user, of a role with no permission the caller lacks.
#[utoipa::path(post, path = "/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = User), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(request): ApiJson<CreateUser>,
) -> ApiResult<(StatusCode, ApiJson<User>)> {
    auth.require(Permission::UsersManage)?;
    within_reach(&auth, request.role)?;
    crate::login::check_password(&request.password).map_err(ApiError::Unprocessable)?;
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

/// Changes a user's role or deactivates them: both the user's role and the new one must have
/// no permission the caller lacks.
#[utoipa::path(patch, path = "/users/{id}", tag = "users",
    params(("id" = String, Path, description = "The user's id")), request_body = UpdateUser,
    responses((status = 200, body = User), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "It would leave the organization without an active admin")))]
pub async fn update(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<UpdateUser>,
) -> ApiResult<ApiJson<User>> {
    auth.require(Permission::UsersManage)?;
    let current = state
        .store
        .user(auth.org_id(), &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    within_reach(&auth, current.role)?;
    if let Some(role) = request.role {
        within_reach(&auth, role)?;
    }
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
