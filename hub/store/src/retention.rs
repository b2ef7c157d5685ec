//! Retention: each organization's policy for how long resolved conversations and knowledge
//! gaps are kept, what a purge would take now, and the purge itself, in batches of
//! conversations, each its own short transaction. The job that runs it once per cluster, and
//! the files, are the server's (`hub/server/src/retention.rs`).

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    Select,
    sea_query::{Expr, OnConflict},
};
use serde_json::json;
use switchboard_model::ConversationStatus;

use crate::{
    Result, Store, StoreError,
    entities::*,
    gdpr::{delete_conversations, kept_files, unused_files},
};

/// What a message's text becomes when its conversation is anonymized.
pub const REMOVED_TEXT: &str = "[removed]";

/// What happens to a conversation resolved longer ago than the policy keeps it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RetentionMode {
    /// Gone, with everything that hangs off it.
    #[default]
    Delete,
    /// Kept with its counts, status and times; every message's text becomes `[removed]`, its
    /// attachments go.
    Anonymize,
}

impl RetentionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RetentionMode::Delete => "delete",
            RetentionMode::Anonymize => "anonymize",
        }
    }

    pub fn parse(text: &str) -> Option<RetentionMode> {
        match text {
            "delete" => Some(RetentionMode::Delete),
            "anonymize" => Some(RetentionMode::Anonymize),
            _ => None,
        }
    }
}

/// An organization's retention policy; `None`: kept forever (the default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub resolved_conversations_days: Option<u32>,
    pub knowledge_gaps_days: Option<u32>,
    pub mode: RetentionMode,
}

/// What a purge would take now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionDue {
    pub conversations: u64,
    pub knowledge_gaps: u64,
}

/// What one batch of a purge did.
#[derive(Clone, Debug, Default)]
pub struct PurgedBatch {
    /// Conversations deleted or anonymized (by the policy's mode).
    pub conversations: usize,
    /// Their messages deleted or emptied.
    pub messages: usize,
    /// Kept files (`(sha256, filename)` in the organization's folder) no message names any
    /// more: the caller deletes them from the data dir.
    pub orphaned_files: Vec<(String, String)>,
}

/// The point before which a thing kept `days` is expired (the beginning of time for more days
/// than the calendar holds).
fn cutoff(now: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    now.checked_sub_signed(chrono::Duration::days(i64::from(days)))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The organization's conversations resolved (or closed) before `before` that the mode has
/// still to purge: all of them to delete; to anonymize, those with a text or a file left.
fn expired_conversations(
    org_id: &str,
    before: DateTime<Utc>,
    mode: RetentionMode,
) -> Select<conversation::Entity> {
    let query = conversation::Entity::find()
        .filter(conversation::Column::OrgId.eq(org_id))
        .filter(conversation::Column::Status.is_in([
            ConversationStatus::Resolved.as_str(),
            ConversationStatus::Closed.as_str(),
        ]))
        .filter(conversation::Column::ResolvedAt.lt(before));
    match mode {
        RetentionMode::Delete => query,
        RetentionMode::Anonymize => query.filter(
            Condition::any()
                .add(conversation::Column::Subject.is_not_null())
                .add(Expr::cust(
                    "EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = conversations.id \
                     AND (m.text <> '[removed]' OR m.text_full IS NOT NULL \
                     OR CAST(m.attachments AS TEXT) <> '[]'))",
                )),
        ),
    }
}

impl Store {
    /// The organization's policy (the default, keep everything, when it has none).
    pub async fn retention_policy(&self, org_id: &str) -> Result<RetentionPolicy> {
        let Some(row) = retention_policy::Entity::find_by_id(org_id)
            .one(self.db())
            .await?
        else {
            return Ok(RetentionPolicy::default());
        };
        let days = |value: Option<i32>| value.and_then(|days| u32::try_from(days).ok());
        Ok(RetentionPolicy {
            resolved_conversations_days: days(row.resolved_conversations_days),
            knowledge_gaps_days: days(row.knowledge_gaps_days),
            mode: RetentionMode::parse(&row.mode)
                .ok_or_else(|| StoreError::Corrupt(format!("retention mode `{}`", row.mode)))?,
        })
    }

    /// Replaces the organization's policy (the caller checks it: at least one day).
    pub async fn set_retention_policy(&self, org_id: &str, policy: &RetentionPolicy) -> Result<()> {
        let days = |value: Option<u32>| value.map(|days| i32::try_from(days).unwrap_or(i32::MAX));
        let row = retention_policy::ActiveModel {
            org_id: Set(org_id.to_owned()),
            resolved_conversations_days: Set(days(policy.resolved_conversations_days)),
            knowledge_gaps_days: Set(days(policy.knowledge_gaps_days)),
            mode: Set(policy.mode.as_str().to_owned()),
            updated_at: Set(self.now()),
        };
        let txn = self.begin_write().await?;
        retention_policy::Entity::insert(row)
            .on_conflict(
                OnConflict::column(retention_policy::Column::OrgId)
                    .update_columns([
                        retention_policy::Column::ResolvedConversationsDays,
                        retention_policy::Column::KnowledgeGapsDays,
                        retention_policy::Column::Mode,
                        retention_policy::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&*txn)
            .await?;
        txn.commit().await
    }

    /// The organizations whose policy limits anything, with their policies.
    pub async fn retention_policies(&self) -> Result<Vec<(String, RetentionPolicy)>> {
        let org_ids: Vec<String> = retention_policy::Entity::find()
            .select_only()
            .column(retention_policy::Column::OrgId)
            .filter(
                Condition::any()
                    .add(retention_policy::Column::ResolvedConversationsDays.is_not_null())
                    .add(retention_policy::Column::KnowledgeGapsDays.is_not_null()),
            )
            .order_by_asc(retention_policy::Column::OrgId)
            .into_tuple()
            .all(self.db())
            .await?;
        let mut policies = Vec::with_capacity(org_ids.len());
        for org_id in org_ids {
            let policy = self.retention_policy(&org_id).await?;
            policies.push((org_id, policy));
        }
        Ok(policies)
    }

    /// What purging by `policy` would take now, by the store's clock; changes nothing.
    pub async fn retention_due(
        &self,
        org_id: &str,
        policy: &RetentionPolicy,
    ) -> Result<RetentionDue> {
        let now = self.now();
        let conversations = match policy.resolved_conversations_days {
            Some(days) => {
                expired_conversations(org_id, cutoff(now, days), policy.mode)
                    .count(self.db())
                    .await?
            }
            None => 0,
        };
        let knowledge_gaps = match policy.knowledge_gaps_days {
            Some(days) => {
                knowledge_gap::Entity::find()
                    .filter(knowledge_gap::Column::OrgId.eq(org_id))
                    .filter(knowledge_gap::Column::LastAskedAt.lt(cutoff(now, days)))
                    .count(self.db())
                    .await?
            }
            None => 0,
        };
        Ok(RetentionDue {
            conversations,
            knowledge_gaps,
        })
    }

    /// Purges at most `limit` of the organization's expired conversations (the oldest first),
    /// deleting or anonymizing them as the policy says, in one transaction. A batch with fewer
    /// than `limit` conversations was the last.
    pub async fn purge_expired_conversations(
        &self,
        org_id: &str,
        policy: &RetentionPolicy,
        limit: u64,
    ) -> Result<PurgedBatch> {
        let Some(days) = policy.resolved_conversations_days else {
            return Ok(PurgedBatch::default());
        };
        let txn = self.begin_write().await?;
        // Read in the transaction, and on PostgreSQL locked, so that a conversation reopened
        // meanwhile is not taken.
        let ids: Vec<String> = expired_conversations(org_id, cutoff(self.now(), days), policy.mode)
            .select_only()
            .column(conversation::Column::Id)
            .order_by_asc(conversation::Column::ResolvedAt)
            .order_by_asc(conversation::Column::Id)
            .limit(limit)
            .lock_exclusive()
            .into_tuple()
            .all(&*txn)
            .await?;
        if ids.is_empty() {
            txn.rollback().await?;
            return Ok(PurgedBatch::default());
        }
        let (messages, files) = match policy.mode {
            RetentionMode::Delete => {
                let deleted = delete_conversations(&*txn, &ids).await?;
                (deleted.messages, deleted.files)
            }
            RetentionMode::Anonymize => anonymize_conversations(&*txn, &ids).await?,
        };
        let orphaned_files = unused_files(&*txn, org_id, files).await?;
        txn.commit().await?;
        Ok(PurgedBatch {
            conversations: ids.len(),
            messages,
            orphaned_files,
        })
    }

    /// Deletes the organization's knowledge gaps last asked longer ago than the policy keeps
    /// them; answers how many.
    pub async fn purge_expired_gaps(&self, org_id: &str, policy: &RetentionPolicy) -> Result<u64> {
        let Some(days) = policy.knowledge_gaps_days else {
            return Ok(0);
        };
        let txn = self.begin_write().await?;
        let deleted = knowledge_gap::Entity::delete_many()
            .filter(knowledge_gap::Column::OrgId.eq(org_id))
            .filter(knowledge_gap::Column::LastAskedAt.lt(cutoff(self.now(), days)))
            .exec(&*txn)
            .await?;
        txn.commit().await?;
        Ok(deleted.rows_affected)
    }
}

/// Empties conversations of what people wrote, keeping the rows and so every count: each
/// message's text becomes `[removed]` and its attachments go; the subject, the preview, the
/// handoff notes and suggested replies, CSAT comments and queued webhooks (which carry texts)
/// go too. Answers the messages touched and the files they named.
async fn anonymize_conversations(
    db: &impl sea_orm::ConnectionTrait,
    conversation_ids: &[String],
) -> Result<(usize, Vec<(String, String)>)> {
    let ids = || conversation_ids.iter().cloned();
    let attachments: Vec<serde_json::Value> = message::Entity::find()
        .select_only()
        .column(message::Column::Attachments)
        .filter(message::Column::ConversationId.is_in(ids()))
        .filter(Expr::cust("CAST(attachments AS TEXT) <> '[]'"))
        .into_tuple()
        .all(db)
        .await?;
    let files = kept_files(&attachments)?;
    let messages = message::Entity::update_many()
        .col_expr(message::Column::Text, Expr::value(REMOVED_TEXT))
        .col_expr(
            message::Column::TextFull,
            Expr::value(Option::<String>::None),
        )
        .col_expr(message::Column::Attachments, Expr::value(json!([])))
        .filter(message::Column::ConversationId.is_in(ids()))
        .exec(db)
        .await?;
    conversation::Entity::update_many()
        .col_expr(
            conversation::Column::Subject,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            conversation::Column::LastMessagePreview,
            Expr::cust("CASE WHEN last_message_preview IS NULL THEN NULL ELSE '[removed]' END"),
        )
        .filter(conversation::Column::Id.is_in(ids()))
        .exec(db)
        .await?;
    handoff::Entity::update_many()
        .col_expr(handoff::Column::Summary, Expr::value(json!([])))
        .col_expr(handoff::Column::SuggestedReply, Expr::value(""))
        .filter(handoff::Column::ConversationId.is_in(ids()))
        .exec(db)
        .await?;
    csat_response::Entity::update_many()
        .col_expr(
            csat_response::Column::Comment,
            Expr::value(Option::<String>::None),
        )
        .filter(csat_response::Column::ConversationId.is_in(ids()))
        .exec(db)
        .await?;
    crate::webhooks::forget_conversations(db, conversation_ids).await?;
    Ok((
        usize::try_from(messages.rows_affected).unwrap_or(usize::MAX),
        files,
    ))
}
