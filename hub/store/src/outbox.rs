//! The outbox: delivery jobs written with their messages, claimed by workers under a lease,
//! retried with backoff, and finished as sent or failed.
//!
//! A claim is a lease: a worker that dies mid-delivery leaves its job `in_flight` until
//! `locked_until` passes, then any worker takes it again, told that the claim before lapsed
//! ([`ClaimedJob::lapsed`]): the message may have gone out, and the server decides by the
//! channel whether to send it again (at least once) or not (at most once).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
    sea_query::LockBehavior,
    sea_query::LockType,
    sea_query::{Expr, ExprTrait},
};
use switchboard_model::{
    ChannelKind, ContactRef, DeliveryStatus, DeliveryUpdate, MessageRole, OutboundMessage, new_id,
};

use crate::{Result, Store, StoreError, convert, entities::*};

/// The name an AI answer is signed with on channels that show a sender's name.
pub const AI_AUTHOR_NAME: &str = "AI assistant";

const PENDING: &str = "pending";
const IN_FLIGHT: &str = "in_flight";
const DONE: &str = "done";
const FAILED: &str = "failed";

/// How often and how patiently a delivery is retried.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; after the last one fails the message is `failed`.
    pub max_attempts: u32,
    /// The wait after the first failure; each further failure doubles it, up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    /// How long to wait after failed attempt number `attempt` (1-based). A platform's
    /// `Retry-After` wins when it asks for longer.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let doubling = 2u32.saturating_pow(attempt.saturating_sub(1));
        let backoff = self.base_delay.saturating_mul(doubling).min(self.max_delay);
        retry_after.map_or(backoff, |asked| asked.max(backoff))
    }
}

/// A job a worker holds: deliver `message`, then report back.
#[derive(Clone, Debug)]
pub struct ClaimedJob {
    pub job_id: String,
    pub message: OutboundMessage,
    /// Another worker held the job before and its lease ran out without a word: it died (or
    /// could not record the outcome) after it may have handed the message to the platform.
    pub lapsed: bool,
}

/// Writes the delivery job of a message in the message's own transaction.
pub(crate) async fn enqueue(
    db: &impl ConnectionTrait,
    message: &message::Model,
    channel: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    delivery_job::Entity::insert(delivery_job::ActiveModel {
        id: Set(new_id()),
        org_id: Set(message.org_id.clone()),
        message_id: Set(message.id.clone()),
        inbox_id: Set(message.inbox_id.clone()),
        channel: Set(channel.to_owned()),
        status: Set(PENDING.to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        locked_until: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

impl Store {
    /// Takes up to `limit` due jobs on `channels` for `lease`: pending ones whose time has come
    /// and in-flight ones whose worker's lease ran out.
    pub async fn claim_jobs(
        &self,
        channels: &[ChannelKind],
        limit: u64,
        lease: Duration,
    ) -> Result<Vec<ClaimedJob>> {
        if channels.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.now();
        let txn = self.begin_write().await?;
        let due = Condition::any()
            .add(
                Condition::all()
                    .add(delivery_job::Column::Status.eq(PENDING))
                    .add(delivery_job::Column::NextAttemptAt.lte(now)),
            )
            .add(
                Condition::all()
                    .add(delivery_job::Column::Status.eq(IN_FLIGHT))
                    .add(delivery_job::Column::LockedUntil.lt(now)),
            );
        let mut select = delivery_job::Entity::find()
            .filter(due)
            .filter(delivery_job::Column::Channel.is_in(channels.iter().map(|c| c.as_str())))
            .order_by_asc(delivery_job::Column::NextAttemptAt)
            .limit(limit);
        if self.backend() == DbBackend::Postgres {
            // Several nodes claim from one table: each skips the rows another is claiming.
            select = select.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let jobs = select.all(&*txn).await?;
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let locked_until = now + chrono::Duration::from_std(lease).unwrap_or_default();
        delivery_job::Entity::update_many()
            .col_expr(delivery_job::Column::Status, Expr::value(IN_FLIGHT))
            .col_expr(delivery_job::Column::LockedUntil, Expr::value(locked_until))
            .col_expr(
                delivery_job::Column::Attempts,
                Expr::col(delivery_job::Column::Attempts).add(1),
            )
            .col_expr(delivery_job::Column::UpdatedAt, Expr::value(now))
            .filter(delivery_job::Column::Id.is_in(jobs.iter().map(|job| job.id.clone())))
            .exec(&*txn)
            .await?;
        let mut claimed = Vec::with_capacity(jobs.len());
        for job in jobs {
            let message = outbound(&*txn, &job).await?;
            claimed.push(ClaimedJob {
                lapsed: job.status == IN_FLIGHT,
                job_id: job.id,
                message,
            });
        }
        txn.commit().await?;
        Ok(claimed)
    }

    /// The channel accepted the message.
    pub async fn complete_job(
        &self,
        job: &ClaimedJob,
        channel_message_id: Option<&str>,
    ) -> Result<()> {
        let txn = self.begin_write().await?;
        // Sent either way: the message is marked so even when another worker has the job now.
        finish(&*txn, job, DONE, None, self.now()).await?;
        let mut update = message::Entity::update_many()
            .col_expr(
                message::Column::DeliveryStatus,
                Expr::value(DeliveryStatus::Sent.as_str()),
            )
            .col_expr(
                message::Column::DeliveryError,
                Expr::value(Option::<String>::None),
            );
        if let Some(channel_message_id) = channel_message_id {
            update = update.col_expr(
                message::Column::ChannelMessageId,
                Expr::value(channel_message_id),
            );
        }
        update
            .filter(message::Column::Id.eq(&job.message.message_id))
            .filter(message::Column::DeliveryStatus.eq(DeliveryStatus::Pending.as_str()))
            .exec(&*txn)
            .await?;
        txn.commit().await
    }

    /// The attempt failed but may succeed later: try again at `retry_at`.
    pub async fn retry_job(
        &self,
        job: &ClaimedJob,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> Result<()> {
        let txn = self.begin_write().await?;
        delivery_job::Entity::update_many()
            .col_expr(delivery_job::Column::Status, Expr::value(PENDING))
            .col_expr(delivery_job::Column::NextAttemptAt, Expr::value(retry_at))
            .col_expr(
                delivery_job::Column::LockedUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(delivery_job::Column::LastError, Expr::value(error))
            .col_expr(delivery_job::Column::UpdatedAt, Expr::value(self.now()))
            .filter(delivery_job::Column::Id.eq(&job.job_id))
            .filter(still_claimed(job))
            .exec(&*txn)
            .await?;
        txn.commit().await
    }

    /// The message will not be delivered: mark it `failed` with the reason, for agents to see.
    pub async fn fail_job(&self, job: &ClaimedJob, error: &str) -> Result<()> {
        let txn = self.begin_write().await?;
        // The worker that has the job now decides what becomes of the message.
        if !finish(&*txn, job, FAILED, Some(error), self.now()).await? {
            return Ok(());
        }
        message::Entity::update_many()
            .col_expr(
                message::Column::DeliveryStatus,
                Expr::value(DeliveryStatus::Failed.as_str()),
            )
            .col_expr(message::Column::DeliveryError, Expr::value(error))
            .filter(message::Column::Id.eq(&job.message.message_id))
            .exec(&*txn)
            .await?;
        txn.commit().await
    }

    /// Jobs not yet finished (pending or in flight), for metrics and tests.
    pub async fn unfinished_jobs(&self) -> Result<u64> {
        Ok(delivery_job::Entity::find()
            .filter(delivery_job::Column::Status.is_in([PENDING, IN_FLIGHT]))
            .count(self.db())
            .await?)
    }

    /// A channel reports what became of a message we sent. Statuses only move forward.
    /// Returns the updated message, or `None` when the message is unknown or the status old.
    pub async fn apply_delivery_update(
        &self,
        inbox_id: &str,
        update: &DeliveryUpdate,
    ) -> Result<Option<switchboard_model::Message>> {
        let txn = self.begin_write().await?;
        let Some(row) = message::Entity::find()
            .filter(message::Column::InboxId.eq(inbox_id))
            .filter(message::Column::ChannelMessageId.eq(&update.channel_message_id))
            .one(&*txn)
            .await?
        else {
            return Ok(None);
        };
        let current: DeliveryStatus = convert::parse(&row.delivery_status)?;
        if !current.may_become(update.status) {
            return Ok(None);
        }
        let mut active: message::ActiveModel = row.into();
        active.delivery_status = Set(update.status.as_str().to_owned());
        active.delivery_error = Set(update.error.clone());
        let row = message::Entity::update(active).exec(&*txn).await?;
        txn.commit().await?;
        convert::message(row).map(Some)
    }
}

/// Finishes the job `job` claimed, if the claim is still `job`'s: a worker whose lease ran out
/// and whose job another worker took since (the attempt count moved on) changes nothing.
/// Whether it did.
async fn finish(
    db: &impl ConnectionTrait,
    job: &ClaimedJob,
    status: &str,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let finished = delivery_job::Entity::update_many()
        .col_expr(delivery_job::Column::Status, Expr::value(status))
        .col_expr(
            delivery_job::Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            delivery_job::Column::LastError,
            Expr::value(error.map(str::to_owned)),
        )
        .col_expr(delivery_job::Column::UpdatedAt, Expr::value(now))
        .filter(delivery_job::Column::Id.eq(&job.job_id))
        .filter(still_claimed(job))
        .exec(db)
        .await?
        .rows_affected;
    if finished == 0 {
        tracing::warn!(
            job_id = %job.job_id,
            attempt = job.message.attempt,
            "a delivery job's lease ran out and another worker has it now"
        );
    }
    Ok(finished == 1)
}

/// The job is in flight under this claim (its attempt), not a later one's.
fn still_claimed(job: &ClaimedJob) -> Condition {
    Condition::all()
        .add(delivery_job::Column::Status.eq(IN_FLIGHT))
        .add(
            delivery_job::Column::Attempts
                .eq(i32::try_from(job.message.attempt).unwrap_or(i32::MAX)),
        )
}

/// Assembles what a connector needs to deliver a job's message.
async fn outbound(db: &impl ConnectionTrait, job: &delivery_job::Model) -> Result<OutboundMessage> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("delivery job {}: {what}", job.id));
    let message = message::Entity::find_by_id(&job.message_id)
        .one(db)
        .await?
        .ok_or_else(|| corrupt("no message"))?;
    let conversation = conversation::Entity::find_by_id(&message.conversation_id)
        .one(db)
        .await?
        .ok_or_else(|| corrupt("no conversation"))?;
    let contact = contact::Entity::find_by_id(&conversation.contact_id)
        .one(db)
        .await?;
    let author_name = match convert::parse::<MessageRole>(&message.role)? {
        MessageRole::Ai => Some(AI_AUTHOR_NAME.to_owned()),
        _ => match &message.author_id {
            Some(author_id) => user::Entity::find_by_id(author_id)
                .one(db)
                .await?
                .map(|user| {
                    if user.name.trim().is_empty() {
                        user.email
                    } else {
                        user.name
                    }
                }),
            None => None,
        },
    };
    let identity = contact_identity::Entity::find()
        .filter(contact_identity::Column::ContactId.eq(&conversation.contact_id))
        .filter(contact_identity::Column::Channel.eq(&conversation.channel))
        .one(db)
        .await?;
    let customer_last_message_at = message::Entity::find()
        .filter(message::Column::ConversationId.eq(&conversation.id))
        .filter(message::Column::Role.eq(switchboard_model::MessageRole::Customer.as_str()))
        .order_by_desc(message::Column::Seq)
        .one(db)
        .await?
        .map(|latest| latest.created_at);
    Ok(OutboundMessage {
        customer_last_message_at,
        channel: convert::parse(&conversation.channel)?,
        recipient: ContactRef {
            external_id: identity
                .map(|identity| identity.external_id)
                .unwrap_or_default(),
            name: contact.as_ref().and_then(|contact| contact.name.clone()),
            email: contact.as_ref().and_then(|contact| contact.email.clone()),
            phone: contact.as_ref().and_then(|contact| contact.phone.clone()),
        },
        attachments: convert::from_json(&message.attachments)?,
        files: Vec::new(),
        author_name,
        message_id: message.id,
        org_id: message.org_id,
        inbox_id: message.inbox_id,
        conversation_id: conversation.id,
        thread_key: conversation.thread_key,
        text: message.text,
        subject: conversation.subject,
        in_reply_to: conversation.last_inbound_channel_message_id,
        attempt: u32::try_from(job.attempts).unwrap_or(0) + 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_honours_retry_after() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
        };
        assert_eq!(policy.delay(1, None), Duration::from_secs(1));
        assert_eq!(policy.delay(3, None), Duration::from_secs(4));
        assert_eq!(policy.delay(30, None), Duration::from_secs(10));
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(
            policy.delay(3, Some(Duration::from_millis(1))),
            Duration::from_secs(4)
        );
    }
}
