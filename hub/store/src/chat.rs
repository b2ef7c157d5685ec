//! What web chat needs beyond the ingest path: the conversation a visitor's thread feeds, and
//! the customer's satisfaction rating.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, sea_query::OnConflict,
};
use switchboard_model as model;

use crate::{Result, Store, StoreError, convert, entities::*};

fn csat(row: csat_response::Model) -> model::Csat {
    model::Csat {
        conversation_id: row.conversation_id,
        score: row.score,
        comment: row.comment,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// What web chat reads of a conversation when a visitor connects or resumes.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatConversation {
    pub id: String,
    pub last_seq: i64,
    pub status: model::ConversationStatus,
}

impl Store {
    /// The id of the conversation of `org_id` a channel thread feeds now (whatever its status),
    /// from the thread alone: a web-chat connection asks this on every (re)connection,
    /// thousands at once when a node dies and its visitors come to this one, and reads the
    /// conversation ([`Store::chat_conversation`]) once registered under it.
    pub async fn thread_conversation_id(
        &self,
        org_id: &str,
        inbox_id: &str,
        thread_key: &str,
    ) -> Result<Option<String>> {
        Ok(thread::Entity::find()
            .select_only()
            .column(thread::Column::ConversationId)
            .filter(thread::Column::InboxId.eq(inbox_id))
            .filter(thread::Column::ThreadKey.eq(thread_key))
            .filter(thread::Column::OrgId.eq(org_id))
            .into_tuple()
            .one(self.db())
            .await?)
    }

    /// A conversation's `seq` high-water mark and status, in one read (no labels, snooze or
    /// contact, which [`Store::conversation`] reads too).
    pub async fn chat_conversation(
        &self,
        org_id: &str,
        conversation_id: &str,
    ) -> Result<Option<ChatConversation>> {
        let row: Option<(String, i64, String)> = conversation::Entity::find()
            .select_only()
            .columns([
                conversation::Column::Id,
                conversation::Column::LastSeq,
                conversation::Column::Status,
            ])
            .filter(conversation::Column::OrgId.eq(org_id))
            .filter(conversation::Column::Id.eq(conversation_id))
            .into_tuple()
            .one(self.db())
            .await?;
        row.map(|(id, last_seq, status)| {
            Ok(ChatConversation {
                id,
                last_seq,
                status: convert::parse(&status)?,
            })
        })
        .transpose()
    }

    /// Records the customer's rating of a conversation; rating again replaces the rating.
    pub async fn record_csat(
        &self,
        org_id: &str,
        conversation_id: &str,
        score: i32,
        comment: Option<&str>,
    ) -> Result<model::Csat> {
        if !(1..=5).contains(&score) {
            return Err(StoreError::Invalid("`score` must be from 1 to 5".into()));
        }
        let conversation = self
            .conversation(org_id, conversation_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let now = self.now();
        let txn = self.begin_write().await?;
        csat_response::Entity::insert(csat_response::ActiveModel {
            conversation_id: Set(conversation.id.clone()),
            org_id: Set(org_id.to_owned()),
            contact_id: Set(conversation.contact_id.clone()),
            score: Set(score),
            comment: Set(comment.map(str::to_owned)),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .on_conflict(
            OnConflict::column(csat_response::Column::ConversationId)
                .update_columns([
                    csat_response::Column::Score,
                    csat_response::Column::Comment,
                    csat_response::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(&*txn)
        .await?;
        txn.commit().await?;
        self.csat(org_id, conversation_id)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The customer's rating of a conversation, if they gave one.
    pub async fn csat(&self, org_id: &str, conversation_id: &str) -> Result<Option<model::Csat>> {
        Ok(csat_response::Entity::find_by_id(conversation_id)
            .filter(csat_response::Column::OrgId.eq(org_id))
            .one(self.db())
            .await?
            .map(csat))
    }
}
