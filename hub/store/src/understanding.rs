//! What the hub understands about conversations: each organization's topic model, the topic a
//! conversation is about, and the sentiment of its customer messages.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, OnConflict},
};
use switchboard_model::{self as model, MessageRole};
use tokio::sync::{mpsc, oneshot};

use crate::{Result, Store, StoreError, convert, entities::*};

/// A conversation's topic waiting for the topic writer, and where its outcome goes.
pub(crate) struct PendingTopic {
    org_id: String,
    conversation_id: String,
    topic: Option<String>,
    reply: oneshot::Sender<Result<bool>>,
}

impl PendingTopic {
    /// Sets it inside the caller's transaction: whether the conversation exists.
    async fn set_in(&self, db: &impl ConnectionTrait) -> Result<bool> {
        let updated = conversation::Entity::update_many()
            .col_expr(conversation::Column::Topic, Expr::value(self.topic.clone()))
            .filter(conversation::Column::OrgId.eq(&self.org_id))
            .filter(conversation::Column::Id.eq(&self.conversation_id))
            .exec(db)
            .await?
            .rows_affected;
        Ok(updated == 1)
    }
}

/// The queue of topics waiting for the topic writer.
pub(crate) type TopicQueue = mpsc::Sender<PendingTopic>;

/// Topics a batch commits at most, and how long it lets one gather.
const TOPIC_BATCH: usize = 256;
const TOPIC_LINGER: std::time::Duration = std::time::Duration::from_millis(20);

/// Starts the topic writer: the group commit of [`crate::ingest`] for conversations' topics,
/// in line behind the customers' messages and the bot's answers.
pub(crate) fn start_topic_writer(store: Store, gate: Option<crate::WriteGate>) -> TopicQueue {
    let gate = gate.map(|gate| (gate, crate::Writer::Other));
    crate::group_commit(
        "topics",
        4 * TOPIC_BATCH,
        TOPIC_BATCH,
        TOPIC_LINGER,
        gate,
        move |batch| {
            let store = store.clone();
            async move { store.topic_batch(batch).await }
        },
    )
}

/// A trained topic classifier as stored: its binary form and what training measured.
#[derive(Clone, Debug)]
pub struct StoredTopicModel {
    pub org_id: String,
    /// `switchboard_ai::topics::TopicModel::to_bytes`.
    pub model: Vec<u8>,
    pub labels: Vec<String>,
    pub unknown_threshold: f64,
    pub metrics: serde_json::Value,
    pub trained_at: DateTime<Utc>,
}

impl Store {
    /// Makes `model` the organization's topic classifier, replacing any earlier one.
    pub async fn save_topic_model(&self, model: StoredTopicModel) -> Result<()> {
        let row = topic_model::ActiveModel {
            org_id: Set(model.org_id),
            model: Set(model.model),
            labels: Set(serde_json::json!(model.labels)),
            unknown_threshold: Set(model.unknown_threshold),
            metrics: Set(model.metrics),
            trained_at: Set(model.trained_at),
        };
        let txn = self.begin_write().await?;
        topic_model::Entity::insert(row)
            .on_conflict(
                OnConflict::column(topic_model::Column::OrgId)
                    .update_columns([
                        topic_model::Column::Model,
                        topic_model::Column::Labels,
                        topic_model::Column::UnknownThreshold,
                        topic_model::Column::Metrics,
                        topic_model::Column::TrainedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&*txn)
            .await?;
        txn.commit().await
    }

    /// The organization's topic classifier, if one was trained.
    pub async fn topic_model(&self, org_id: &str) -> Result<Option<StoredTopicModel>> {
        let Some(row) = topic_model::Entity::find_by_id(org_id)
            .one(self.db())
            .await?
        else {
            return Ok(None);
        };
        let labels = serde_json::from_value(row.labels)
            .map_err(|err| crate::StoreError::Corrupt(format!("topic model labels: {err}")))?;
        Ok(Some(StoredTopicModel {
            org_id: row.org_id,
            model: row.model,
            labels,
            unknown_threshold: row.unknown_threshold,
            metrics: row.metrics,
            trained_at: row.trained_at,
        }))
    }

    /// When the organization's topic classifier was trained: a cheap check for a cached copy.
    pub async fn topic_model_trained_at(&self, org_id: &str) -> Result<Option<DateTime<Utc>>> {
        Ok(topic_model::Entity::find_by_id(org_id)
            .select_only()
            .column(topic_model::Column::TrainedAt)
            .into_tuple::<DateTime<Utc>>()
            .one(self.db())
            .await?)
    }

    /// Sets the topic of a conversation of the organization. Returns whether it existed.
    /// Topics set together commit together (the topic writer): at the start of a busy hour
    /// every new conversation gets one, and a transaction each queued hundreds of them at
    /// SQLite's one writer.
    pub async fn set_conversation_topic(
        &self,
        org_id: &str,
        conversation_id: &str,
        topic: Option<&str>,
    ) -> Result<bool> {
        let (reply, set) = oneshot::channel();
        let pending = PendingTopic {
            org_id: org_id.to_owned(),
            conversation_id: conversation_id.to_owned(),
            topic: topic.map(str::to_owned),
            reply,
        };
        let Some(queue) = &self.topic_queue else {
            return self.topic_alone(&pending).await;
        };
        if let Err(mpsc::error::SendError(pending)) = queue.send(pending).await {
            return self.topic_alone(&pending).await;
        }
        set.await
            .map_err(|_| StoreError::Unavailable("the topic writer stopped".into()))?
    }

    async fn topic_alone(&self, pending: &PendingTopic) -> Result<bool> {
        let txn = self.begin_write().await?;
        let updated = pending.set_in(&*txn).await?;
        txn.commit().await?;
        Ok(updated)
    }

    /// A batch of topics in one transaction, or, when that fails, each on its own.
    async fn topic_batch(&self, batch: Vec<PendingTopic>) {
        crate::together_or_alone(
            batch,
            async |batch: &[PendingTopic]| {
                let txn = self.begin_write().await?;
                let mut updated = Vec::with_capacity(batch.len());
                for pending in batch {
                    match pending.set_in(&*txn).await {
                        Ok(set) => updated.push(Ok(set)),
                        Err(err) => {
                            txn.rollback().await?;
                            return Err(err);
                        }
                    }
                }
                txn.commit().await?;
                Ok(updated)
            },
            async |pending: &PendingTopic| self.topic_alone(pending).await,
            |pending, updated| {
                let _ = pending.reply.send(updated);
            },
        )
        .await;
    }

    /// Replaces the sentiment of a stored customer message (the LLM's score instead of the one
    /// ingest gave it) and recomputes its conversation's trend from all its customer messages'
    /// scores with the same formula ingest moves it by (`sentiment::next_level`, folded by
    /// `sentiment::trend`). Returns the conversation as it is now; `None` when the organization
    /// has no such customer message.
    pub async fn rescore_message(
        &self,
        org_id: &str,
        message_id: &str,
        score: u8,
    ) -> Result<Option<model::Conversation>> {
        let txn = self.begin_write().await?;
        let ids = [message_id.to_owned()];
        let Some(conversation) = rescore_in(&*txn, org_id, &ids, score).await? else {
            return Ok(None);
        };
        txn.commit().await?;
        Ok(Some(convert::conversation(conversation)?))
    }
}

/// [`Store::rescore_message`] inside the caller's write transaction, for one or more customer
/// messages of one conversation (the first names it): the conversation row as it is after the
/// new trend, or `None` when the organization has no such customer message.
pub(crate) async fn rescore_in(
    db: &impl ConnectionTrait,
    org_id: &str,
    message_ids: &[String],
    score: u8,
) -> Result<Option<conversation::Model>> {
    let Some(first) = message_ids.first() else {
        return Ok(None);
    };
    let Some(row) = message::Entity::find_by_id(first)
        .filter(message::Column::OrgId.eq(org_id))
        .filter(message::Column::Role.eq(MessageRole::Customer.as_str()))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    // The conversation row first, locked on PostgreSQL: a customer message being ingested
    // meanwhile either committed before (and its score is read below) or waits for this
    // commit (and moves the trend from the level written here).
    let mut lock = conversation::Entity::find_by_id(&row.conversation_id);
    if db.get_database_backend() == DbBackend::Postgres {
        lock = lock.lock_exclusive();
    }
    let conversation = lock
        .one(db)
        .await?
        .ok_or_else(|| StoreError::Corrupt("a message points at no conversation".into()))?;
    message::Entity::update_many()
        .col_expr(message::Column::Sentiment, Expr::value(i32::from(score)))
        .filter(message::Column::Id.is_in(message_ids.iter().cloned()))
        .filter(message::Column::ConversationId.eq(&conversation.id))
        .filter(message::Column::Role.eq(MessageRole::Customer.as_str()))
        .exec(db)
        .await?;
    let scores: Vec<Option<i32>> = message::Entity::find()
        .select_only()
        .column(message::Column::Sentiment)
        .filter(message::Column::ConversationId.eq(&conversation.id))
        .filter(message::Column::Role.eq(MessageRole::Customer.as_str()))
        .order_by_asc(message::Column::Seq)
        .into_tuple()
        .all(db)
        .await?;
    let scores: Vec<u8> = scores
        .into_iter()
        .flatten()
        .filter_map(convert::sentiment)
        .collect();
    let level = model::sentiment::trend(&scores).map(|trend| i32::from(trend.level));
    let mut active: conversation::ActiveModel = conversation.into();
    active.sentiment = Set(level);
    Ok(Some(conversation::Entity::update(active).exec(db).await?))
}
