//! The bot's messages: an AI answer or the note that a person will take over, committed with
//! what the AI did, counted in the routing state. The answers that finish together commit
//! together, like the customer messages of `ingest.rs`.

use std::{collections::HashMap, time::Duration};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, sea_query::Expr,
};
use switchboard_model::{self as model, AiOutcome, MessageRole};
use tokio::sync::{mpsc, oneshot};

use crate::{
    Result, Store, StoreError,
    conversations::{NewMessage, append_in, delivered_by_hub, hub_message_row, upsert_numbered},
    convert,
    entities::*,
    routing, understanding,
};

type Appended = (conversation::Model, message::Model);

/// How many answers one transaction commits at most. Fewer than the ingest writer's: a
/// customer's message waits for the acknowledgement behind at most one batch of answers (on
/// SQLite for the write gate; on PostgreSQL for the conversations' rows the batch locks: 128
/// answered the first questions sooner at 1,000 a second, but took the acknowledgements' p99
/// from 181–284 to 496–500 ms at 2,000).
const MAX_BATCH: usize = 32;
/// How long the answer writer lets a batch gather before it asks for the write gate: an answer
/// that has taken the model a second can wait this much more, and the customers' messages get
/// the gate more often.
const LINGER: Duration = Duration::from_millis(20);
/// Answers handed over and not yet taken, before a turn waits to hand over its own. A place
/// freed in a full queue goes to a waiting turn, which runs in the background lane: while the
/// lane waited for a core, the writer found few answers and the rest waited for their turns to
/// run. With a model on PostgreSQL at 1,000 messages a second, 128 places made answers wait
/// 5.4–6.2 s for their commit and this many 0.5–1.2 s (BENCHMARKS.md). Each turn hands over
/// at most one answer, so the bound is the conversations being answered.
const QUEUE: usize = 8_192;

/// What the model that answered made of the customer messages it answered (the newest, and
/// any sent before it since the last answer): a sentiment score that replaces the offline one,
/// stored with the answer (`Store::rescore_message`'s work, without a transaction of its own).
#[derive(Clone, Debug, PartialEq)]
pub struct CustomerScore {
    /// The conversation's customer messages the score is for.
    pub message_ids: Vec<String>,
    /// 0 (very negative) to 100 (very positive).
    pub score: u8,
}

/// An answer waiting for the answer writer, and where its outcome goes.
pub(crate) struct PendingAnswer {
    org_id: String,
    conversation_id: String,
    message_id: String,
    new: NewMessage,
    outcome: AiOutcome,
    rescore: Option<CustomerScore>,
    reply: oneshot::Sender<Result<(model::Conversation, model::Message)>>,
    /// When the turn handed it over: its wait until the commit is
    /// `switchboard_answer_queued_seconds`, the rest of the turn's store wait the lane's.
    queued_at: std::time::Instant,
}

impl PendingAnswer {
    /// The answer on its own, inside the caller's transaction: the one-by-one path.
    async fn append_in(&self, db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<Appended> {
        let appended = append_in(
            db,
            &self.org_id,
            &self.conversation_id,
            &self.message_id,
            self.new.clone(),
            now,
        )
        .await?;
        routing::record_ai_outcome_in(db, &self.org_id, &self.conversation_id, self.outcome, now)
            .await?;
        self.rescore_in(db, appended).await
    }

    /// Stores the model's score of the customer's message, if it gave one: `appended` with its
    /// conversation's new trend.
    async fn rescore_in(&self, db: &impl ConnectionTrait, appended: Appended) -> Result<Appended> {
        let Some(rescore) = &self.rescore else {
            return Ok(appended);
        };
        let rescored =
            understanding::rescore_in(db, &self.org_id, &rescore.message_ids, rescore.score)
                .await?;
        Ok(match rescored {
            Some(conversation) => (conversation, appended.1),
            None => appended,
        })
    }
}

/// A batch of answers in the caller's write transaction, with a constant number of
/// statements for the common case: one answer to a web-chat conversation (which needs no
/// delivery job). Those conversations are read in one query, numbered here (the read is exact:
/// see the lock below) and written back in one upsert; the messages go in one insert and the
/// AI outcomes in one upsert. The rest (another channel, two answers to one conversation) go
/// through [`append_in`] first.
async fn append_many_in(
    db: &impl ConnectionTrait,
    batch: &[PendingAnswer],
    now: DateTime<Utc>,
) -> Result<Vec<Appended>> {
    let mut named: HashMap<&str, usize> = HashMap::new();
    for pending in batch {
        *named.entry(&pending.conversation_id).or_default() += 1;
    }
    // On PostgreSQL the rows are locked until the commit, in the order of their ids, and read as
    // the last writer left them (SQLite's write gate makes the batch the only writer).
    let mut conversations: HashMap<String, conversation::Model> = conversation::Entity::find()
        .filter(
            conversation::Column::Id.is_in(
                named
                    .iter()
                    .filter(|(_, count)| **count == 1)
                    .map(|(id, _)| id.to_string()),
            ),
        )
        .order_by_asc(conversation::Column::Id)
        .lock_exclusive()
        .all(db)
        .await?
        .into_iter()
        .filter(|row| delivered_by_hub(row).unwrap_or(false))
        .map(|row| (row.id.clone(), row))
        .collect();
    let here = |pending: &PendingAnswer| {
        pending.new.role != MessageRole::Agent
            && conversations
                .get(&pending.conversation_id)
                .is_some_and(|row| row.org_id == pending.org_id)
    };
    let mut fast: Vec<bool> = batch.iter().map(here).collect();
    let mut appended: Vec<Option<Appended>> = batch.iter().map(|_| None).collect();
    for (i, pending) in batch.iter().enumerate() {
        if !fast[i] {
            appended[i] = Some(pending.append_in(db, now).await?);
        }
    }
    let mut rows = Vec::new();
    let mut outcomes = Vec::new();
    for (i, pending) in batch.iter().enumerate() {
        let Some(mut conversation) = fast[i]
            .then(|| conversations.remove(&pending.conversation_id))
            .flatten()
        else {
            fast[i] = false;
            continue;
        };
        // What `next_seq` and `append_in` do, in memory.
        conversation.last_seq += 1;
        if pending.new.role != MessageRole::System {
            conversation.last_message_preview = Some(convert::preview(&pending.new.text));
        }
        conversation.last_message_at = Some(now);
        conversation.updated_at = now;
        if pending.new.is_deliverable() && conversation.first_response_at.is_none() {
            conversation.first_response_at = Some(now);
        }
        let row = hub_message_row(
            &conversation,
            &pending.message_id,
            pending.new.clone(),
            true,
            now,
        );
        rows.push(row.clone());
        outcomes.push((
            pending.org_id.as_str(),
            pending.conversation_id.as_str(),
            pending.outcome,
        ));
        appended[i] = Some((conversation, row));
    }
    rescore_many_in(db, batch, &fast, &mut appended).await?;
    if !rows.is_empty() {
        use conversation::Column;
        let updated = appended
            .iter()
            .zip(&fast)
            .filter(|(_, fast)| **fast)
            .filter_map(|(appended, _)| appended.as_ref())
            .map(|(conversation, _)| conversation.clone().into_active_model().reset_all());
        // Three statements, not chained into one as ingest's batch is (`crate::chained`): on
        // PostgreSQL at 1,000 answers a second the one statement measured no faster (ack p99
        // 75–141 ms against 64–108, first answer p95 0.47–1.5 s against 0.20–0.93, alternated).
        upsert_numbered(updated, [Column::FirstResponseAt])
            .exec_without_returning(db)
            .await?;
        message::Entity::insert_many(rows.into_iter().map(message::ActiveModel::from))
            .exec_without_returning(db)
            .await?;
        routing::ai_outcome_upsert(outcomes, now)
            .exec_without_returning(db)
            .await?;
    }
    appended
        .into_iter()
        .map(|appended| appended.ok_or_else(|| StoreError::Corrupt("an answer was lost".into())))
        .collect()
}

/// The model's scores of the customer messages that the batch's fast answers answer, in two
/// statements whatever their number (five an answer, one by one): the messages' scores in one
/// update, then every customer score of those conversations in one read, from which each
/// conversation's trend (`sentiment::trend`, as [`understanding::rescore_in`] moves it) goes
/// into its row in `appended`, written by the caller's upsert. The slow path's answers were
/// rescored by [`PendingAnswer::append_in`].
async fn rescore_many_in(
    db: &impl ConnectionTrait,
    batch: &[PendingAnswer],
    fast: &[bool],
    appended: &mut [Option<Appended>],
) -> Result<()> {
    let scored: Vec<(usize, &CustomerScore)> = batch
        .iter()
        .enumerate()
        .filter(|(i, _)| fast[*i])
        .filter_map(|(i, pending)| pending.rescore.as_ref().map(|score| (i, score)))
        .filter(|(_, score)| !score.message_ids.is_empty())
        .collect();
    let Some((_, first)) = scored.first() else {
        return Ok(());
    };
    let score_of = |score: &CustomerScore| Expr::value(i32::from(score.score));
    let mut by_id = Expr::case(
        message::Column::Id.is_in(first.message_ids.iter().cloned()),
        score_of(first),
    );
    for (_, score) in &scored[1..] {
        by_id = by_id.case(
            message::Column::Id.is_in(score.message_ids.iter().cloned()),
            score_of(score),
        );
    }
    let conversation_ids: Vec<String> = scored
        .iter()
        .map(|(i, _)| batch[*i].conversation_id.clone())
        .collect();
    message::Entity::update_many()
        .col_expr(
            message::Column::Sentiment,
            by_id.finally(Expr::col(message::Column::Sentiment)).into(),
        )
        .filter(
            message::Column::Id.is_in(
                scored
                    .iter()
                    .flat_map(|(_, score)| score.message_ids.iter().cloned()),
            ),
        )
        .filter(message::Column::ConversationId.is_in(conversation_ids.iter().cloned()))
        .filter(message::Column::Role.eq(MessageRole::Customer.as_str()))
        .exec(db)
        .await?;
    let rows: Vec<(String, Option<i32>)> = message::Entity::find()
        .select_only()
        .column(message::Column::ConversationId)
        .column(message::Column::Sentiment)
        .filter(message::Column::ConversationId.is_in(conversation_ids))
        .filter(message::Column::Role.eq(MessageRole::Customer.as_str()))
        .order_by_asc(message::Column::ConversationId)
        .order_by_asc(message::Column::Seq)
        .into_tuple()
        .all(db)
        .await?;
    let mut scores: HashMap<String, Vec<u8>> = HashMap::new();
    for (conversation_id, score) in rows {
        if let Some(score) = score.and_then(convert::sentiment) {
            scores.entry(conversation_id).or_default().push(score);
        }
    }
    for (i, _) in scored {
        if let Some((conversation, _)) = appended[i].as_mut() {
            let scores = scores.get(&conversation.id).map_or(&[][..], Vec::as_slice);
            conversation.sentiment =
                model::sentiment::trend(scores).map(|trend| i32::from(trend.level));
        }
    }
    Ok(())
}

/// The queue of answers waiting for the answer writer.
pub(crate) type AnswerQueue = mpsc::Sender<PendingAnswer>;

/// Starts the answer writer: the group commit of [`crate::ingest`] for the bot's
/// answers, so that however many turns finish together, they take the write gate once.
/// One on PostgreSQL too: four side by side (keyed by conversation, tried 2026-12-05) answered
/// 19,134–19,336 of 30,000 questions at 3,333 offered a second against 16,288–17,653 (the
/// bot's turns wait mostly on the lane's reads, not on this writer), and took the
/// acknowledgements' p99 from 89 to 235 ms at 2,000 offered, their commits competing with the
/// ingest writers' for the cores and the conversations' rows.
pub(crate) fn start_answer_writer(store: Store, gate: Option<crate::WriteGate>) -> AnswerQueue {
    let gate = gate.map(|gate| (gate, crate::Writer::Answers));
    crate::group_commit("answers", QUEUE, MAX_BATCH, LINGER, gate, move |batch| {
        let store = store.clone();
        async move { store.answer_batch(batch).await }
    })
}

fn public(appended: Appended) -> Result<(model::Conversation, model::Message)> {
    let (conversation, row) = appended;
    Ok((convert::conversation(conversation)?, convert::message(row)?))
}

impl Store {
    /// The bot's message (its answer, under the id its streamed pieces used, or the note that a
    /// person will take over) with what the AI did, counted in the routing state, in one
    /// transaction.
    pub async fn append_bot_message(
        &self,
        org_id: &str,
        conversation_id: &str,
        message_id: &str,
        new: NewMessage,
        outcome: AiOutcome,
    ) -> Result<(model::Conversation, model::Message)> {
        self.append_bot_answer(org_id, conversation_id, message_id, new, outcome, None)
            .await
    }

    /// [`Store::append_bot_message`], storing in the same transaction the model's score of the
    /// customer message it answers (`rescore`) and the conversation's trend moved by it.
    pub async fn append_bot_answer(
        &self,
        org_id: &str,
        conversation_id: &str,
        message_id: &str,
        new: NewMessage,
        outcome: AiOutcome,
        rescore: Option<CustomerScore>,
    ) -> Result<(model::Conversation, model::Message)> {
        let (reply, appended) = oneshot::channel();
        let pending = PendingAnswer {
            org_id: org_id.to_owned(),
            conversation_id: conversation_id.to_owned(),
            message_id: message_id.to_owned(),
            new,
            outcome,
            rescore,
            reply,
            queued_at: std::time::Instant::now(),
        };
        let Some(queue) = &self.answer_queue else {
            return self.answer_alone(&pending).await;
        };
        if let Err(mpsc::error::SendError(pending)) = queue.send(pending).await {
            return self.answer_alone(&pending).await;
        }
        appended
            .await
            .map_err(|_| StoreError::Unavailable("the answer writer stopped".into()))?
    }

    /// Commits a batch in one transaction, or, when any of it fails, each answer on its own.
    async fn answer_batch(&self, batch: Vec<PendingAnswer>) {
        crate::together_or_alone(
            batch,
            async |batch: &[PendingAnswer]| {
                metrics::histogram!("switchboard_answer_batch_size").record(batch.len() as f64);
                Ok(self
                    .try_answers(batch)
                    .await?
                    .into_iter()
                    .map(public)
                    .collect())
            },
            async |pending: &PendingAnswer| self.answer_alone(pending).await,
            |pending, appended| {
                metrics::histogram!("switchboard_answer_queued_seconds")
                    .record(pending.queued_at.elapsed().as_secs_f64());
                let _ = pending.reply.send(appended);
            },
        )
        .await;
    }

    /// All of `batch` in one transaction; `Err` (and nothing stored) when any answer fails.
    async fn try_answers(&self, batch: &[PendingAnswer]) -> Result<Vec<Appended>> {
        let txn = self.begin_write().await?;
        match append_many_in(&*txn, batch, self.now()).await {
            Ok(appended) => {
                txn.commit().await?;
                Ok(appended)
            }
            Err(err) => {
                metrics::counter!("switchboard_answer_batches_redone_total").increment(1);
                tracing::warn!(%err, "a batch of answers failed; storing it answer by answer");
                txn.rollback().await?;
                Err(err)
            }
        }
    }

    /// One answer in its own transaction.
    async fn answer_alone(
        &self,
        pending: &PendingAnswer,
    ) -> Result<(model::Conversation, model::Message)> {
        let txn = self.begin_write().await?;
        let appended = pending.append_in(&*txn, self.now()).await?;
        txn.commit().await?;
        public(appended)
    }
}
