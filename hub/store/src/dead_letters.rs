//! Dead letters: what a channel sent, the hub acknowledged and did not store (a payload it
//! cannot read, an event of a kind it does not take), kept with the request's body (cut at
//! [`DEAD_LETTER_BODY_LIMIT`]) and the connector's reason, for an admin to list.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::OnConflict,
};
use switchboard_model::{ChannelKind, IgnoredEvent, new_id};

use crate::{Result, Store, entities::dead_letter};

/// How much of a request's body a dead letter keeps: enough for any chat platform's event,
/// bounded so that a flood of large payloads costs the database a known amount each.
pub const DEAD_LETTER_BODY_LIMIT: usize = 64 * 1024;

/// One payload acknowledged and not stored.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    pub id: String,
    pub inbox_id: String,
    pub channel: String,
    /// A [`switchboard_model::DropReason`] as its `as_str`.
    pub reason: String,
    pub detail: String,
    pub event_id: Option<String>,
    /// The body as received, cut at [`DEAD_LETTER_BODY_LIMIT`] bytes, invalid UTF-8 replaced.
    pub body: String,
    /// The body's whole length: more than `body` holds when it was cut.
    pub body_bytes: u64,
    pub created_at: DateTime<Utc>,
}

fn dead_letter(row: dead_letter::Model) -> DeadLetter {
    DeadLetter {
        id: row.id,
        inbox_id: row.inbox_id,
        channel: row.channel,
        reason: row.reason,
        detail: row.detail,
        event_id: row.event_id,
        body: row.body,
        body_bytes: u64::try_from(row.body_bytes).unwrap_or(0),
        created_at: row.created_at,
    }
}

/// The first [`DEAD_LETTER_BODY_LIMIT`] bytes as text; a character cut in two becomes U+FFFD.
fn kept_body(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(DEAD_LETTER_BODY_LIMIT)]).into_owned()
}

impl Store {
    /// Keeps what `inbox` received and did not store. Returns the dead letter's id, or `None`
    /// when the same event (its `event_id`) of the inbox is kept already: a platform's resend.
    pub async fn keep_dead_letter(
        &self,
        org_id: &str,
        inbox_id: &str,
        channel: ChannelKind,
        ignored: &IgnoredEvent,
        body: &[u8],
    ) -> Result<Option<String>> {
        let id = new_id();
        let txn = self.begin_write().await?;
        let inserted = dead_letter::Entity::insert(dead_letter::ActiveModel {
            id: Set(id.clone()),
            org_id: Set(org_id.to_owned()),
            inbox_id: Set(inbox_id.to_owned()),
            channel: Set(channel.as_str().to_owned()),
            reason: Set(ignored.reason.as_str().to_owned()),
            detail: Set(ignored.detail.chars().take(2000).collect()),
            event_id: Set(ignored
                .event_id
                .as_ref()
                .map(|id| id.chars().take(255).collect())),
            body: Set(kept_body(body)),
            body_bytes: Set(i64::try_from(body.len()).unwrap_or(i64::MAX)),
            created_at: Set(self.now()),
        })
        .on_conflict(
            OnConflict::columns([dead_letter::Column::InboxId, dead_letter::Column::EventId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&*txn)
        .await?;
        txn.commit().await?;
        Ok((inserted > 0).then_some(id))
    }

    /// Deletes the organization's dead letters kept longer than it keeps resolved
    /// conversations (`resolved_conversations_days`): raw customer input, with no counts worth
    /// keeping, so in either mode they go. Returns how many.
    pub async fn purge_expired_dead_letters(
        &self,
        org_id: &str,
        policy: &crate::RetentionPolicy,
    ) -> Result<u64> {
        let Some(days) = policy.resolved_conversations_days else {
            return Ok(0);
        };
        let before = self
            .now()
            .checked_sub_signed(chrono::Duration::days(i64::from(days)))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let txn = self.begin_write().await?;
        let deleted = dead_letter::Entity::delete_many()
            .filter(dead_letter::Column::OrgId.eq(org_id))
            .filter(dead_letter::Column::CreatedAt.lt(before))
            .exec(&*txn)
            .await?;
        txn.commit().await?;
        Ok(deleted.rows_affected)
    }

    /// The organization's dead letters, newest first, those older than the one `before`
    /// names when it is given.
    pub async fn list_dead_letters(
        &self,
        org_id: &str,
        before: Option<&str>,
        limit: u64,
    ) -> Result<Vec<DeadLetter>> {
        let mut query = dead_letter::Entity::find().filter(dead_letter::Column::OrgId.eq(org_id));
        if let Some(before) = before {
            query = query.filter(dead_letter::Column::Id.lt(before));
        }
        Ok(query
            .order_by_desc(dead_letter::Column::Id)
            .limit(limit)
            .all(self.db())
            .await?
            .into_iter()
            .map(dead_letter)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_body_is_cut_and_bad_utf8_replaced() {
        assert_eq!(kept_body(b"{\"a\":1}"), "{\"a\":1}");
        assert_eq!(kept_body(&[b'a', 0xff, b'b']), "a\u{fffd}b");
        let long = vec![b'x'; DEAD_LETTER_BODY_LIMIT + 10];
        assert_eq!(kept_body(&long).len(), DEAD_LETTER_BODY_LIMIT);
    }
}
