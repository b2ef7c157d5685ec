//! Teams that conversations are routed to.

use axum::{extract::State, http::StatusCode};
use serde::Deserialize;
use switchboard_model::{Permission, Team};
use utoipa::ToSchema;

use crate::{
    auth::Auth,
    error::{ApiJson, ApiResult},
    state::AppState,
};

#[derive(Deserialize, ToSchema)]
pub struct CreateTeam {
    pub name: String,
}

/// Lists the organization's teams.
#[utoipa::path(get, path = "/teams", tag = "teams", responses((status = 200, body = [Team])))]
pub async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<ApiJson<Vec<Team>>> {
    auth.require(Permission::UsersRead)?;
    Ok(ApiJson(state.store.list_teams(auth.org_id()).await?))
}

/// Creates a team.
#[utoipa::path(post, path = "/teams", tag = "teams", request_body = CreateTeam,
    responses((status = 201, body = Team),
        (status = 409, body = crate::error::ErrorBody, description = "A team with this name exists")))]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(request): ApiJson<CreateTeam>,
) -> ApiResult<(StatusCode, ApiJson<Team>)> {
    auth.require(Permission::SettingsManage)?;
    let team = state
        .store
        .create_team(auth.org_id(), &request.name)
        .await?;
    auth.audit(
        &state,
        "team.created",
        &team.id,
        serde_json::json!({ "name": team.name }),
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(team)))
}
