//! The Slack agent desk's records: which Slack thread mirrors a conversation, and which Slack
//! message is which hub message. Inserting a row is how a node claims a post or a reply, so
//! that Slack's retries and other nodes never make a second one.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TryInsertResult, sea_query::Expr,
};
use switchboard_model::{self as model, new_id};

use crate::{
    NewMessage, Result, Store, StoreError, conversations::append_in, convert, entities::*,
};

/// A conversation's thread in the agent channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackMirror {
    pub org_id: String,
    pub conversation_id: String,
    /// The agent desk: the Slack inbox that posts and hears the thread.
    pub inbox_id: String,
    pub channel: String,
    /// `None` while the first post is in flight (or after it failed).
    pub thread_ts: Option<String>,
}

fn mirror(row: slack_mirror::Model) -> SlackMirror {
    SlackMirror {
        org_id: row.org_id,
        conversation_id: row.conversation_id,
        inbox_id: row.inbox_id,
        channel: row.channel,
        thread_ts: row.thread_ts,
    }
}

fn inserted(result: TryInsertResult<u64>) -> bool {
    matches!(result, TryInsertResult::Inserted(n) if n > 0)
}

impl Store {
    /// Claims the mirroring of a conversation into `channel` of the desk `inbox_id`: true for
    /// the one caller that should post the thread's first message.
    pub async fn claim_slack_mirror(
        &self,
        org_id: &str,
        conversation_id: &str,
        inbox_id: &str,
        channel: &str,
    ) -> Result<bool> {
        let result = slack_mirror::Entity::insert(slack_mirror::ActiveModel {
            conversation_id: Set(conversation_id.to_owned()),
            org_id: Set(org_id.to_owned()),
            inbox_id: Set(inbox_id.to_owned()),
            channel: Set(channel.to_owned()),
            thread_ts: Set(None),
            created_at: Set(self.now()),
        })
        .on_conflict_do_nothing_on([slack_mirror::Column::ConversationId])
        .exec_without_returning(self.db())
        .await?;
        Ok(inserted(result))
    }

    /// Records the thread Slack gave the mirror's first post.
    pub async fn set_slack_mirror_thread(
        &self,
        conversation_id: &str,
        thread_ts: &str,
    ) -> Result<()> {
        slack_mirror::Entity::update_many()
            .col_expr(slack_mirror::Column::ThreadTs, Expr::value(thread_ts))
            .filter(slack_mirror::Column::ConversationId.eq(conversation_id))
            .exec(self.db())
            .await?;
        Ok(())
    }

    /// Gives a claim back after its post failed, so that a later escalation tries again.
    pub async fn release_slack_mirror(&self, conversation_id: &str) -> Result<()> {
        slack_mirror::Entity::delete_many()
            .filter(slack_mirror::Column::ConversationId.eq(conversation_id))
            .filter(slack_mirror::Column::ThreadTs.is_null())
            .exec(self.db())
            .await?;
        Ok(())
    }

    pub async fn slack_mirror(
        &self,
        org_id: &str,
        conversation_id: &str,
    ) -> Result<Option<SlackMirror>> {
        Ok(slack_mirror::Entity::find_by_id(conversation_id)
            .filter(slack_mirror::Column::OrgId.eq(org_id))
            .one(self.db())
            .await?
            .map(mirror))
    }

    /// The mirror whose thread `thread_ts` of `channel` is, on the desk `inbox_id`.
    pub async fn slack_mirror_for_thread(
        &self,
        inbox_id: &str,
        channel: &str,
        thread_ts: &str,
    ) -> Result<Option<SlackMirror>> {
        Ok(slack_mirror::Entity::find()
            .filter(slack_mirror::Column::InboxId.eq(inbox_id))
            .filter(slack_mirror::Column::Channel.eq(channel))
            .filter(slack_mirror::Column::ThreadTs.eq(thread_ts))
            .one(self.db())
            .await?
            .map(mirror))
    }

    /// Claims the posting of hub message `message_id` into its mirror thread: `Some(claim)` for
    /// the one caller that should post it, `None` when it was posted already or came from Slack.
    pub async fn claim_slack_post(
        &self,
        mirror: &SlackMirror,
        message_id: &str,
    ) -> Result<Option<String>> {
        let claim = new_id();
        let result = slack_desk_message::Entity::insert(slack_desk_message::ActiveModel {
            id: Set(claim.clone()),
            org_id: Set(mirror.org_id.clone()),
            inbox_id: Set(mirror.inbox_id.clone()),
            conversation_id: Set(mirror.conversation_id.clone()),
            message_id: Set(Some(message_id.to_owned())),
            slack_message_id: Set(None),
            created_at: Set(self.now()),
        })
        .on_conflict_do_nothing_on([slack_desk_message::Column::MessageId])
        .exec_without_returning(self.db())
        .await?;
        Ok(inserted(result).then_some(claim))
    }

    /// Records the Slack message (`{channel}:{ts}`) a claimed post became.
    pub async fn set_slack_post_id(&self, claim: &str, slack_message_id: &str) -> Result<()> {
        slack_desk_message::Entity::update_many()
            .col_expr(
                slack_desk_message::Column::SlackMessageId,
                Expr::value(slack_message_id),
            )
            .filter(slack_desk_message::Column::Id.eq(claim))
            .exec(self.db())
            .await?;
        Ok(())
    }

    /// Stores an agent's reply or note written in a mirror thread, once per Slack message
    /// (`{channel}:{ts}`): the record of the Slack message and the hub message commit together.
    /// `None` when this Slack message was taken (or refused) before.
    pub async fn append_slack_reply(
        &self,
        mirror: &SlackMirror,
        slack_message_id: &str,
        new: NewMessage,
    ) -> Result<Option<(model::Conversation, model::Message)>> {
        let message_id = new_id();
        let txn = self.begin_write().await?;
        let claimed = insert_slack_message(
            &*txn,
            mirror,
            slack_message_id,
            Some(&message_id),
            self.now(),
        )
        .await?;
        if !claimed {
            txn.rollback().await?;
            return Ok(None);
        }
        let (conversation, row) = append_in(
            &*txn,
            &mirror.org_id,
            &mirror.conversation_id,
            &message_id,
            new,
            self.now(),
        )
        .await?;
        txn.commit().await?;
        Ok(Some((
            convert::conversation(conversation)?,
            convert::message(row)?,
        )))
    }

    /// Records a Slack message of a mirror thread that is not taken (its author is no agent):
    /// true the first time, so that it is answered once whatever Slack's retries.
    pub async fn refuse_slack_message(
        &self,
        mirror: &SlackMirror,
        slack_message_id: &str,
    ) -> Result<bool> {
        let txn = self.begin_write().await?;
        let claimed =
            insert_slack_message(&*txn, mirror, slack_message_id, None, self.now()).await?;
        txn.commit().await?;
        Ok(claimed)
    }
}

/// Inserts the record of a Slack message; false when it is there already.
async fn insert_slack_message(
    db: &impl sea_orm::ConnectionTrait,
    mirror: &SlackMirror,
    slack_message_id: &str,
    message_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool> {
    if slack_message_id.is_empty() {
        return Err(StoreError::Invalid("a Slack message needs its id".into()));
    }
    let result = slack_desk_message::Entity::insert(slack_desk_message::ActiveModel {
        id: Set(new_id()),
        org_id: Set(mirror.org_id.clone()),
        inbox_id: Set(mirror.inbox_id.clone()),
        conversation_id: Set(mirror.conversation_id.clone()),
        message_id: Set(message_id.map(str::to_owned)),
        slack_message_id: Set(Some(slack_message_id.to_owned())),
        created_at: Set(now),
    })
    .on_conflict_do_nothing_on([
        slack_desk_message::Column::InboxId,
        slack_desk_message::Column::SlackMessageId,
    ])
    .exec_without_returning(db)
    .await?;
    Ok(inserted(result))
}
