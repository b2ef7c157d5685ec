//! The one ingest path: a normalized inbound message becomes a stored message, exactly once.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, TryInsertResult,
};
use switchboard_model::{
    self as model, ChannelKind, ConversationStatus, DeliveryStatus, InboundMessage, MessageRole,
    Priority, new_id,
};

use tokio::sync::{mpsc, oneshot};

use crate::{Result, Store, StoreError, contacts, conversations::next_seq, convert, entities::*};

mod batch;

use batch::ingest_many_in;

/// What became of an inbound message.
#[derive(Clone, Debug)]
pub enum IngestOutcome {
    /// Stored now: acknowledge it and publish it.
    Stored {
        conversation: Box<model::Conversation>,
        message: model::Message,
        /// This message opened a new conversation.
        opened: bool,
        /// This message reopened a resolved conversation (its status changed).
        reopened: bool,
    },
    /// The channel sent a message it had sent before: acknowledge it, store nothing.
    Duplicate { message: model::Message },
}

impl IngestOutcome {
    pub fn message(&self) -> &model::Message {
        match self {
            IngestOutcome::Stored { message, .. } | IngestOutcome::Duplicate { message } => message,
        }
    }
}

/// The conversation an answer belongs to, found by the first of `keys` that names a thread or
/// a stored message of the inbox. `None` when none does, or when the conversation found is
/// closed (a closed conversation takes no more messages: the answer opens a new one).
async fn conversation_replied_to(
    db: &impl ConnectionTrait,
    inbox_id: &str,
    keys: &[String],
) -> Result<Option<conversation::Model>> {
    for key in keys.iter().filter(|key| !key.is_empty()) {
        let conversation_id = match thread::Entity::find_by_id((inbox_id.to_owned(), key.clone()))
            .one(db)
            .await?
        {
            Some(thread) => Some(thread.conversation_id),
            None => message::Entity::find()
                .filter(message::Column::InboxId.eq(inbox_id))
                .filter(message::Column::ChannelMessageId.eq(key))
                .one(db)
                .await?
                .map(|message| message.conversation_id),
        };
        let Some(conversation_id) = conversation_id else {
            continue;
        };
        let current = conversation::Entity::find_by_id(&conversation_id)
            .one(db)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a message points at no conversation".into()))?;
        let open = convert::parse::<ConversationStatus>(&current.status)?.accepts_messages();
        return Ok(open.then_some(current));
    }
    Ok(None)
}

/// Where a channel thread's messages go: its open conversation, or a new one when it has none
/// or the last one was closed. Returns the conversation and whether it is new; a new one has
/// its thread claimed but is not written yet: the caller inserts it with its first message
/// counted, one statement rather than an insert and two updates.
async fn conversation_for_thread(
    db: &impl ConnectionTrait,
    org_id: &str,
    inbox_id: &str,
    channel: ChannelKind,
    contact_id: &str,
    incoming: &InboundMessage,
    now: DateTime<Utc>,
) -> Result<(conversation::Model, bool)> {
    let key = (inbox_id.to_owned(), incoming.thread_key.clone());
    let new_conversation_id = new_id();
    let claimed = match thread::Entity::find_by_id(key.clone()).one(db).await? {
        Some(thread) => {
            let current = conversation::Entity::find_by_id(&thread.conversation_id)
                .one(db)
                .await?
                .ok_or_else(|| StoreError::Corrupt("thread points at no conversation".into()))?;
            if convert::parse::<ConversationStatus>(&current.status)?.accepts_messages() {
                return Ok((current, false));
            }
            // Closed: move the thread on to a new conversation, unless someone else just did.
            thread::Entity::update_many()
                .col_expr(
                    thread::Column::ConversationId,
                    sea_orm::sea_query::Expr::value(new_conversation_id.clone()),
                )
                .filter(thread::Column::InboxId.eq(inbox_id))
                .filter(thread::Column::ThreadKey.eq(&incoming.thread_key))
                .filter(thread::Column::ConversationId.eq(&current.id))
                .exec(db)
                .await?
                .rows_affected
                == 1
        }
        None => matches!(
            thread::Entity::insert(thread::ActiveModel {
                inbox_id: Set(inbox_id.to_owned()),
                thread_key: Set(incoming.thread_key.clone()),
                org_id: Set(org_id.to_owned()),
                conversation_id: Set(new_conversation_id.clone()),
            })
            .on_conflict_do_nothing_on([thread::Column::InboxId, thread::Column::ThreadKey])
            .exec_without_returning(db)
            .await?,
            TryInsertResult::Inserted(n) if n > 0
        ),
    };
    if !claimed {
        // Another transaction opened the conversation between our read and our write.
        let thread = thread::Entity::find_by_id(key)
            .one(db)
            .await?
            .ok_or(StoreError::NotFound)?;
        let current = conversation::Entity::find_by_id(&thread.conversation_id)
            .one(db)
            .await?
            .ok_or(StoreError::NotFound)?;
        return Ok((current, false));
    }
    Ok((
        new_conversation(
            new_conversation_id,
            org_id,
            inbox_id,
            channel,
            contact_id,
            incoming,
            now,
        ),
        true,
    ))
}

/// A conversation for a thread's first message, not written yet: [`opened_by`] counts the message.
fn new_conversation(
    id: String,
    org_id: &str,
    inbox_id: &str,
    channel: ChannelKind,
    contact_id: &str,
    incoming: &InboundMessage,
    now: DateTime<Utc>,
) -> conversation::Model {
    conversation::Model {
        id,
        org_id: org_id.to_owned(),
        inbox_id: inbox_id.to_owned(),
        channel: channel.as_str().to_owned(),
        contact_id: contact_id.to_owned(),
        status: ConversationStatus::Bot.as_str().to_owned(),
        priority: Priority::Normal.as_str().to_owned(),
        assignee_id: None,
        team_id: None,
        topic: None,
        sentiment: None,
        subject: incoming.subject.clone(),
        thread_key: incoming.thread_key.clone(),
        last_seq: 0,
        last_message_preview: None,
        last_message_at: None,
        last_inbound_channel_message_id: None,
        first_response_at: None,
        resolved_at: None,
        created_at: now,
        updated_at: now,
    }
}

/// A new conversation with its first message counted: what `next_seq` and [`Effects`] would
/// write, so that the conversation is inserted once, complete.
fn opened_by(
    mut conversation: conversation::Model,
    incoming: &InboundMessage,
    score: Option<u8>,
    now: DateTime<Utc>,
) -> conversation::Model {
    conversation.last_seq = 1;
    conversation.last_message_preview = Some(convert::preview(&incoming.text));
    conversation.last_message_at = Some(now);
    conversation.updated_at = now;
    Effects::of(&conversation, incoming, score).apply(&mut conversation);
    conversation
}

/// What a customer's message changes in its conversation besides the `seq`, the preview and
/// the times: the sentiment level, a reopening, the message our replies answer.
struct Effects {
    sentiment: Option<i32>,
    reopen_as: Option<ConversationStatus>,
    answered_id: Option<String>,
}

impl Effects {
    fn of(
        conversation: &conversation::Model,
        incoming: &InboundMessage,
        score: Option<u8>,
    ) -> Self {
        // A machine's message (an out-of-office, a bounce) is kept but changes nothing: it
        // neither reopens the conversation nor becomes the message our replies answer.
        let human = !incoming.automated;
        let reopen_as = (human && conversation.status == ConversationStatus::Resolved.as_str())
            .then_some(match conversation.assignee_id {
                Some(_) => ConversationStatus::Assigned,
                None => ConversationStatus::Bot,
            });
        let previous = conversation.sentiment.and_then(convert::sentiment);
        Effects {
            sentiment: score.map(|score| i32::from(model::sentiment::next_level(previous, score))),
            reopen_as,
            answered_id: incoming.channel_message_id.clone().filter(|_| human),
        }
    }

    fn apply(&self, conversation: &mut conversation::Model) {
        if self.sentiment.is_some() {
            conversation.sentiment = self.sentiment;
        }
        if let Some(status) = self.reopen_as {
            conversation.status = status.as_str().to_owned();
            conversation.resolved_at = None;
        }
        if self.answered_id.is_some() {
            conversation
                .last_inbound_channel_message_id
                .clone_from(&self.answered_id);
        }
    }
}

/// The customer's message as stored, numbered by the conversation's `last_seq`.
fn message_row(
    conversation: &conversation::Model,
    incoming: &InboundMessage,
    score: Option<u8>,
    now: DateTime<Utc>,
) -> message::Model {
    message::Model {
        id: new_id(),
        org_id: conversation.org_id.clone(),
        conversation_id: conversation.id.clone(),
        inbox_id: conversation.inbox_id.clone(),
        seq: conversation.last_seq,
        role: MessageRole::Customer.as_str().to_owned(),
        private: false,
        text: incoming.text.clone(),
        text_full: incoming.text_full.clone(),
        automated: incoming.automated,
        attachments: convert::to_json(&incoming.attachments),
        sources: serde_json::json!([]),
        confidence: None,
        model: None,
        tokens: None,
        author_id: None,
        mentions: None,
        channel_message_id: incoming.channel_message_id.clone(),
        delivery_status: DeliveryStatus::Received.as_str().to_owned(),
        delivery_error: None,
        sentiment: score.map(i32::from),
        created_at: now,
    }
}

fn stored(
    conversation: conversation::Model,
    row: message::Model,
    opened: bool,
    reopened: bool,
) -> Result<IngestOutcome> {
    Ok(IngestOutcome::Stored {
        conversation: Box::new(convert::conversation(conversation)?),
        message: convert::message(row)?,
        opened,
        reopened,
    })
}

/// The work of [`Store::ingest`] inside the caller's transaction. `None` when the message was
/// stored before (its insert conflicts on the channel's message id): the caller must then
/// roll back, since the contact, the conversation and its `seq` have been written.
async fn ingest_in(
    db: &impl ConnectionTrait,
    org_id: &str,
    inbox_id: &str,
    channel: ChannelKind,
    incoming: &InboundMessage,
    score: Option<u8>,
    now: DateTime<Utc>,
) -> Result<Option<IngestOutcome>> {
    let contact_id = contacts::find_or_create(db, org_id, channel, &incoming.sender, now).await?;
    // An answer joins the conversation it quotes only when its sender is that conversation's
    // customer: anyone can put another customer's message id in `In-Reply-To`, and their words
    // would be shown as that customer's. A machine's message (a bounce from the mail system)
    // joins whoever sends it: it changes nothing but the delivery's fate.
    let replied_to = conversation_replied_to(db, inbox_id, &incoming.reply_to_keys)
        .await?
        .filter(|conversation| conversation.contact_id == contact_id || incoming.automated);
    let (conversation, opened) = match replied_to {
        Some(conversation) => (conversation, false),
        None => {
            conversation_for_thread(db, org_id, inbox_id, channel, &contact_id, incoming, now)
                .await?
        }
    };
    let (conversation, reopened) = if opened {
        // Ours alone until the commit: the thread row claimed for it stops any other.
        let conversation = opened_by(conversation, incoming, score, now);
        conversation::Entity::insert(conversation::ActiveModel::from(conversation.clone()))
            .exec_without_returning(db)
            .await?;
        (conversation, false)
    } else {
        // The increment is atomic (and on PostgreSQL locks the row until the commit), so the
        // rest is computed from the row it returns.
        let mut conversation = next_seq(db, &conversation.id, Some(&incoming.text), now).await?;
        let effects = Effects::of(&conversation, incoming, score);
        if score.is_some() || effects.reopen_as.is_some() || effects.answered_id.is_some() {
            effects.apply(&mut conversation);
            conversation =
                conversation::Entity::update(conversation.into_active_model().reset_all())
                    .exec(db)
                    .await?;
        }
        (conversation, effects.reopen_as.is_some())
    };
    let row = message_row(&conversation, incoming, score, now);
    let inserted = message::Entity::insert(message::ActiveModel::from(row.clone()))
        .on_conflict_do_nothing_on([message::Column::InboxId, message::Column::ChannelMessageId])
        .exec_without_returning(db)
        .await?;
    if !matches!(inserted, TryInsertResult::Inserted(n) if n > 0) {
        return Ok(None);
    }
    stored(conversation, row, opened, reopened).map(Some)
}

/// How many customer messages one transaction commits at most.
const MAX_BATCH: usize = 128;
/// How long the ingest writer lets every batch gather ([`crate::group_commit`]). At 10,000
/// visitors sending 2,000 messages a second, 2 ms took the writer's time from 11–13 s to 8–9 s
/// a run, with batches twice as large, and the p99 acknowledgement from 47–95 ms to 48–71 ms;
/// 1 and 3 ms did no better, nor did gathering only while busy (77–114 ms). An idle hub pays
/// the 2 ms on each acknowledgement.
const LINGER: std::time::Duration = std::time::Duration::from_millis(2);

/// A message waiting for an ingest writer, and where its outcome goes.
pub(crate) struct Pending {
    org_id: String,
    inbox_id: String,
    channel: ChannelKind,
    incoming: InboundMessage,
    /// Its sentiment, scored by the caller before it queued: the writer everything waits for
    /// does no more than write.
    score: Option<u8>,
    reply: oneshot::Sender<Result<IngestOutcome>>,
}

impl Pending {
    /// What identifies this message on its inbox, when the channel gave it an id.
    fn key(&self) -> Option<(String, String)> {
        self.incoming
            .channel_message_id
            .clone()
            .map(|id| (self.inbox_id.clone(), id))
    }

    /// Whether its conversation is found by its channel thread alone (it quotes no ids).
    fn by_thread(&self) -> bool {
        self.incoming.reply_to_keys.iter().all(String::is_empty)
    }

    /// [`ingest_in`] for this message.
    async fn ingest_in(
        &self,
        db: &impl ConnectionTrait,
        now: DateTime<Utc>,
    ) -> Result<Option<IngestOutcome>> {
        ingest_in(
            db,
            &self.org_id,
            &self.inbox_id,
            self.channel,
            &self.incoming,
            self.score,
            now,
        )
        .await
    }
}

/// The queues of the ingest writers, one each. A message goes to the writer its thread names,
/// so that one thread's messages are written in order by one writer, and one node's writers
/// never wait for each other's locks on a conversation.
#[derive(Clone)]
pub(crate) struct IngestQueue(std::sync::Arc<[mpsc::Sender<Pending>]>);

impl IngestQueue {
    fn for_thread(&self, inbox_id: &str, thread_key: &str) -> &mpsc::Sender<Pending> {
        use std::hash::BuildHasher;
        // A fixed hasher: which writer takes a thread may differ between runs, not within one.
        let hash = std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default()
            .hash_one((inbox_id, thread_key));
        let writers = self.0.len().max(1);
        &self.0[(hash % writers as u64) as usize]
    }
}

/// Starts `writers` ingest writers ([`crate::group_commit`]): the messages that arrived while
/// a writer's last transaction ran are stored together, in one transaction. On SQLite (one
/// writer) under one turn of the write `gate`, which it takes before any other writer
/// waiting; on PostgreSQL side by side, each on its own connection. When anything in a batch
/// fails (a resend stored by a concurrent delivery, a thread opened by another node at the same
/// time, an error), the batch is undone and its messages are stored one by one, each with its
/// own outcome. `store` must not hold a queue itself.
pub(crate) fn start_ingest_writers(
    store: Store,
    gate: Option<crate::WriteGate>,
    writers: usize,
) -> IngestQueue {
    let queues = (0..writers.max(1))
        .map(|_| {
            let store = store.clone();
            crate::group_commit(
                "ingest",
                4 * MAX_BATCH,
                MAX_BATCH,
                LINGER,
                gate.clone().map(|gate| (gate, crate::Writer::Ingest)),
                move |batch| {
                    let store = store.clone();
                    async move { store.ingest_batch(batch).await }
                },
            )
        })
        .collect();
    IngestQueue(queues)
}

impl Store {
    /// Stores one customer message from a channel: finds or creates the contact and the
    /// conversation, gives the message the conversation's next `seq`, and commits. The same
    /// `channel_message_id` on the same inbox twice stores one message. Returns only after the
    /// commit, so the caller may acknowledge the channel. Messages arriving together commit
    /// together (see [`start_ingest_writers`]). `score` is the message's 0–100 sentiment,
    /// scored by the caller (`None` for a message without text): stored with the message, it
    /// moves the conversation's level ([`model::sentiment::next_level`]).
    pub async fn ingest(
        &self,
        org_id: &str,
        inbox_id: &str,
        channel: ChannelKind,
        incoming: &InboundMessage,
        score: Option<u8>,
    ) -> Result<IngestOutcome> {
        if incoming.thread_key.is_empty() || incoming.sender.external_id.is_empty() {
            return Err(StoreError::Invalid(
                "a message needs a thread and a sender".into(),
            ));
        }
        let Some(queue) = &self.ingest_queue else {
            if let Some(existing) = self.by_channel_id(inbox_id, incoming).await? {
                return Ok(IngestOutcome::Duplicate { message: existing });
            }
            return self
                .ingest_alone(org_id, inbox_id, channel, incoming, score)
                .await;
        };
        // The writer finds a message stored before with the rest of its batch, in one read:
        // no read here for each message.
        let (reply, outcome) = oneshot::channel();
        let pending = Pending {
            org_id: org_id.to_owned(),
            inbox_id: inbox_id.to_owned(),
            channel,
            incoming: incoming.clone(),
            score,
            reply,
        };
        let queue = queue.for_thread(inbox_id, &incoming.thread_key);
        if queue.send(pending).await.is_err() {
            return self
                .ingest_alone(org_id, inbox_id, channel, incoming, score)
                .await;
        }
        outcome
            .await
            .map_err(|_| StoreError::Unavailable("the ingest writer stopped".into()))?
    }

    /// Stores a batch in one transaction, or, when any of it fails, each message on its own.
    async fn ingest_batch(&self, batch: Vec<Pending>) {
        crate::together_or_alone(
            batch,
            async |batch: &[Pending]| {
                metrics::histogram!("switchboard_ingest_batch_size").record(batch.len() as f64);
                Ok(self.try_batch(batch).await?.into_iter().map(Ok).collect())
            },
            async |pending: &Pending| {
                self.ingest_alone(
                    &pending.org_id,
                    &pending.inbox_id,
                    pending.channel,
                    &pending.incoming,
                    pending.score,
                )
                .await
            },
            |pending, outcome| {
                let _ = pending.reply.send(outcome);
            },
        )
        .await;
    }

    /// All of `batch` in one transaction; `Err` (and nothing stored) when any message fails or
    /// was stored before.
    ///
    /// On PostgreSQL, where every statement is a round trip that the acknowledgements wait
    /// for, the batch is first written without looking for resends (they are rare: a client
    /// that reconnected sends again what it did not see acknowledged); the insert's conflict
    /// finds one, and the batch is then written again, looking first. SQLite looks first at
    /// once: its read costs microseconds, a batch written twice more.
    async fn try_batch(&self, batch: &[Pending]) -> Result<Vec<IngestOutcome>> {
        let optimistic = !self.is_sqlite();
        let mut written = self.try_batch_once(batch, !optimistic).await;
        if optimistic && matches!(written, Ok(None)) {
            metrics::counter!("switchboard_ingest_batches_rewritten_total").increment(1);
            written = self.try_batch_once(batch, true).await;
        }
        match written {
            Ok(Some(outcomes)) => Ok(outcomes),
            outcome => {
                // A resend stored meanwhile, or a thread another node opened at the same time,
                // is expected now and then; anything else would make every batch slow.
                metrics::counter!("switchboard_ingest_batches_redone_total").increment(1);
                if let Err(err) = outcome {
                    tracing::warn!(%err, "an ingest batch failed; storing it message by message");
                }
                Err(StoreError::Conflict(
                    "the batch is stored one by one".into(),
                ))
            }
        }
    }

    /// One try of [`Store::try_batch`]: committed, or rolled back (`None`: a message was stored
    /// before, or raced).
    async fn try_batch_once(
        &self,
        batch: &[Pending],
        look_first: bool,
    ) -> Result<Option<Vec<IngestOutcome>>> {
        let txn = self.begin_write().await?;
        match ingest_many_in(&*txn, batch, self.now(), look_first).await {
            Ok(Some(outcomes)) => {
                txn.commit().await?;
                Ok(Some(outcomes))
            }
            outcome => {
                txn.rollback().await?;
                outcome.map(|_| None)
            }
        }
    }

    /// One message in its own transaction.
    async fn ingest_alone(
        &self,
        org_id: &str,
        inbox_id: &str,
        channel: ChannelKind,
        incoming: &InboundMessage,
        score: Option<u8>,
    ) -> Result<IngestOutcome> {
        let txn = self.begin_write().await?;
        match ingest_in(
            &*txn,
            org_id,
            inbox_id,
            channel,
            incoming,
            score,
            self.now(),
        )
        .await?
        {
            Some(outcome) => {
                txn.commit().await?;
                Ok(outcome)
            }
            None => {
                // A concurrent delivery of the same message committed first: undo ours.
                txn.rollback().await?;
                let existing = self
                    .by_channel_id(inbox_id, incoming)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                Ok(IngestOutcome::Duplicate { message: existing })
            }
        }
    }

    async fn by_channel_id(
        &self,
        inbox_id: &str,
        incoming: &InboundMessage,
    ) -> Result<Option<model::Message>> {
        let Some(channel_message_id) = &incoming.channel_message_id else {
            return Ok(None);
        };
        message::Entity::find()
            .filter(message::Column::InboxId.eq(inbox_id))
            .filter(message::Column::ChannelMessageId.eq(channel_message_id))
            .one(self.db())
            .await?
            .map(convert::message)
            .transpose()
    }
}
