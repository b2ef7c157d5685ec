//! Signed outbound webhooks: an organization's subscriptions and the durable queue of their
//! deliveries, claimed by workers under a lease and retried with backoff like the outbox
//! (`outbox.rs`).
//!
//! A delivery's body is written once, when the event is queued, and sent unchanged on every
//! attempt; only the signature's timestamp changes. Delivery is at least once: a worker that
//! dies mid-request leaves its lease to expire and another sends it again with the same `id`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::RngCore;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
    sea_query::{Expr, ExprTrait, LockBehavior, LockType, OnConflict},
};
use serde_json::{Value, json};
use switchboard_model::new_id;

use crate::{Result, Store, StoreError, entities::*, sealing::SecretKeys};

/// The events an organization may subscribe to.
pub const WEBHOOK_EVENTS: &[&str] = &[
    "message.created",
    "conversation.escalated",
    "conversation.assigned",
    "conversation.resolved",
    "conversation.reopened",
    "csat.submitted",
];

const PENDING: &str = "pending";
const IN_FLIGHT: &str = "in_flight";
const DELIVERED: &str = "delivered";
const DEAD: &str = "dead";

/// A URL an organization subscribed to some events.
#[derive(Clone, Debug)]
pub struct WebhookSubscription {
    pub id: String,
    pub org_id: String,
    pub url: String,
    pub events: Vec<String>,
    /// The signing secret, which the API shows once, when the subscription is created.
    pub secret: String,
    pub created_at: DateTime<Utc>,
}

/// One event queued for one subscription, as the delivery log shows it.
#[derive(Clone, Debug)]
pub struct WebhookDelivery {
    pub id: String,
    pub subscription_id: String,
    pub event: String,
    /// `pending`, `in_flight`, `delivered` or `dead`.
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The delivery this one sends again, when an admin replayed it.
    pub replay_of: Option<String>,
}

/// A delivery a worker holds: send `body` to `url`, signed with `secret`, then report back.
#[derive(Clone, Debug)]
pub struct ClaimedWebhook {
    pub delivery_id: String,
    pub org_id: String,
    pub url: String,
    pub secret: String,
    pub body: String,
    /// 1 on the first try.
    pub attempt: u32,
}

/// What became of one attempt.
#[derive(Clone, Debug)]
pub enum WebhookOutcome {
    Delivered {
        status_code: u16,
    },
    /// Try again at `retry_at`.
    Retry {
        status_code: Option<u16>,
        error: String,
        retry_at: DateTime<Utc>,
    },
    /// Give up: a permanent refusal, or the last attempt failed.
    Dead {
        status_code: Option<u16>,
        error: String,
    },
}

/// The field a subscription's signing secret is sealed for (`sealing.rs`).
pub(crate) const SECRET_FIELD: &str = "webhook_secret";

fn subscription(
    keys: &SecretKeys,
    row: webhook_subscription::Model,
) -> Result<WebhookSubscription> {
    let events: Vec<String> = serde_json::from_str(&row.events)
        .map_err(|err| StoreError::Corrupt(format!("webhook {} events: {err}", row.id)))?;
    Ok(WebhookSubscription {
        secret: keys
            .open(SECRET_FIELD, &row.secret)
            .map_err(|err| StoreError::Corrupt(format!("webhook {}: {err}", row.id)))?,
        id: row.id,
        org_id: row.org_id,
        url: row.url,
        events,
        created_at: row.created_at,
    })
}

fn delivery(row: webhook_delivery::Model) -> WebhookDelivery {
    WebhookDelivery {
        id: row.id,
        subscription_id: row.subscription_id,
        event: row.event,
        status: row.status,
        attempts: u32::try_from(row.attempts).unwrap_or(0),
        next_attempt_at: row.next_attempt_at,
        last_status_code: row
            .last_status_code
            .and_then(|code| u16::try_from(code).ok()),
        last_error: row.last_error,
        created_at: row.created_at,
        updated_at: row.updated_at,
        replay_of: row.replay_of,
    }
}

fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", hex::encode(bytes))
}

/// Deletes the queued deliveries about `conversation_ids` and their announced statuses: they
/// hold what the customer wrote. Used when a contact is erased.
pub(crate) async fn forget_conversations(
    db: &impl ConnectionTrait,
    conversation_ids: &[String],
) -> Result<()> {
    if conversation_ids.is_empty() {
        return Ok(());
    }
    webhook_delivery::Entity::delete_many()
        .filter(webhook_delivery::Column::ConversationId.is_in(conversation_ids.iter().cloned()))
        .exec(db)
        .await?;
    webhook_conversation_state::Entity::delete_many()
        .filter(
            webhook_conversation_state::Column::ConversationId
                .is_in(conversation_ids.iter().cloned()),
        )
        .exec(db)
        .await?;
    Ok(())
}

impl Store {
    /// Subscribes `url` to `events` (names from [`WEBHOOK_EVENTS`], checked by the caller)
    /// with a new signing secret.
    pub async fn create_webhook(
        &self,
        org_id: &str,
        url: &str,
        events: &[String],
    ) -> Result<WebhookSubscription> {
        let now = self.now();
        let row = webhook_subscription::Model {
            id: new_id(),
            org_id: org_id.to_owned(),
            url: url.to_owned(),
            events: serde_json::to_string(events)
                .map_err(|err| StoreError::Invalid(err.to_string()))?,
            secret: new_secret(),
            created_at: now,
        };
        let txn = self.begin_write().await?;
        webhook_subscription::Entity::insert(webhook_subscription::ActiveModel {
            id: Set(row.id.clone()),
            org_id: Set(row.org_id.clone()),
            url: Set(row.url.clone()),
            events: Set(row.events.clone()),
            secret: Set(self.keys.seal(SECRET_FIELD, &row.secret)),
            created_at: Set(row.created_at),
        })
        .exec_without_returning(&*txn)
        .await?;
        txn.commit().await?;
        subscription(&self.keys, row)
    }

    /// The organization's subscriptions, oldest first.
    pub async fn list_webhooks(&self, org_id: &str) -> Result<Vec<WebhookSubscription>> {
        webhook_subscription::Entity::find()
            .filter(webhook_subscription::Column::OrgId.eq(org_id))
            .order_by_asc(webhook_subscription::Column::Id)
            .all(self.db())
            .await?
            .into_iter()
            .map(|row| subscription(&self.keys, row))
            .collect()
    }

    /// Deletes a subscription and the deliveries still queued for it. `NotFound` when the
    /// organization has no such subscription.
    pub async fn delete_webhook(&self, org_id: &str, id: &str) -> Result<()> {
        let txn = self.begin_write().await?;
        let deleted = webhook_subscription::Entity::delete_many()
            .filter(webhook_subscription::Column::OrgId.eq(org_id))
            .filter(webhook_subscription::Column::Id.eq(id))
            .exec(&*txn)
            .await?;
        if deleted.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        webhook_delivery::Entity::delete_many()
            .filter(webhook_delivery::Column::SubscriptionId.eq(id))
            .exec(&*txn)
            .await?;
        txn.commit().await
    }

    /// A subscription's deliveries, newest first. `NotFound` when the organization has no
    /// such subscription.
    pub async fn list_webhook_deliveries(
        &self,
        org_id: &str,
        subscription_id: &str,
        limit: u64,
    ) -> Result<Vec<WebhookDelivery>> {
        webhook_subscription::Entity::find()
            .filter(webhook_subscription::Column::OrgId.eq(org_id))
            .filter(webhook_subscription::Column::Id.eq(subscription_id))
            .one(self.db())
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::OrgId.eq(org_id))
            .filter(webhook_delivery::Column::SubscriptionId.eq(subscription_id))
            .order_by_desc(webhook_delivery::Column::Id)
            .limit(limit)
            .all(self.db())
            .await?
            .into_iter()
            .map(delivery)
            .collect())
    }

    /// Queues a delivery of the subscription again: a new one, due now, with the same body
    /// (the same event: its `id` and `created_at` unchanged, so that a receiver that took it
    /// once can tell), which the workers sign afresh when they send it. `NotFound` when the
    /// organization's subscription has no such delivery; `Conflict` while the delivery is
    /// still queued or being sent, when a replay would only send it twice.
    pub async fn replay_webhook_delivery(
        &self,
        org_id: &str,
        subscription_id: &str,
        delivery_id: &str,
    ) -> Result<WebhookDelivery> {
        let now = self.now();
        let txn = self.begin_write().await?;
        let original = webhook_delivery::Entity::find_by_id(delivery_id)
            .filter(webhook_delivery::Column::OrgId.eq(org_id))
            .filter(webhook_delivery::Column::SubscriptionId.eq(subscription_id))
            .one(&*txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        if original.status == PENDING || original.status == IN_FLIGHT {
            return Err(StoreError::Conflict(format!(
                "the delivery is still {}: it will be sent without a replay",
                original.status
            )));
        }
        let replay = webhook_delivery::Model {
            id: new_id(),
            status: PENDING.to_owned(),
            attempts: 0,
            next_attempt_at: now,
            locked_until: None,
            last_status_code: None,
            last_error: None,
            created_at: now,
            updated_at: now,
            replay_of: Some(original.id.clone()),
            ..original
        };
        webhook_delivery::Entity::insert(webhook_delivery::ActiveModel::from(replay.clone()))
            .exec_without_returning(&*txn)
            .await?;
        txn.commit().await?;
        Ok(delivery(replay))
    }

    /// Whether the organization has any subscription, so that events of organizations
    /// without one cost one indexed read.
    pub async fn has_webhooks(&self, org_id: &str) -> Result<bool> {
        Ok(webhook_subscription::Entity::find()
            .filter(webhook_subscription::Column::OrgId.eq(org_id))
            .one(self.db())
            .await?
            .is_some())
    }

    /// Records that a conversation now has `status`. Returns the status it was last
    /// recorded with (`Some(None)`: never), or `None` when it already had this one: the
    /// change was a priority, a team or an SLA breach, not a transition. Conditional writes,
    /// so that of two nodes recording the same transition one sees it.
    pub async fn note_conversation_status(
        &self,
        org_id: &str,
        conversation_id: &str,
        status: &str,
    ) -> Result<Option<Option<String>>> {
        let txn = self.begin_write().await?;
        let previous = webhook_conversation_state::Entity::find_by_id(conversation_id)
            .filter(webhook_conversation_state::Column::OrgId.eq(org_id))
            .one(&*txn)
            .await?;
        let changed = match &previous {
            Some(_) => {
                webhook_conversation_state::Entity::update_many()
                    .col_expr(
                        webhook_conversation_state::Column::Status,
                        Expr::value(status),
                    )
                    .filter(webhook_conversation_state::Column::ConversationId.eq(conversation_id))
                    .filter(webhook_conversation_state::Column::Status.ne(status))
                    .exec(&*txn)
                    .await?
                    .rows_affected
            }
            None => {
                webhook_conversation_state::Entity::insert(
                    webhook_conversation_state::ActiveModel {
                        conversation_id: Set(conversation_id.to_owned()),
                        org_id: Set(org_id.to_owned()),
                        status: Set(status.to_owned()),
                    },
                )
                .on_conflict(
                    OnConflict::column(webhook_conversation_state::Column::ConversationId)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(&*txn)
                .await?
            }
        };
        txn.commit().await?;
        Ok((changed > 0).then(|| previous.map(|row| row.status)))
    }

    /// Queues `event` with `data` for every subscription of the organization that asked for
    /// it, in one transaction. Returns how many deliveries were queued.
    pub async fn enqueue_webhook_event(
        &self,
        org_id: &str,
        event: &str,
        conversation_id: Option<&str>,
        data: Value,
    ) -> Result<usize> {
        let subscribers: Vec<WebhookSubscription> = self
            .list_webhooks(org_id)
            .await?
            .into_iter()
            .filter(|subscription| subscription.events.iter().any(|name| name == event))
            .collect();
        if subscribers.is_empty() {
            return Ok(0);
        }
        let now = self.now();
        let rows: Vec<webhook_delivery::ActiveModel> = subscribers
            .iter()
            .map(|subscription| {
                let id = new_id();
                let body = json!({
                    "event": event,
                    "data": data,
                    "id": id,
                    "created_at": now,
                });
                webhook_delivery::ActiveModel {
                    id: Set(id),
                    org_id: Set(org_id.to_owned()),
                    subscription_id: Set(subscription.id.clone()),
                    event: Set(event.to_owned()),
                    conversation_id: Set(conversation_id.map(str::to_owned)),
                    body: Set(body.to_string()),
                    status: Set(PENDING.to_owned()),
                    attempts: Set(0),
                    next_attempt_at: Set(now),
                    locked_until: Set(None),
                    last_status_code: Set(None),
                    last_error: Set(None),
                    created_at: Set(now),
                    updated_at: Set(now),
                    replay_of: Set(None),
                }
            })
            .collect();
        let queued = rows.len();
        let txn = self.begin_write().await?;
        webhook_delivery::Entity::insert_many(rows)
            .exec_without_returning(&*txn)
            .await?;
        txn.commit().await?;
        Ok(queued)
    }

    /// Takes up to `limit` due deliveries for `lease`: pending ones whose time has come and
    /// in-flight ones whose worker's lease ran out. On PostgreSQL the rows another node is
    /// claiming are skipped, so each delivery is sent by one node at a time.
    pub async fn claim_webhook_deliveries(
        &self,
        limit: u64,
        lease: Duration,
    ) -> Result<Vec<ClaimedWebhook>> {
        let now = self.now();
        let txn = self.begin_write().await?;
        let due = Condition::any()
            .add(
                Condition::all()
                    .add(webhook_delivery::Column::Status.eq(PENDING))
                    .add(webhook_delivery::Column::NextAttemptAt.lte(now)),
            )
            .add(
                Condition::all()
                    .add(webhook_delivery::Column::Status.eq(IN_FLIGHT))
                    .add(webhook_delivery::Column::LockedUntil.lt(now)),
            );
        let mut select = webhook_delivery::Entity::find()
            .filter(due)
            .order_by_asc(webhook_delivery::Column::NextAttemptAt)
            .limit(limit);
        if self.backend() == DbBackend::Postgres {
            select = select.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let rows = select.all(&*txn).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let locked_until = now + chrono::Duration::from_std(lease).unwrap_or_default();
        webhook_delivery::Entity::update_many()
            .col_expr(webhook_delivery::Column::Status, Expr::value(IN_FLIGHT))
            .col_expr(
                webhook_delivery::Column::LockedUntil,
                Expr::value(locked_until),
            )
            .col_expr(
                webhook_delivery::Column::Attempts,
                Expr::col(webhook_delivery::Column::Attempts).add(1),
            )
            .col_expr(webhook_delivery::Column::UpdatedAt, Expr::value(now))
            .filter(webhook_delivery::Column::Id.is_in(rows.iter().map(|row| row.id.clone())))
            .exec(&*txn)
            .await?;
        let subscriptions: Vec<webhook_subscription::Model> = webhook_subscription::Entity::find()
            .filter(
                webhook_subscription::Column::Id
                    .is_in(rows.iter().map(|row| row.subscription_id.clone())),
            )
            .all(&*txn)
            .await?;
        txn.commit().await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            let attempt = u32::try_from(row.attempts).unwrap_or(0) + 1;
            match subscriptions
                .iter()
                .find(|subscription| subscription.id == row.subscription_id)
            {
                Some(subscription) => claimed.push(ClaimedWebhook {
                    secret: self
                        .keys
                        .open(SECRET_FIELD, &subscription.secret)
                        .map_err(|err| {
                            StoreError::Corrupt(format!("webhook {}: {err}", subscription.id))
                        })?,
                    delivery_id: row.id,
                    org_id: row.org_id,
                    url: subscription.url.clone(),
                    body: row.body,
                    attempt,
                }),
                // Deleted meanwhile: nothing to send it to.
                None => {
                    self.finish_webhook_delivery(
                        &row.id,
                        WebhookOutcome::Dead {
                            status_code: None,
                            error: "the subscription no longer exists".into(),
                        },
                    )
                    .await?
                }
            }
        }
        Ok(claimed)
    }

    /// Records what became of an attempt.
    pub async fn finish_webhook_delivery(
        &self,
        delivery_id: &str,
        outcome: WebhookOutcome,
    ) -> Result<()> {
        let now = self.now();
        let (status, status_code, error, next_attempt_at) = match outcome {
            WebhookOutcome::Delivered { status_code } => (DELIVERED, Some(status_code), None, None),
            WebhookOutcome::Retry {
                status_code,
                error,
                retry_at,
            } => (PENDING, status_code, Some(error), Some(retry_at)),
            WebhookOutcome::Dead { status_code, error } => (DEAD, status_code, Some(error), None),
        };
        let mut update = webhook_delivery::Entity::update_many()
            .col_expr(webhook_delivery::Column::Status, Expr::value(status))
            .col_expr(
                webhook_delivery::Column::LockedUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(
                webhook_delivery::Column::LastStatusCode,
                Expr::value(status_code.map(i32::from)),
            )
            .col_expr(webhook_delivery::Column::LastError, Expr::value(error))
            .col_expr(webhook_delivery::Column::UpdatedAt, Expr::value(now));
        if let Some(next_attempt_at) = next_attempt_at {
            update = update.col_expr(
                webhook_delivery::Column::NextAttemptAt,
                Expr::value(next_attempt_at),
            );
        }
        let txn = self.begin_write().await?;
        update
            .filter(webhook_delivery::Column::Id.eq(delivery_id))
            .exec(&*txn)
            .await?;
        txn.commit().await
    }
}
