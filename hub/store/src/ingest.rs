//! The one ingest path: a normalized inbound message becomes a stored message, exactly once.

use chrono::Utc;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TryInsertResult,
};
use switchboard_model::{
    self as model, ChannelKind, ConversationStatus, DeliveryStatus, InboundMessage, MessageRole,
    Priority, new_id,
};

use crate::{Result, Store, StoreError, contacts, conversations::next_seq, convert, entities::*};

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
/// or the last one was closed. Returns the conversation and whether it is new.
async fn conversation_for_thread(
    db: &impl ConnectionTrait,
    org_id: &str,
    inbox_id: &str,
    channel: ChannelKind,
    contact_id: &str,
    incoming: &InboundMessage,
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
    let now = Utc::now();
    let row = conversation::Model {
        id: new_conversation_id,
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
    };
    conversation::Entity::insert(conversation::ActiveModel::from(row.clone()))
        .exec_without_returning(db)
        .await?;
    Ok((row, true))
}

impl Store {
    /// Stores one customer message from a channel: finds or creates the contact and the
    /// conversation, gives the message the conversation's next `seq`, and commits. The same
    /// `channel_message_id` on the same inbox twice stores one message. Returns only after the
    /// commit, so the caller may acknowledge the channel.
    pub async fn ingest(
        &self,
        org_id: &str,
        inbox_id: &str,
        channel: ChannelKind,
        incoming: &InboundMessage,
    ) -> Result<IngestOutcome> {
        if incoming.thread_key.is_empty() || incoming.sender.external_id.is_empty() {
            return Err(StoreError::Invalid(
                "a message needs a thread and a sender".into(),
            ));
        }
        if let Some(existing) = self.by_channel_id(inbox_id, incoming).await? {
            return Ok(IngestOutcome::Duplicate { message: existing });
        }
        let now = Utc::now();
        // Cheap (microseconds) and pure, so it runs inline on the ingest path.
        let sentiment = (!incoming.text.trim().is_empty())
            .then(|| switchboard_ai::sentiment::score(&incoming.text));
        let txn = self.begin_write().await?;
        let contact_id = contacts::find_or_create(&*txn, org_id, channel, &incoming.sender).await?;
        let (conversation, opened) =
            match conversation_replied_to(&*txn, inbox_id, &incoming.reply_to_keys).await? {
                Some(conversation) => (conversation, false),
                None => {
                    conversation_for_thread(&*txn, org_id, inbox_id, channel, &contact_id, incoming)
                        .await?
                }
            };
        let mut conversation = next_seq(&*txn, &conversation.id, Some(&incoming.text), now).await?;
        // A machine's message (an out-of-office, a bounce) is kept but changes nothing: it
        // neither reopens the conversation nor becomes the message our replies answer.
        let human = !incoming.automated;
        let reopen = human && conversation.status == ConversationStatus::Resolved.as_str();
        let answered_id = incoming.channel_message_id.as_ref().filter(|_| human);
        if reopen || answered_id.is_some() || sentiment.is_some() {
            let mut active: conversation::ActiveModel = conversation.clone().into();
            if let Some(score) = sentiment {
                let previous = conversation
                    .sentiment
                    .and_then(|level| u8::try_from(level.clamp(0, 100)).ok());
                active.sentiment = Set(Some(i32::from(switchboard_ai::sentiment::next_level(
                    previous, score,
                ))));
            }
            if reopen {
                let status = match conversation.assignee_id {
                    Some(_) => ConversationStatus::Assigned,
                    None => ConversationStatus::Bot,
                };
                active.status = Set(status.as_str().to_owned());
                active.resolved_at = Set(None);
            }
            if let Some(answered_id) = answered_id {
                active.last_inbound_channel_message_id = Set(Some(answered_id.clone()));
            }
            conversation = conversation::Entity::update(active).exec(&*txn).await?;
        }
        let row = message::Model {
            id: new_id(),
            org_id: org_id.to_owned(),
            conversation_id: conversation.id.clone(),
            inbox_id: inbox_id.to_owned(),
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
            channel_message_id: incoming.channel_message_id.clone(),
            delivery_status: DeliveryStatus::Received.as_str().to_owned(),
            delivery_error: None,
            sentiment: sentiment.map(i32::from),
            created_at: now,
        };
        let inserted = message::Entity::insert(message::ActiveModel::from(row.clone()))
            .on_conflict_do_nothing_on([
                message::Column::InboxId,
                message::Column::ChannelMessageId,
            ])
            .exec_without_returning(&*txn)
            .await?;
        if !matches!(inserted, TryInsertResult::Inserted(n) if n > 0) {
            // A concurrent delivery of the same message committed first: undo ours.
            txn.rollback().await?;
            let existing = self
                .by_channel_id(inbox_id, incoming)
                .await?
                .ok_or(StoreError::NotFound)?;
            return Ok(IngestOutcome::Duplicate { message: existing });
        }
        txn.commit().await?;
        Ok(IngestOutcome::Stored {
            conversation: Box::new(convert::conversation(conversation)?),
            message: convert::message(row)?,
            opened,
            reopened: reopen,
        })
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
