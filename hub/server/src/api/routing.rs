//! Routing's settings over REST: escalation rules (ordered), SLA policies, the assignment
//! strategy, team members, agent presence and a contact's tier and value.

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use switchboard_model::{
    AssignmentStrategy, BusinessHours, EscalationRule, MatchMode, Permission, Presence,
    PresenceStatus, Priority, RuleActions, SlaPolicy, Trigger,
};
use switchboard_routing::{CustomerValue, RuleSpec, SlaPolicySpec, rules};
use utoipa::ToSchema;

use crate::{
    auth::Auth,
    error::{ApiError, ApiJson, ApiPath, ApiResult},
    routing,
    state::AppState,
};

fn yes() -> bool {
    true
}

/// An escalation rule as written: see `docs/routing.md` for the triggers and actions.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `any` (default): one trigger is enough; `all`: every trigger must match.
    #[serde(default, rename = "match")]
    pub match_mode: MatchMode,
    pub triggers: Vec<Trigger>,
    #[serde(default)]
    pub actions: RuleActions,
    /// Keep evaluating later rules after this one fires.
    #[serde(default, rename = "continue")]
    pub continue_after: bool,
}

/// Changes to a rule; absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulePatch {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    #[serde(rename = "match")]
    pub match_mode: Option<MatchMode>,
    pub triggers: Option<Vec<Trigger>>,
    pub actions: Option<RuleActions>,
    #[serde(rename = "continue")]
    pub continue_after: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReorderRequest {
    /// Every rule id of the organization, in the new evaluation order.
    pub ids: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicyBody {
    pub name: String,
    pub priority: Priority,
    /// Only for conversations routed to this team; absent or null for every team.
    #[serde(default)]
    pub team_id: Option<String>,
    /// Counted in business time (`first_response_seconds` of open hours); absent or null:
    /// around the clock. See `docs/routing.md`.
    #[serde(default)]
    pub business_hours: Option<BusinessHours>,
    pub first_response_seconds: i64,
    pub resolution_seconds: i64,
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct RoutingSettings {
    /// `least_loaded` (default) or `round_robin`.
    pub assignment: AssignmentStrategy,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresenceRequest {
    /// `online` or `away`. Send `online` again as a heartbeat: agents not seen for
    /// `presence_stale_secs` are no longer online. With Redis, an open inbox event stream
    /// (`GET /events`) is the heartbeat, and `online` lasts `presence_ttl_secs` without one.
    pub status: PresenceStatus,
}

/// An agent's capacity: the most open assigned conversations assignment gives them.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CapacityBody {
    /// 0 to 10000; null: no limit.
    pub capacity: Option<i32>,
}

#[derive(Serialize, ToSchema)]
pub struct TeamMembers {
    pub user_ids: Vec<String>,
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerValueBody {
    /// `vip`, `enterprise`… (lower-cased).
    #[serde(default)]
    pub tier: Option<String>,
    /// Lifetime spend, plan value…
    #[serde(default)]
    pub value: Option<f64>,
}

impl From<RuleBody> for RuleSpec {
    fn from(body: RuleBody) -> RuleSpec {
        RuleSpec {
            name: body.name,
            enabled: body.enabled,
            match_mode: body.match_mode,
            triggers: body.triggers,
            actions: body.actions,
            continue_after: body.continue_after,
        }
    }
}

impl From<SlaPolicyBody> for SlaPolicySpec {
    fn from(body: SlaPolicyBody) -> SlaPolicySpec {
        SlaPolicySpec {
            name: body.name,
            priority: body.priority,
            team_id: body.team_id,
            first_response_seconds: body.first_response_seconds,
            resolution_seconds: body.resolution_seconds,
            business_hours: body.business_hours,
        }
    }
}

fn validated(spec: RuleSpec) -> ApiResult<RuleSpec> {
    rules::validate(&spec).map_err(|err| ApiError::Unprocessable(err.to_string()))?;
    Ok(spec)
}

/// The organization's escalation rules, in evaluation order.
#[utoipa::path(get, path = "/escalation-rules", tag = "routing",
    responses((status = 200, body = [EscalationRule])))]
pub async fn list_rules(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<ApiJson<Vec<EscalationRule>>> {
    auth.require(Permission::SettingsManage)?;
    Ok(ApiJson(state.store.list_rules(auth.org_id()).await?))
}

/// Adds a rule at the end of the order.
#[utoipa::path(post, path = "/escalation-rules", tag = "routing", request_body = RuleBody,
    responses((status = 201, body = EscalationRule), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_rule(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<RuleBody>,
) -> ApiResult<(StatusCode, ApiJson<EscalationRule>)> {
    auth.require(Permission::SettingsManage)?;
    let spec = validated(body.into())?;
    let rule = state.store.create_rule(auth.org_id(), &spec).await?;
    auth.audit(
        &state,
        "escalation_rule.created",
        &rule.id,
        serde_json::to_value(&rule).unwrap_or_default(),
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(rule)))
}

/// Changes a rule (its position stays: see `/escalation-rules/reorder`).
#[utoipa::path(patch, path = "/escalation-rules/{id}", tag = "routing",
    params(("id" = String, Path, description = "The rule's id")), request_body = RulePatch,
    responses((status = 200, body = EscalationRule), (status = 422, body = crate::error::ErrorBody)))]
pub async fn update_rule(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(patch): ApiJson<RulePatch>,
) -> ApiResult<ApiJson<EscalationRule>> {
    auth.require(Permission::SettingsManage)?;
    let current = state
        .store
        .rule(auth.org_id(), &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let spec = validated(RuleSpec {
        name: patch.name.unwrap_or(current.name),
        enabled: patch.enabled.unwrap_or(current.enabled),
        match_mode: patch.match_mode.unwrap_or(current.match_mode),
        triggers: patch.triggers.unwrap_or(current.triggers),
        actions: patch.actions.unwrap_or(current.actions),
        continue_after: patch.continue_after.unwrap_or(current.continue_after),
    })?;
    let rule = state.store.update_rule(auth.org_id(), &id, &spec).await?;
    auth.audit(
        &state,
        "escalation_rule.updated",
        &rule.id,
        serde_json::to_value(&rule).unwrap_or_default(),
    )
    .await?;
    Ok(ApiJson(rule))
}

/// Deletes a rule.
#[utoipa::path(delete, path = "/escalation-rules/{id}", tag = "routing",
    params(("id" = String, Path, description = "The rule's id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_rule(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    auth.require(Permission::SettingsManage)?;
    state.store.delete_rule(auth.org_id(), &id).await?;
    auth.audit(
        &state,
        "escalation_rule.deleted",
        &id,
        serde_json::json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets the evaluation order: `ids` lists every rule once.
#[utoipa::path(post, path = "/escalation-rules/reorder", tag = "routing",
    request_body = ReorderRequest, responses((status = 200, body = [EscalationRule])))]
pub async fn reorder_rules(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(request): ApiJson<ReorderRequest>,
) -> ApiResult<ApiJson<Vec<EscalationRule>>> {
    auth.require(Permission::SettingsManage)?;
    let rules = state
        .store
        .reorder_rules(auth.org_id(), &request.ids)
        .await?;
    auth.audit(
        &state,
        "escalation_rule.reordered",
        auth.org_id(),
        serde_json::json!({ "ids": request.ids }),
    )
    .await?;
    Ok(ApiJson(rules))
}

/// The organization's SLA policies.
#[utoipa::path(get, path = "/sla-policies", tag = "routing",
    responses((status = 200, body = [SlaPolicy])))]
pub async fn list_sla_policies(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<ApiJson<Vec<SlaPolicy>>> {
    auth.require(Permission::SettingsManage)?;
    Ok(ApiJson(state.store.list_sla_policies(auth.org_id()).await?))
}

/// Adds an SLA policy: one per priority and team (or for every team).
#[utoipa::path(post, path = "/sla-policies", tag = "routing", request_body = SlaPolicyBody,
    responses((status = 201, body = SlaPolicy), (status = 409, body = crate::error::ErrorBody)))]
pub async fn create_sla_policy(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<SlaPolicyBody>,
) -> ApiResult<(StatusCode, ApiJson<SlaPolicy>)> {
    auth.require(Permission::SettingsManage)?;
    let policy = state
        .store
        .create_sla_policy(auth.org_id(), &body.into())
        .await?;
    auth.audit(
        &state,
        "sla_policy.created",
        &policy.id,
        serde_json::to_value(&policy).unwrap_or_default(),
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(policy)))
}

/// Replaces an SLA policy. Clocks already running keep their due times.
#[utoipa::path(put, path = "/sla-policies/{id}", tag = "routing",
    params(("id" = String, Path, description = "The policy's id")), request_body = SlaPolicyBody,
    responses((status = 200, body = SlaPolicy),
        (status = 409, body = crate::error::ErrorBody, description = "Another policy has this priority and team")))]
pub async fn update_sla_policy(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<SlaPolicyBody>,
) -> ApiResult<ApiJson<SlaPolicy>> {
    auth.require(Permission::SettingsManage)?;
    let policy = state
        .store
        .update_sla_policy(auth.org_id(), &id, &body.into())
        .await?;
    auth.audit(
        &state,
        "sla_policy.updated",
        &policy.id,
        serde_json::to_value(&policy).unwrap_or_default(),
    )
    .await?;
    Ok(ApiJson(policy))
}

/// Deletes an SLA policy.
#[utoipa::path(delete, path = "/sla-policies/{id}", tag = "routing",
    params(("id" = String, Path, description = "The policy's id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_sla_policy(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    auth.require(Permission::SettingsManage)?;
    state.store.delete_sla_policy(auth.org_id(), &id).await?;
    auth.audit(&state, "sla_policy.deleted", &id, serde_json::json!({}))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How escalated conversations are assigned.
#[utoipa::path(get, path = "/routing-settings", tag = "routing",
    responses((status = 200, body = RoutingSettings)))]
pub async fn get_settings(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<ApiJson<RoutingSettings>> {
    auth.require(Permission::SettingsManage)?;
    let assignment = state.store.assignment_strategy(auth.org_id()).await?;
    Ok(ApiJson(RoutingSettings { assignment }))
}

/// Chooses how escalated conversations are assigned.
#[utoipa::path(put, path = "/routing-settings", tag = "routing", request_body = RoutingSettings,
    responses((status = 200, body = RoutingSettings)))]
pub async fn put_settings(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(settings): ApiJson<RoutingSettings>,
) -> ApiResult<ApiJson<RoutingSettings>> {
    auth.require(Permission::SettingsManage)?;
    let assignment = state
        .store
        .set_assignment_strategy(auth.org_id(), settings.assignment)
        .await?;
    auth.audit(
        &state,
        "routing.settings_changed",
        auth.org_id(),
        serde_json::json!({ "assignment": assignment }),
    )
    .await?;
    Ok(ApiJson(RoutingSettings { assignment }))
}

/// Signals that the signed-in agent is online (again: a heartbeat) or away.
#[utoipa::path(post, path = "/me/presence", tag = "routing", request_body = PresenceRequest,
    responses((status = 200, body = Presence)))]
pub async fn set_presence(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(request): ApiJson<PresenceRequest>,
) -> ApiResult<ApiJson<Presence>> {
    let principal = auth.require(Permission::ConversationsReply)?;
    let user_id = principal
        .user_id()
        .ok_or_else(|| ApiError::Unprocessable("an API key has no presence".into()))?;
    let presence = state
        .store
        .set_presence(auth.org_id(), user_id, request.status)
        .await?;
    // With Redis, saying so is also a heartbeat: it counts before the queue moves, and keeps an
    // agent without an open inbox online for `presence_ttl_secs`.
    if request.status == PresenceStatus::Online {
        state.heartbeats.beat_once(user_id).await;
    }
    // Going away hands back unanswered conversations; coming online takes from the queue. A
    // failure here leaves it to the routing timer.
    let moved = match request.status {
        PresenceStatus::Away => routing::assignment::rebalance(&state.routing()).await,
        PresenceStatus::Online => {
            routing::assignment::assign_queue(&state.routing(), auth.org_id()).await
        }
    };
    if let Err(err) = moved {
        tracing::warn!(error = %err, "cannot move the queue after a presence change");
    }
    Ok(ApiJson(presence))
}

/// An agent's capacity.
#[utoipa::path(get, path = "/users/{id}/capacity", tag = "routing",
    params(("id" = String, Path, description = "The user's id")),
    responses((status = 200, body = CapacityBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_capacity(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(user_id): ApiPath<String>,
) -> ApiResult<ApiJson<CapacityBody>> {
    auth.require(Permission::UsersRead)?;
    state
        .store
        .user(auth.org_id(), &user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let capacity = state.store.capacity(auth.org_id(), &user_id).await?;
    Ok(ApiJson(CapacityBody { capacity }))
}

/// Sets an agent's capacity (null: no limit). Raising it may assign queued conversations.
#[utoipa::path(put, path = "/users/{id}/capacity", tag = "routing",
    params(("id" = String, Path, description = "The user's id")), request_body = CapacityBody,
    responses((status = 200, body = CapacityBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn put_capacity(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(user_id): ApiPath<String>,
    ApiJson(body): ApiJson<CapacityBody>,
) -> ApiResult<ApiJson<CapacityBody>> {
    auth.require(Permission::SettingsManage)?;
    let capacity = state
        .store
        .set_capacity(auth.org_id(), &user_id, body.capacity)
        .await?;
    auth.audit(
        &state,
        "user.capacity_set",
        &user_id,
        serde_json::json!({ "capacity": capacity }),
    )
    .await?;
    routing::assignment::capacity_freed(&state.routing(), auth.org_id()).await;
    Ok(ApiJson(CapacityBody { capacity }))
}

/// Every agent's presence.
#[utoipa::path(get, path = "/presence", tag = "routing", responses((status = 200, body = [Presence])))]
pub async fn list_presence(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<ApiJson<Vec<Presence>>> {
    auth.require(Permission::ConversationsRead)?;
    let liveness = routing::liveness(&state.routing()).await;
    Ok(ApiJson(
        state.store.list_presence(auth.org_id(), &liveness).await?,
    ))
}

/// The agents of a team, who get its escalated conversations.
#[utoipa::path(get, path = "/teams/{id}/members", tag = "teams",
    params(("id" = String, Path, description = "The team's id")),
    responses((status = 200, body = TeamMembers)))]
pub async fn team_members(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(team_id): ApiPath<String>,
) -> ApiResult<ApiJson<TeamMembers>> {
    auth.require(Permission::UsersRead)?;
    let user_ids = state.store.team_members(auth.org_id(), &team_id).await?;
    Ok(ApiJson(TeamMembers { user_ids }))
}

/// Adds an agent to a team.
#[utoipa::path(put, path = "/teams/{id}/members/{user_id}", tag = "teams",
    params(("id" = String, Path, description = "The team's id"), ("user_id" = String, Path, description = "The user's id")),
    responses((status = 204), (status = 422, body = crate::error::ErrorBody)))]
pub async fn add_team_member(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((team_id, user_id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    auth.require(Permission::SettingsManage)?;
    state
        .store
        .add_team_member(auth.org_id(), &team_id, &user_id)
        .await?;
    auth.audit(
        &state,
        "team.member_added",
        &team_id,
        serde_json::json!({ "user_id": user_id }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes an agent from a team.
#[utoipa::path(delete, path = "/teams/{id}/members/{user_id}", tag = "teams",
    params(("id" = String, Path, description = "The team's id"), ("user_id" = String, Path, description = "The user's id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn remove_team_member(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((team_id, user_id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    auth.require(Permission::SettingsManage)?;
    state
        .store
        .remove_team_member(auth.org_id(), &team_id, &user_id)
        .await?;
    auth.audit(
        &state,
        "team.member_removed",
        &team_id,
        serde_json::json!({ "user_id": user_id }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A contact's tier and value, which escalation rules may test.
#[utoipa::path(get, path = "/contacts/{id}/value", tag = "contacts",
    params(("id" = String, Path, description = "The contact's id")),
    responses((status = 200, body = CustomerValueBody)))]
pub async fn get_customer_value(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(contact_id): ApiPath<String>,
) -> ApiResult<ApiJson<CustomerValueBody>> {
    auth.require(Permission::ContactsRead)?;
    state
        .store
        .contact(auth.org_id(), &contact_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let value = state
        .store
        .customer_value(auth.org_id(), &contact_id)
        .await?;
    Ok(ApiJson(CustomerValueBody {
        tier: value.tier,
        value: value.value,
    }))
}

/// Sets a contact's tier and value (from a CRM, or by hand).
#[utoipa::path(put, path = "/contacts/{id}/value", tag = "contacts",
    params(("id" = String, Path, description = "The contact's id")),
    request_body = CustomerValueBody, responses((status = 200, body = CustomerValueBody)))]
pub async fn put_customer_value(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(contact_id): ApiPath<String>,
    ApiJson(body): ApiJson<CustomerValueBody>,
) -> ApiResult<ApiJson<CustomerValueBody>> {
    auth.require(Permission::ContactsWrite)?;
    let value = state
        .store
        .set_customer_value(
            auth.org_id(),
            &contact_id,
            &CustomerValue {
                tier: body.tier,
                value: body.value,
            },
        )
        .await?;
    auth.audit(
        &state,
        "contact.value_set",
        &contact_id,
        serde_json::json!({ "tier": value.tier, "value": value.value }),
    )
    .await?;
    Ok(ApiJson(CustomerValueBody {
        tier: value.tier,
        value: value.value,
    }))
}
