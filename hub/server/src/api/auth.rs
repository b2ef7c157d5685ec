//! Signing in and out.

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use switchboard_model::{Permission, User};
use utoipa::ToSchema;

use crate::{
    auth::Auth,
    client_address::ClientAddress,
    error::{ApiError, ApiJson, ApiResult},
    state::AppState,
};

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    pub user: User,
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub org_id: String,
    /// Set when signed in as a user; API keys have none.
    pub user: Option<User>,
    pub permissions: Vec<Permission>,
}

/// Exchanges an email and password for a session token. After 5 failed logins for one email,
/// or 20 from one address, within 15 minutes, answers 429 with `Retry-After` (seconds) without
/// checking the password, until the window has passed.
#[utoipa::path(post, path = "/auth/login", tag = "auth", security(()),
    request_body = LoginRequest,
    responses((status = 200, body = LoginResponse),
        (status = 401, body = crate::error::ErrorBody, description = "Wrong email or password"),
        (status = 429, body = crate::error::ErrorBody,
            description = "Too many failed logins for this email or from this address",
            headers(("Retry-After" = u64, description = "Seconds to wait")))))]
pub async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    ApiJson(request): ApiJson<LoginRequest>,
) -> ApiResult<ApiJson<LoginResponse>> {
    if request.email.len() > 254 || request.password.len() > 1024 {
        return Err(ApiError::Unauthorized);
    }
    let now = state.clock.now();
    if let Some(retry_after) = state
        .login_throttle
        .refused_for(&request.email, address, now)
        .await
    {
        metrics::counter!("switchboard_logins_total", "outcome" => "throttled").increment(1);
        return Err(ApiError::TooManyRequests { retry_after });
    }
    let Some(user) = state
        .store
        .verify_login(&request.email, &request.password)
        .await?
    else {
        state
            .login_throttle
            .failed(&request.email, address, now)
            .await;
        metrics::counter!("switchboard_logins_total", "outcome" => "rejected").increment(1);
        return Err(ApiError::Status {
            status: StatusCode::UNAUTHORIZED,
            code: "invalid_credentials",
            message: "wrong email or password".into(),
        });
    };
    state.login_throttle.succeeded(&request.email).await;
    let lifetime = chrono::Duration::hours(state.settings.session_hours.max(1));
    let token = state.store.create_session(&user, lifetime).await?;
    state
        .store
        .audit(
            &user.org_id,
            &format!("user:{}", user.id),
            "user.login",
            Some(&user.id),
            serde_json::json!({}),
        )
        .await?;
    metrics::counter!("switchboard_logins_total", "outcome" => "accepted").increment(1);
    Ok(ApiJson(LoginResponse { token, user }))
}

/// Ends the current session.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", responses((status = 204)))]
pub async fn logout(State(state): State<AppState>, auth: Auth) -> ApiResult<StatusCode> {
    state.store.delete_session(&auth.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who the token belongs to and what it may do.
#[utoipa::path(get, path = "/auth/me", tag = "auth", responses((status = 200, body = Me)))]
pub async fn me(State(state): State<AppState>, auth: Auth) -> ApiResult<ApiJson<Me>> {
    let user = match auth.principal.user_id() {
        Some(user_id) => state.store.user(auth.org_id(), user_id).await?,
        None => None,
    };
    let permissions = Permission::ALL
        .iter()
        .copied()
        .filter(|permission| auth.principal.can(*permission))
        .collect();
    Ok(ApiJson(Me {
        org_id: auth.org_id().to_owned(),
        user,
        permissions,
    }))
}
