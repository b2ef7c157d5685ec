//! `POST /conversations/bulk`: one action (resolve, assign, label, snooze) on many conversations.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_model::{Conversation, ConversationStatus, Permission};
use utoipa::ToSchema;

use crate::{
    auth::Auth,
    bus::publish_change,
    error::{ApiError, ApiJson, ApiResult},
    state::AppState,
};

/// At most this many conversations in one request.
const MAX_BULK: usize = 200;

/// What to do to each conversation.
#[derive(Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum BulkAction {
    /// Mark them resolved (`conversations:reply`).
    Resolve,
    /// Assign them to an agent, or nobody with `null` (`conversations:assign`). `team_id` sets
    /// the team (`null`: none); without it each keeps its own. The agent gets an `assigned`
    /// notification for each one that was not theirs.
    Assign {
        assignee_id: Option<String>,
        #[serde(default, deserialize_with = "super::present")]
        #[schema(value_type = Option<String>)]
        team_id: Option<Option<String>>,
    },
    /// Add and remove labels, keeping the others (`conversations:reply`). A name not defined
    /// yet is created with a default colour.
    Label {
        #[serde(default)]
        add: Vec<String>,
        #[serde(default)]
        remove: Vec<String>,
    },
    /// Snooze them as `POST /conversations/{id}/snooze` does (`conversations:reply`): exactly
    /// one of `until` (RFC 3339, ahead) and `until_customer_replies: true`.
    Snooze {
        #[serde(default)]
        until: Option<DateTime<Utc>>,
        #[serde(default)]
        until_customer_replies: bool,
    },
}

#[derive(Deserialize, ToSchema)]
pub struct BulkRequest {
    /// 1–200 conversation ids.
    pub ids: Vec<String>,
    #[serde(flatten)]
    pub action: BulkAction,
}

#[derive(Serialize, ToSchema)]
pub struct BulkFailure {
    pub id: String,
    /// `not_found` or why the change was refused.
    pub error: String,
}

#[derive(Serialize, ToSchema)]
pub struct BulkResult {
    /// The conversations as they are after the action.
    pub conversations: Vec<Conversation>,
    /// Those the action could not change (another organization's are `not_found`).
    pub failed: Vec<BulkFailure>,
}

/// Applies one action to many conversations, each on its own: one that fails (unknown, or
/// refused) is listed in `failed` and the others are still changed.
#[utoipa::path(post, path = "/conversations/bulk", tag = "conversations", request_body = BulkRequest,
    responses((status = 200, body = BulkResult), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn bulk(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(request): ApiJson<BulkRequest>,
) -> ApiResult<ApiJson<BulkResult>> {
    if request.ids.is_empty() || request.ids.len() > MAX_BULK {
        return Err(ApiError::Unprocessable(format!(
            "`ids` must hold 1–{MAX_BULK} conversation ids"
        )));
    }
    let principal = match &request.action {
        BulkAction::Resolve | BulkAction::Label { .. } | BulkAction::Snooze { .. } => {
            auth.require(Permission::ConversationsReply)?
        }
        BulkAction::Assign { .. } => auth.require(Permission::ConversationsAssign)?,
    };
    if let BulkAction::Label { add, .. } = &request.action {
        for name in add {
            switchboard_store::label_name(name)?;
        }
    }
    // The whole request is refused for a bad time, rather than every conversation failing alike.
    let snooze_until = match &request.action {
        BulkAction::Snooze {
            until,
            until_customer_replies,
        } => Some(crate::api::snooze::snooze_until(
            *until,
            *until_customer_replies,
            state.clock.now(),
        )?),
        _ => None,
    };
    let actor = principal.actor();
    let org_id = auth.org_id();
    let store = &state.store;
    let mut seen = std::collections::HashSet::new();
    let ids: Vec<String> = request
        .ids
        .into_iter()
        .filter(|id| seen.insert(id.clone()))
        .collect();
    let mut result = BulkResult {
        conversations: Vec::new(),
        failed: Vec::new(),
    };
    for id in ids {
        let changed = match &request.action {
            BulkAction::Resolve => {
                store
                    .set_status(org_id, &id, ConversationStatus::Resolved, &actor)
                    .await
            }
            BulkAction::Assign {
                assignee_id,
                team_id,
            } => match store.conversation(org_id, &id).await {
                Ok(Some(current)) => {
                    let team_id = match team_id {
                        Some(team_id) => team_id.as_deref(),
                        None => current.team_id.as_deref(),
                    };
                    let assigned = store
                        .assign(org_id, &id, assignee_id.as_deref(), team_id, &actor)
                        .await;
                    if let Ok(conversation) = &assigned {
                        crate::notifications::assigned(
                            store,
                            state.bus.as_ref(),
                            conversation,
                            current.assignee_id.as_deref(),
                            principal.user_id(),
                        )
                        .await;
                    }
                    assigned
                }
                Ok(None) => Err(switchboard_store::StoreError::NotFound),
                Err(err) => Err(err),
            },
            BulkAction::Label { add, remove } => match store.conversation(org_id, &id).await {
                Ok(Some(current)) => {
                    let removed = remove
                        .iter()
                        .map(|name| name.trim().to_lowercase())
                        .collect::<Vec<_>>();
                    let labels: Vec<String> = current
                        .labels
                        .into_iter()
                        .filter(|name| !removed.contains(name))
                        .chain(add.iter().cloned())
                        .collect();
                    store
                        .set_conversation_labels(org_id, &id, &labels, &actor)
                        .await
                }
                Ok(None) => Err(switchboard_store::StoreError::NotFound),
                Err(err) => Err(err),
            },
            BulkAction::Snooze { .. } => {
                store
                    .snooze(org_id, &id, snooze_until.flatten(), &actor)
                    .await
            }
        };
        match changed {
            Ok(conversation) => {
                publish_change(state.bus.as_ref(), &conversation);
                result.conversations.push(conversation);
            }
            Err(switchboard_store::StoreError::NotFound) => result.failed.push(BulkFailure {
                id,
                error: "not_found".into(),
            }),
            Err(switchboard_store::StoreError::Invalid(reason)) => {
                result.failed.push(BulkFailure { id, error: reason })
            }
            Err(err) => return Err(err.into()),
        }
    }
    if matches!(request.action, BulkAction::Resolve) {
        crate::routing::assignment::capacity_freed(&state.routing(), org_id).await;
    }
    Ok(ApiJson(result))
}
