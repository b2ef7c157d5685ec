//! Helpdesk sync (Zendesk, Freshdesk): which ticket is which conversation, which remote comment
//! became or came from which message, where each inbox's poller resumes, and the leases that
//! let one node of a cluster run a job.
//!
//! Every remote comment the hub writes or takes is recorded once per inbox
//! (`helpdesk_comments`, keyed by the comment id) in the same transaction as what it did, so
//! that the same comment arriving again, by webhook or poll, on any node, does nothing.

use std::{collections::HashSet, str::FromStr, time::Duration};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, TryInsertResult,
    sea_query::{Expr, ExprTrait, OnConflict},
};
use switchboard_model::{
    self as model, ChannelKind, ConversationStatus, Priority, TicketStatus, new_id,
};

use crate::{
    NewMessage, Result, Store, StoreError, conversations::append_in, convert, entities::*,
};

/// How a ticket and its conversation are tied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketRole {
    /// The conversation is on another channel; the ticket is the escalation desk's copy.
    Desk,
    /// The ticket was opened in the helpdesk; the conversation is on the helpdesk's inbox.
    Channel,
}

impl TicketRole {
    fn as_str(self) -> &'static str {
        match self {
            TicketRole::Desk => "desk",
            TicketRole::Channel => "channel",
        }
    }
}

/// A conversation's ticket in a helpdesk inbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelpdeskTicket {
    pub id: String,
    pub org_id: String,
    pub inbox_id: String,
    pub conversation_id: String,
    pub remote_ticket_id: String,
    pub role: TicketRole,
    /// Customer messages up to this seq are on the ticket.
    pub synced_seq: i64,
    /// The ticket's status as last read or written.
    pub remote_status: TicketStatus,
    /// The ticket's priority as last read.
    pub remote_priority: Option<Priority>,
}

fn ticket(row: helpdesk_ticket::Model) -> Result<HelpdeskTicket> {
    let role = match row.role.as_str() {
        "desk" => TicketRole::Desk,
        "channel" => TicketRole::Channel,
        other => {
            return Err(StoreError::Invalid(format!(
                "unknown helpdesk ticket role `{other}`"
            )));
        }
    };
    Ok(HelpdeskTicket {
        remote_ticket_id: row.remote_ticket_id.unwrap_or_default(),
        id: row.id,
        org_id: row.org_id,
        inbox_id: row.inbox_id,
        conversation_id: row.conversation_id,
        role,
        synced_seq: row.synced_seq,
        remote_status: TicketStatus::from_str(&row.remote_status).unwrap_or(TicketStatus::Open),
        remote_priority: row
            .remote_priority
            .as_deref()
            .and_then(|p| Priority::from_str(p).ok()),
    })
}

fn inserted(result: TryInsertResult<u64>) -> bool {
    matches!(result, TryInsertResult::Inserted(rows) if rows > 0)
}

/// A ticket the hub opened, to record.
#[derive(Clone, Debug)]
pub struct OpenedTicket<'a> {
    pub org_id: &'a str,
    pub inbox_id: &'a str,
    pub conversation_id: &'a str,
    pub remote_ticket_id: &'a str,
    pub role: TicketRole,
    pub synced_seq: i64,
    pub status: TicketStatus,
    /// Comments the create wrote: never taken as new.
    pub comment_ids: &'a [String],
}

impl Store {
    /// Takes (or keeps) the lease `name` for `holder` until `ttl` from now. Answers its fencing
    /// token, which grows each time the lease changes hands, or `None` while another holder's
    /// lease runs.
    pub async fn take_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<Option<i64>> {
        let now = self.now();
        let until = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(60));
        let txn = self.begin_write().await?;
        let taken = lease::Entity::insert(lease::ActiveModel {
            name: Set(name.to_owned()),
            holder: Set(holder.to_owned()),
            expires_at: Set(until),
            token: Set(1),
        })
        .on_conflict_do_nothing_on([lease::Column::Name])
        .exec_without_returning(&*txn)
        .await?;
        if !inserted(taken) {
            let current = lease::Entity::find_by_id(name)
                .one(&*txn)
                .await?
                .ok_or(StoreError::NotFound)?;
            let renew = current.holder == holder;
            if !renew && current.expires_at > now {
                txn.rollback().await?;
                return Ok(None);
            }
            let token = if renew {
                current.token
            } else {
                current.token + 1
            };
            // Only if the row is still as read: another node may have taken it meanwhile.
            let updated = lease::Entity::update_many()
                .col_expr(lease::Column::Holder, Expr::value(holder))
                .col_expr(lease::Column::ExpiresAt, Expr::value(until))
                .col_expr(lease::Column::Token, Expr::value(token))
                .filter(lease::Column::Name.eq(name))
                .filter(lease::Column::Token.eq(current.token))
                .filter(lease::Column::Holder.eq(current.holder.as_str()))
                .exec(&*txn)
                .await?;
            txn.commit().await?;
            return Ok((updated.rows_affected == 1).then_some(token));
        }
        txn.commit().await?;
        Ok(Some(1))
    }

    /// Gives a lease up, when `holder` has it.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        let txn = self.begin_write().await?;
        lease::Entity::delete_many()
            .filter(lease::Column::Name.eq(name))
            .filter(lease::Column::Holder.eq(holder))
            .exec(&*txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Where the poller of a helpdesk inbox resumes.
    pub async fn helpdesk_cursor(&self, inbox_id: &str) -> Result<Option<String>> {
        Ok(helpdesk_cursor::Entity::find_by_id(inbox_id)
            .one(self.db())
            .await?
            .map(|row| row.cursor))
    }

    pub async fn set_helpdesk_cursor(&self, inbox_id: &str, cursor: &str) -> Result<()> {
        let txn = self.begin_write().await?;
        helpdesk_cursor::Entity::insert(helpdesk_cursor::ActiveModel {
            inbox_id: Set(inbox_id.to_owned()),
            cursor: Set(cursor.to_owned()),
            updated_at: Set(self.now()),
        })
        .on_conflict(
            OnConflict::column(helpdesk_cursor::Column::InboxId)
                .update_columns([
                    helpdesk_cursor::Column::Cursor,
                    helpdesk_cursor::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(&*txn)
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// The conversation a remote ticket of an inbox is.
    pub async fn helpdesk_ticket(
        &self,
        inbox_id: &str,
        remote_ticket_id: &str,
    ) -> Result<Option<HelpdeskTicket>> {
        helpdesk_ticket::Entity::find()
            .filter(helpdesk_ticket::Column::InboxId.eq(inbox_id))
            .filter(helpdesk_ticket::Column::RemoteTicketId.eq(remote_ticket_id))
            .one(self.db())
            .await?
            .map(ticket)
            .transpose()
    }

    /// The ticket of a conversation in a helpdesk inbox.
    pub async fn helpdesk_ticket_of(
        &self,
        inbox_id: &str,
        conversation_id: &str,
    ) -> Result<Option<HelpdeskTicket>> {
        helpdesk_ticket::Entity::find()
            .filter(helpdesk_ticket::Column::InboxId.eq(inbox_id))
            .filter(helpdesk_ticket::Column::ConversationId.eq(conversation_id))
            .one(self.db())
            .await?
            .map(ticket)
            .transpose()
    }

    /// Conversations of the organization waiting for a human, on any channel but the
    /// helpdesks, changed since `since`, that have no ticket in the desk inbox yet: oldest first.
    pub async fn desk_conversations_to_open(
        &self,
        org_id: &str,
        inbox_id: &str,
        since: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<model::Conversation>> {
        let has_ticket = helpdesk_ticket::Entity::find()
            .select_only()
            .column(helpdesk_ticket::Column::ConversationId)
            .filter(helpdesk_ticket::Column::InboxId.eq(inbox_id))
            .into_query();
        conversation::Entity::find()
            .filter(conversation::Column::OrgId.eq(org_id))
            .filter(conversation::Column::Status.is_in([
                ConversationStatus::Escalated.as_str(),
                ConversationStatus::Assigned.as_str(),
            ]))
            .filter(conversation::Column::Channel.is_not_in([
                ChannelKind::Zendesk.as_str(),
                ChannelKind::Freshdesk.as_str(),
            ]))
            .filter(conversation::Column::UpdatedAt.gte(since))
            .filter(conversation::Column::Id.not_in_subquery(has_ticket))
            .order_by_asc(conversation::Column::UpdatedAt)
            .limit(limit)
            .all(self.db())
            .await?
            .into_iter()
            .map(convert::conversation)
            .collect()
    }

    /// Records a ticket the hub opened (or a follow-up that replaces a closed one) with the
    /// comments its create wrote, in one transaction.
    pub async fn record_helpdesk_ticket(&self, opened: OpenedTicket<'_>) -> Result<HelpdeskTicket> {
        let now = self.now();
        let txn = self.begin_write().await?;
        helpdesk_ticket::Entity::insert(helpdesk_ticket::ActiveModel {
            id: Set(new_id()),
            org_id: Set(opened.org_id.to_owned()),
            inbox_id: Set(opened.inbox_id.to_owned()),
            conversation_id: Set(opened.conversation_id.to_owned()),
            remote_ticket_id: Set(Some(opened.remote_ticket_id.to_owned())),
            role: Set(opened.role.as_str().to_owned()),
            synced_seq: Set(opened.synced_seq),
            remote_status: Set(opened.status.as_str().to_owned()),
            remote_priority: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .on_conflict(
            OnConflict::columns([
                helpdesk_ticket::Column::InboxId,
                helpdesk_ticket::Column::ConversationId,
            ])
            .update_columns([
                helpdesk_ticket::Column::RemoteTicketId,
                helpdesk_ticket::Column::SyncedSeq,
                helpdesk_ticket::Column::RemoteStatus,
                helpdesk_ticket::Column::UpdatedAt,
            ])
            .to_owned(),
        )
        .exec_without_returning(&*txn)
        .await?;
        for comment_id in opened.comment_ids {
            insert_comment(
                &*txn,
                opened.inbox_id,
                opened.conversation_id,
                comment_id,
                None,
                now,
            )
            .await?;
        }
        let row = helpdesk_ticket::Entity::find()
            .filter(helpdesk_ticket::Column::InboxId.eq(opened.inbox_id))
            .filter(helpdesk_ticket::Column::ConversationId.eq(opened.conversation_id))
            .one(&*txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        txn.commit().await?;
        ticket(row)
    }

    /// Records that the helpdesk refused a conversation's ticket for good: it is not asked
    /// again.
    pub async fn refuse_helpdesk_ticket(
        &self,
        org_id: &str,
        inbox_id: &str,
        conversation_id: &str,
    ) -> Result<()> {
        let now = self.now();
        let txn = self.begin_write().await?;
        helpdesk_ticket::Entity::insert(helpdesk_ticket::ActiveModel {
            id: Set(new_id()),
            org_id: Set(org_id.to_owned()),
            inbox_id: Set(inbox_id.to_owned()),
            conversation_id: Set(conversation_id.to_owned()),
            remote_ticket_id: Set(None),
            role: Set(TicketRole::Desk.as_str().to_owned()),
            synced_seq: Set(0),
            remote_status: Set(TicketStatus::Closed.as_str().to_owned()),
            remote_priority: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .on_conflict_do_nothing_on([
            helpdesk_ticket::Column::InboxId,
            helpdesk_ticket::Column::ConversationId,
        ])
        .exec_without_returning(&*txn)
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// The inbox's tickets whose conversation moved since the last sync: messages after
    /// `synced_seq`, or resolved while the ticket is not. Oldest change first.
    pub async fn desk_tickets_to_sync(
        &self,
        inbox_id: &str,
        limit: u64,
    ) -> Result<Vec<(HelpdeskTicket, model::Conversation)>> {
        let of_conversation = helpdesk_ticket::Entity::belongs_to(conversation::Entity)
            .from(helpdesk_ticket::Column::ConversationId)
            .to(conversation::Column::Id)
            .into();
        let done = [TicketStatus::Solved.as_str(), TicketStatus::Closed.as_str()];
        let resolved = [
            ConversationStatus::Resolved.as_str(),
            ConversationStatus::Closed.as_str(),
        ];
        let rows = helpdesk_ticket::Entity::find()
            .join(JoinType::InnerJoin, of_conversation)
            .select_also(conversation::Entity)
            .filter(helpdesk_ticket::Column::InboxId.eq(inbox_id))
            .filter(helpdesk_ticket::Column::RemoteTicketId.is_not_null())
            .filter(
                sea_orm::Condition::any()
                    .add(
                        Expr::col((conversation::Entity, conversation::Column::LastSeq)).gt(
                            Expr::col((
                                helpdesk_ticket::Entity,
                                helpdesk_ticket::Column::SyncedSeq,
                            )),
                        ),
                    )
                    .add(
                        sea_orm::Condition::all()
                            .add(conversation::Column::Status.is_in(resolved))
                            .add(helpdesk_ticket::Column::RemoteStatus.is_not_in(done)),
                    ),
            )
            .order_by_asc(conversation::Column::UpdatedAt)
            .limit(limit)
            .all(self.db())
            .await?;
        rows.into_iter()
            .filter_map(|(row, conversation)| conversation.map(|conversation| (row, conversation)))
            .map(|(row, conversation)| Ok((ticket(row)?, convert::conversation(conversation)?)))
            .collect()
    }

    /// A conversation's messages after `seq`, in order.
    pub async fn messages_after(
        &self,
        conversation_id: &str,
        seq: i64,
    ) -> Result<Vec<model::Message>> {
        message::Entity::find()
            .filter(message::Column::ConversationId.eq(conversation_id))
            .filter(message::Column::Seq.gt(seq))
            .order_by_asc(message::Column::Seq)
            .all(self.db())
            .await?
            .into_iter()
            .map(convert::message)
            .collect()
    }

    /// Records what a sync wrote to a ticket: the comment it added (when it added one, with the
    /// last message it carries), how far the conversation is on the ticket, and the ticket's
    /// status. One transaction.
    pub async fn record_desk_sync(
        &self,
        ticket: &HelpdeskTicket,
        comments: &[(String, Option<String>)],
        synced_seq: i64,
        status: TicketStatus,
    ) -> Result<()> {
        let now = self.now();
        let txn = self.begin_write().await?;
        for (comment_id, message_id) in comments {
            insert_comment(
                &*txn,
                &ticket.inbox_id,
                &ticket.conversation_id,
                comment_id,
                message_id.as_deref(),
                now,
            )
            .await?;
        }
        helpdesk_ticket::Entity::update_many()
            .col_expr(
                helpdesk_ticket::Column::SyncedSeq,
                Expr::value(Ord::max(synced_seq, ticket.synced_seq)),
            )
            .col_expr(
                helpdesk_ticket::Column::RemoteStatus,
                Expr::value(status.as_str()),
            )
            .col_expr(helpdesk_ticket::Column::UpdatedAt, Expr::value(now))
            .filter(helpdesk_ticket::Column::Id.eq(ticket.id.as_str()))
            .exec(&*txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Which of these remote comments of an inbox the hub has written or taken: recorded by the
    /// sync, or the channel message id of a message of the inbox (a reply the outbox delivered
    /// as a comment, a customer comment ingested).
    pub async fn known_helpdesk_comments(
        &self,
        inbox_id: &str,
        comment_ids: &[&str],
    ) -> Result<HashSet<String>> {
        if comment_ids.is_empty() {
            return Ok(HashSet::new());
        }
        let mut known: HashSet<String> = helpdesk_comment::Entity::find()
            .select_only()
            .column(helpdesk_comment::Column::RemoteCommentId)
            .filter(helpdesk_comment::Column::InboxId.eq(inbox_id))
            .filter(helpdesk_comment::Column::RemoteCommentId.is_in(comment_ids.iter().copied()))
            .into_tuple::<String>()
            .all(self.db())
            .await?
            .into_iter()
            .collect();
        known.extend(
            message::Entity::find()
                .select_only()
                .column(message::Column::ChannelMessageId)
                .filter(message::Column::InboxId.eq(inbox_id))
                .filter(message::Column::ChannelMessageId.is_in(comment_ids.iter().copied()))
                .into_tuple::<Option<String>>()
                .all(self.db())
                .await?
                .into_iter()
                .flatten(),
        );
        Ok(known)
    }

    /// Which of these messages of an inbox's conversations came from the helpdesk (a comment
    /// taken) or were written to it: never to be written again.
    pub async fn helpdesk_messages(
        &self,
        inbox_id: &str,
        message_ids: &[&str],
    ) -> Result<HashSet<String>> {
        if message_ids.is_empty() {
            return Ok(HashSet::new());
        }
        Ok(helpdesk_comment::Entity::find()
            .select_only()
            .column(helpdesk_comment::Column::MessageId)
            .filter(helpdesk_comment::Column::InboxId.eq(inbox_id))
            .filter(helpdesk_comment::Column::MessageId.is_in(message_ids.iter().copied()))
            .into_tuple::<Option<String>>()
            .all(self.db())
            .await?
            .into_iter()
            .flatten()
            .collect())
    }

    /// Takes a helpdesk agent's comment into the ticket's conversation, once per comment: the
    /// record of the comment and the message commit together. A public one goes to the
    /// customer on their channel (through the outbox); a private one is a note. `None` when
    /// the comment was taken before.
    pub async fn append_helpdesk_comment(
        &self,
        ticket: &HelpdeskTicket,
        remote_comment_id: &str,
        new: NewMessage,
    ) -> Result<Option<(model::Conversation, model::Message)>> {
        let message_id = new_id();
        let now = self.now();
        let txn = self.begin_write().await?;
        if !insert_comment(
            &*txn,
            &ticket.inbox_id,
            &ticket.conversation_id,
            remote_comment_id,
            Some(&message_id),
            now,
        )
        .await?
        {
            txn.rollback().await?;
            return Ok(None);
        }
        let (conversation, row) = append_in(
            &*txn,
            &ticket.org_id,
            &ticket.conversation_id,
            &message_id,
            new,
            now,
        )
        .await?;
        // The helpdesk's own words are on the ticket already: nothing of them to sync back.
        helpdesk_ticket::Entity::update_many()
            .col_expr(
                helpdesk_ticket::Column::SyncedSeq,
                Expr::value(conversation.last_seq),
            )
            .filter(helpdesk_ticket::Column::Id.eq(ticket.id.as_str()))
            .filter(helpdesk_ticket::Column::SyncedSeq.eq(conversation.last_seq - 1))
            .exec(&*txn)
            .await?;
        txn.commit().await?;
        Ok(Some((
            convert::conversation(conversation)?,
            convert::message(row)?,
        )))
    }

    /// Records a remote comment taken as nothing (the integration's own, or not for the hub):
    /// true the first time.
    pub async fn skip_helpdesk_comment(
        &self,
        inbox_id: &str,
        conversation_id: &str,
        remote_comment_id: &str,
    ) -> Result<bool> {
        let txn = self.begin_write().await?;
        let taken = insert_comment(
            &*txn,
            inbox_id,
            conversation_id,
            remote_comment_id,
            None,
            self.now(),
        )
        .await?;
        txn.commit().await?;
        Ok(taken)
    }

    /// Notes the status and priority a ticket was read with.
    pub async fn set_helpdesk_ticket_read(
        &self,
        ticket: &HelpdeskTicket,
        status: TicketStatus,
        priority: Option<Priority>,
    ) -> Result<()> {
        let txn = self.begin_write().await?;
        helpdesk_ticket::Entity::update_many()
            .col_expr(
                helpdesk_ticket::Column::RemoteStatus,
                Expr::value(status.as_str()),
            )
            .col_expr(
                helpdesk_ticket::Column::RemotePriority,
                Expr::value(priority.map(|p| p.as_str())),
            )
            .col_expr(helpdesk_ticket::Column::UpdatedAt, Expr::value(self.now()))
            .filter(helpdesk_ticket::Column::Id.eq(ticket.id.as_str()))
            .exec(&*txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }
}

/// Records a remote comment; false when it is recorded already.
async fn insert_comment(
    db: &impl ConnectionTrait,
    inbox_id: &str,
    conversation_id: &str,
    remote_comment_id: &str,
    message_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool> {
    if remote_comment_id.is_empty() {
        return Err(StoreError::Invalid(
            "a helpdesk comment needs its id".into(),
        ));
    }
    let result = helpdesk_comment::Entity::insert(helpdesk_comment::ActiveModel {
        inbox_id: Set(inbox_id.to_owned()),
        remote_comment_id: Set(remote_comment_id.to_owned()),
        conversation_id: Set(conversation_id.to_owned()),
        message_id: Set(message_id.map(str::to_owned)),
        created_at: Set(now),
    })
    .on_conflict_do_nothing_on([
        helpdesk_comment::Column::InboxId,
        helpdesk_comment::Column::RemoteCommentId,
    ])
    .exec_without_returning(db)
    .await?;
    Ok(inserted(result))
}
