//! The organization's retention policy: `GET`/`PUT /retention` and `POST /retention/dry-run`
//! (permission `retention:manage`, admins). The job that applies it is `crate::retention`.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use switchboard_model::Permission;
use switchboard_store::{RetentionMode, RetentionPolicy};
use utoipa::ToSchema;

use crate::{
    auth::Auth,
    error::{ApiError, ApiJson, ApiResult},
    state::AppState,
};

/// The longest a policy keeps anything, in days (a hundred years); longer is `null`.
const MAX_DAYS: u32 = 36_500;

/// What happens to a conversation resolved longer ago than the policy keeps it.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Deleted with its messages, their files, and everything else about it.
    #[default]
    Delete,
    /// Kept with its counts and times; every message's text becomes `[removed]`, attachments,
    /// subject, handoff notes and CSAT comments go.
    Anonymize,
}

/// How long the organization keeps what its customers wrote. `null`: forever (the default).
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
pub struct Retention {
    /// Resolved or closed conversations are purged this many days after they were resolved.
    #[schema(minimum = 1, maximum = 36_500)]
    #[serde(default)]
    pub resolved_conversations_days: Option<u32>,
    /// Knowledge gaps are deleted this many days after the question was last asked.
    #[schema(minimum = 1, maximum = 36_500)]
    #[serde(default)]
    pub knowledge_gaps_days: Option<u32>,
    #[serde(default)]
    pub mode: Mode,
}

/// What a run of the retention job would purge now.
#[derive(Serialize, ToSchema)]
pub struct DryRun {
    /// Conversations it would delete, or anonymize.
    pub conversations: u64,
    pub knowledge_gaps: u64,
}

impl From<RetentionPolicy> for Retention {
    fn from(policy: RetentionPolicy) -> Self {
        Retention {
            resolved_conversations_days: policy.resolved_conversations_days,
            knowledge_gaps_days: policy.knowledge_gaps_days,
            mode: match policy.mode {
                RetentionMode::Delete => Mode::Delete,
                RetentionMode::Anonymize => Mode::Anonymize,
            },
        }
    }
}

impl TryFrom<Retention> for RetentionPolicy {
    type Error = ApiError;

    fn try_from(retention: Retention) -> Result<Self, ApiError> {
        for (field, days) in [
            (
                "resolved_conversations_days",
                retention.resolved_conversations_days,
            ),
            ("knowledge_gaps_days", retention.knowledge_gaps_days),
        ] {
            if days.is_some_and(|days| !(1..=MAX_DAYS).contains(&days)) {
                return Err(ApiError::Unprocessable(format!(
                    "`{field}` is from 1 to {MAX_DAYS} (or null: kept forever)"
                )));
            }
        }
        Ok(RetentionPolicy {
            resolved_conversations_days: retention.resolved_conversations_days,
            knowledge_gaps_days: retention.knowledge_gaps_days,
            mode: match retention.mode {
                Mode::Delete => RetentionMode::Delete,
                Mode::Anonymize => RetentionMode::Anonymize,
            },
        })
    }
}

/// The organization's retention policy.
#[utoipa::path(get, path = "/retention", tag = "retention",
    responses((status = 200, body = Retention), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody)))]
pub async fn get(State(state): State<AppState>, auth: Auth) -> ApiResult<ApiJson<Retention>> {
    auth.require(Permission::RetentionManage)?;
    let policy = state.store.retention_policy(auth.org_id()).await?;
    Ok(ApiJson(policy.into()))
}

/// Sets the organization's retention policy; the retention job applies it on its next run.
#[utoipa::path(put, path = "/retention", tag = "retention", request_body = Retention,
    responses((status = 200, body = Retention), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn put(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(request): ApiJson<Retention>,
) -> ApiResult<ApiJson<Retention>> {
    auth.require(Permission::RetentionManage)?;
    let policy = RetentionPolicy::try_from(request)?;
    state
        .store
        .set_retention_policy(auth.org_id(), &policy)
        .await?;
    let saved = Retention::from(policy);
    let org_id = auth.org_id().to_owned();
    auth.audit(
        &state,
        "retention.updated",
        &org_id,
        serde_json::to_value(&saved).unwrap_or_default(),
    )
    .await?;
    Ok(ApiJson(saved))
}

/// What the retention job would purge now under the saved policy; changes nothing.
#[utoipa::path(post, path = "/retention/dry-run", tag = "retention",
    responses((status = 200, body = DryRun), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody)))]
pub async fn dry_run(State(state): State<AppState>, auth: Auth) -> ApiResult<ApiJson<DryRun>> {
    auth.require(Permission::RetentionManage)?;
    let policy = state.store.retention_policy(auth.org_id()).await?;
    let due = state.store.retention_due(auth.org_id(), &policy).await?;
    Ok(ApiJson(DryRun {
        conversations: due.conversations,
        knowledge_gaps: due.knowledge_gaps,
    }))
}
