//! The organization itself: `GET /organization` (anyone signed in: its name, the time zone
//! its reports count days in and their reopen window) and `PATCH /organization`
//! (`settings:manage`).

use axum::extract::State;
use serde::Deserialize;
use switchboard_model::{Organization, Permission};
use utoipa::ToSchema;

use crate::{
    auth::Auth,
    error::{ApiError, ApiJson, ApiResult},
    state::AppState,
};

/// The organization of the caller.
#[utoipa::path(get, path = "/organization", tag = "organization",
    responses((status = 200, body = Organization), (status = 401, body = crate::error::ErrorBody)))]
pub async fn get(State(state): State<AppState>, auth: Auth) -> ApiResult<ApiJson<Organization>> {
    let org = state
        .store
        .org(auth.org_id())
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(ApiJson(org))
}

/// What `PATCH /organization` may change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationUpdate {
    /// An IANA time zone (`Europe/Berlin`): the days the reports count in by default, and the
    /// days their roll-ups keep (they are counted again in it, in the background).
    pub time_zone: Option<String>,
    /// Hours (0–720): a conversation the AI resolved and the customer reopened within them is
    /// not an automated resolution. The roll-ups are counted again with it.
    #[schema(minimum = 0, maximum = 720)]
    pub reopen_window_hours: Option<i64>,
}

/// Changes the organization's settings.
#[utoipa::path(patch, path = "/organization", tag = "organization", request_body = OrganizationUpdate,
    responses((status = 200, body = Organization), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(request): ApiJson<OrganizationUpdate>,
) -> ApiResult<ApiJson<Organization>> {
    auth.require(Permission::SettingsManage)?;
    let org_id = auth.org_id().to_owned();
    if request.time_zone.is_some() || request.reopen_window_hours.is_some() {
        let window_secs = request
            .reopen_window_hours
            .map(|hours| hours.saturating_mul(3600));
        state
            .store
            .set_org_reporting(&org_id, request.time_zone.as_deref(), window_secs)
            .await?;
        auth.audit(
            &state,
            "organization.updated",
            &org_id,
            serde_json::json!({
                "time_zone": request.time_zone,
                "reopen_window_hours": request.reopen_window_hours,
            }),
        )
        .await?;
    }
    let org = state.store.org(&org_id).await?.ok_or(ApiError::NotFound)?;
    Ok(ApiJson(org))
}
