//! Each conversation's routing state: the AI's outcomes and the customer's rejections, the
//! tags, the inputs routing reads for a message, the customer's value, applying a decision
//! (with the handoff record and the SLA clock it starts), and handing back to the AI.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    sea_query::{Expr, ExprTrait, OnConflict},
};
use serde_json::{Value, json};
use switchboard_model::{
    self as model, AiOutcome, ConversationStatus, Handoff, HandoffReason, Priority, SummarySource,
    new_id,
};
use switchboard_routing::{CustomerValue, RoutingState};

use super::{
    ROUTING_ACTOR, invalid,
    sla::{due_at, policy_for},
};
use crate::{
    Result, Store, StoreError, conversations::conversation_row, convert, directory::audit_at,
    entities::*,
};

/// The handoff record to write when a decision escalates.
#[derive(Clone, Debug, PartialEq)]
pub struct NewHandoff {
    pub summary: Vec<String>,
    pub topic: Option<String>,
    pub sentiment: Option<i32>,
    pub rule_id: Option<String>,
    pub rule_name: Option<String>,
    pub reason: String,
    pub reason_kind: HandoffReason,
    pub suggested_reply: String,
    pub summary_source: SummarySource,
}

/// What a routing decision changes on a conversation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoutingChange {
    /// Written to the audit log as `routing.decision`: which rules fired and why.
    pub decision: Value,
    pub tags: Vec<String>,
    pub team_id: Option<String>,
    pub priority: Option<Priority>,
    /// Set when the decision escalates.
    pub handoff: Option<NewHandoff>,
}

/// What applying a decision did.
#[derive(Clone, Debug)]
pub struct RoutingApplied {
    pub conversation: model::Conversation,
    /// Present when this decision escalated the conversation (not when it already was).
    pub handoff: Option<Handoff>,
}

/// What routing reads for a customer's message ([`Store::routing_inputs`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoutingInputs {
    /// `None` until the organization's routing settings exist ([`Store::rules_revision`]
    /// creates them).
    pub rules_revision: Option<i64>,
    pub value: CustomerValue,
    /// Consecutive AI declines and customer rejections since the last answer.
    pub ai_failures: u32,
    pub ai_answers: u32,
    /// The customer's messages in the conversation.
    pub customer_messages: u64,
    /// The sentiment scores (0–100) of the latest of them, oldest first; unscored ones are left
    /// out.
    pub recent_sentiments: Vec<u8>,
}

fn handoff(row: handoff::Model) -> Result<Handoff> {
    Ok(Handoff {
        summary: convert::from_json(&row.summary)?,
        priority: convert::parse(&row.priority)?,
        id: row.id,
        org_id: row.org_id,
        conversation_id: row.conversation_id,
        topic: row.topic,
        sentiment: row.sentiment,
        rule_id: row.rule_id,
        rule_name: row.rule_name,
        reason: row.reason,
        reason_kind: convert::parse(&row.reason_kind)?,
        suggested_reply: row.suggested_reply,
        summary_source: convert::parse(&row.summary_source)?,
        created_at: row.created_at,
    })
}

fn state(row: Option<conversation_routing::Model>) -> Result<RoutingState> {
    let Some(row) = row else {
        return Ok(RoutingState::default());
    };
    let count = |n: i32| u32::try_from(n).unwrap_or(0);
    Ok(RoutingState {
        ai_failures: count(row.ai_failures),
        ai_answers: count(row.ai_answers),
        ai_declines: count(row.ai_declines),
        tags: convert::from_json(&row.tags)?,
        escalated_at: row.escalated_at,
    })
}

/// A conversation's routing row as it starts: no AI turns, no tags, no escalation.
fn new_state_row(
    org_id: &str,
    conversation_id: &str,
    now: DateTime<Utc>,
) -> conversation_routing::ActiveModel {
    conversation_routing::ActiveModel {
        conversation_id: Set(conversation_id.to_owned()),
        org_id: Set(org_id.to_owned()),
        ai_failures: Set(0),
        ai_answers: Set(0),
        ai_declines: Set(0),
        tags: Set(json!([])),
        escalated_at: Set(None),
        sla_policy_id: Set(None),
        sla_priority: Set(None),
        first_response_due_at: Set(None),
        first_response_at: Set(None),
        first_response_breached_at: Set(None),
        resolution_due_at: Set(None),
        resolution_breached_at: Set(None),
        updated_at: Set(now),
    }
}

/// Makes sure conversations have their routing rows, in the caller's transaction.
async fn ensure_state_rows(
    db: &impl ConnectionTrait,
    rows: impl IntoIterator<Item = conversation_routing::ActiveModel>,
) -> Result<()> {
    conversation_routing::Entity::insert_many(rows)
        .on_conflict_do_nothing_on([conversation_routing::Column::ConversationId])
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Counts what the AI did in the routing rows of conversations (`org_id`, `conversation_id`,
/// `outcome`; each conversation once), in one statement that writes the rows still missing:
/// an answer resets the run of failures, a decline adds to it.
pub(crate) fn ai_outcome_upsert<'a>(
    outcomes: impl IntoIterator<Item = (&'a str, &'a str, AiOutcome)>,
    now: DateTime<Utc>,
) -> sea_orm::InsertMany<conversation_routing::ActiveModel> {
    use conversation_routing::Column;
    let rows = outcomes
        .into_iter()
        .map(|(org_id, conversation_id, outcome)| {
            let declined = i32::from(outcome == AiOutcome::Declined);
            let mut row = new_state_row(org_id, conversation_id, now);
            row.ai_answers = Set(1 - declined);
            row.ai_declines = Set(declined);
            row.ai_failures = Set(declined);
            row
        });
    // The new row's counts are what this outcome adds.
    let added =
        |column: &str| Expr::cust(format!("conversation_routing.{column} + excluded.{column}"));
    conversation_routing::Entity::insert_many(rows).on_conflict(
        OnConflict::column(Column::ConversationId)
            .value(Column::AiAnswers, added("ai_answers"))
            .value(Column::AiDeclines, added("ai_declines"))
            .value(
                Column::AiFailures,
                Expr::cust(
                    "CASE WHEN excluded.ai_answers > 0 THEN 0 \
                     ELSE conversation_routing.ai_failures + excluded.ai_failures END",
                ),
            )
            .update_column(Column::UpdatedAt)
            .to_owned(),
    )
}

/// [`Store::record_ai_outcome`] inside the caller's transaction, for a conversation of
/// `org_id` the caller has checked: the run of failures it leaves.
pub(crate) async fn record_ai_outcome_in(
    db: &impl ConnectionTrait,
    org_id: &str,
    conversation_id: &str,
    outcome: AiOutcome,
    now: DateTime<Utc>,
) -> Result<u32> {
    let row = ai_outcome_upsert([(org_id, conversation_id, outcome)], now)
        .exec_with_returning(db)
        .await?
        .into_iter()
        .next()
        .ok_or(StoreError::NotFound)?;
    Ok(state(Some(row))?.ai_failures)
}

impl Store {
    pub async fn routing_state(&self, org_id: &str, conversation_id: &str) -> Result<RoutingState> {
        state(
            conversation_routing::Entity::find_by_id(conversation_id)
                .filter(conversation_routing::Column::OrgId.eq(org_id))
                .one(self.db())
                .await?,
        )
    }

    /// Records what the AI did with a customer's message: an answer resets the run of
    /// failures, a decline extends it. Returns the consecutive failures after this one. The bot
    /// turn does this with its message ([`Store::append_bot_message`]); escalation rules read it.
    pub async fn record_ai_outcome(
        &self,
        org_id: &str,
        conversation_id: &str,
        outcome: AiOutcome,
    ) -> Result<u32> {
        let txn = self.begin_write().await?;
        conversation_row(&*txn, org_id, conversation_id).await?;
        let failures =
            record_ai_outcome_in(&*txn, org_id, conversation_id, outcome, self.now()).await?;
        txn.commit().await?;
        Ok(failures)
    }

    /// Records that the customer rejected the AI's answer ("that didn't help"): one more
    /// consecutive failure. Returns the count.
    pub async fn record_customer_rejection(
        &self,
        org_id: &str,
        conversation_id: &str,
    ) -> Result<u32> {
        use conversation_routing::Column;
        let txn = self.begin_write().await?;
        conversation_row(&*txn, org_id, conversation_id).await?;
        let now = self.now();
        ensure_state_rows(&*txn, [new_state_row(org_id, conversation_id, now)]).await?;
        let row = conversation_routing::Entity::update_many()
            .col_expr(Column::AiFailures, Expr::col(Column::AiFailures).add(1))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::ConversationId.eq(conversation_id))
            .exec_with_returning(&*txn)
            .await?
            .into_iter()
            .next()
            .ok_or(StoreError::NotFound)?;
        txn.commit().await?;
        Ok(state(Some(row))?.ai_failures)
    }

    /// Everything routing reads for a customer's message, in one statement: the organization's
    /// rules revision, the contact's value, the conversation's run of AI failures, and its
    /// customer messages up to the one at `up_to_seq` (counted by a window over all of them,
    /// taken before the `LIMIT`; the latest `recent` scored). Bounded by the message's `seq`, so
    /// that what routing sees for a message does not depend on whether the messages after it
    /// were committed with it (a batch) or later: `seq`s are handed out in commit order.
    pub async fn routing_inputs(
        &self,
        org_id: &str,
        conversation_id: &str,
        contact_id: &str,
        up_to_seq: i64,
        recent: u64,
    ) -> Result<RoutingInputs> {
        #[derive(sea_orm::FromQueryResult)]
        struct Row {
            sentiment: Option<i32>,
            total: i64,
            rules_revision: Option<i64>,
            tier: Option<String>,
            value: Option<f64>,
            ai_failures: Option<i32>,
            ai_answers: Option<i32>,
        }
        // Scalar subqueries: they do not depend on the row, so each runs once.
        let settings = |column| {
            Expr::from(
                routing_settings::Entity::find_by_id(org_id)
                    .select_only()
                    .column(column)
                    .into_query(),
            )
        };
        let contact = |column| {
            Expr::from(
                contact_value::Entity::find_by_id(contact_id)
                    .select_only()
                    .column(column)
                    .filter(contact_value::Column::OrgId.eq(org_id))
                    .into_query(),
            )
        };
        let routing = |column| {
            Expr::from(
                conversation_routing::Entity::find_by_id(conversation_id)
                    .select_only()
                    .column(column)
                    .filter(conversation_routing::Column::OrgId.eq(org_id))
                    .into_query(),
            )
        };
        let mut rows = message::Entity::find()
            .select_only()
            .column(message::Column::Sentiment)
            .column_as(Expr::cust("COUNT(*) OVER ()"), "total")
            .column_as(
                settings(routing_settings::Column::RulesRevision),
                "rules_revision",
            )
            .column_as(contact(contact_value::Column::Tier), "tier")
            .column_as(contact(contact_value::Column::Value), "value")
            .column_as(
                routing(conversation_routing::Column::AiFailures),
                "ai_failures",
            )
            .column_as(
                routing(conversation_routing::Column::AiAnswers),
                "ai_answers",
            )
            .filter(message::Column::OrgId.eq(org_id))
            .filter(message::Column::ConversationId.eq(conversation_id))
            .filter(message::Column::Role.eq(model::MessageRole::Customer.as_str()))
            .filter(message::Column::Seq.lte(up_to_seq))
            .order_by_desc(message::Column::Seq)
            // At least one row: the count and the subqueries' values come on it.
            .limit(Ord::max(recent, 1))
            .into_model::<Row>()
            .all(self.db())
            .await?;
        let Some(first) = rows.first() else {
            return Ok(RoutingInputs::default());
        };
        let count = |n: Option<i32>| n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
        let mut inputs = RoutingInputs {
            rules_revision: first.rules_revision,
            value: CustomerValue {
                tier: first.tier.clone(),
                value: first.value,
            },
            ai_failures: count(first.ai_failures),
            ai_answers: count(first.ai_answers),
            customer_messages: u64::try_from(first.total).unwrap_or(0),
            recent_sentiments: Vec::new(),
        };
        rows.truncate(usize::try_from(recent).unwrap_or(usize::MAX));
        rows.reverse();
        inputs.recent_sentiments = rows
            .into_iter()
            .filter_map(|row| row.sentiment)
            .filter_map(convert::sentiment)
            .collect();
        Ok(inputs)
    }

    /// A contact's tier and value.
    pub async fn customer_value(&self, org_id: &str, contact_id: &str) -> Result<CustomerValue> {
        Ok(contact_value::Entity::find_by_id(contact_id)
            .filter(contact_value::Column::OrgId.eq(org_id))
            .one(self.db())
            .await?
            .map(|row| CustomerValue {
                tier: row.tier,
                value: row.value,
            })
            .unwrap_or_default())
    }

    /// Sets a contact's tier and value (a CRM sync or an admin does this).
    pub async fn set_customer_value(
        &self,
        org_id: &str,
        contact_id: &str,
        value: &CustomerValue,
    ) -> Result<CustomerValue> {
        let value = value.checked().map_err(invalid)?;
        let txn = self.begin_write().await?;
        contact::Entity::find_by_id(contact_id)
            .filter(contact::Column::OrgId.eq(org_id))
            .one(&*txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        contact_value::Entity::delete_by_id(contact_id)
            .exec(&*txn)
            .await?;
        contact_value::Entity::insert(contact_value::ActiveModel {
            contact_id: Set(contact_id.to_owned()),
            org_id: Set(org_id.to_owned()),
            tier: Set(value.tier.clone()),
            value: Set(value.value),
            updated_at: Set(self.now()),
        })
        .exec_without_returning(&*txn)
        .await?;
        txn.commit().await?;
        Ok(value)
    }

    /// Applies a routing decision in one transaction: the audit entry, tags, team, priority,
    /// and when it escalates a conversation the bot holds, the status, the handoff record and
    /// the SLA clock.
    pub async fn apply_routing(
        &self,
        org_id: &str,
        conversation_id: &str,
        change: &RoutingChange,
    ) -> Result<RoutingApplied> {
        let now = self.now();
        let txn = self.begin_write().await?;
        let row = conversation_row(&*txn, org_id, conversation_id).await?;
        audit_at(
            &*txn,
            now,
            org_id,
            ROUTING_ACTOR,
            "routing.decision",
            Some(conversation_id),
            change.decision.clone(),
        )
        .await?;
        ensure_state_rows(&*txn, [new_state_row(org_id, conversation_id, now)]).await?;
        let routing = conversation_routing::Entity::find_by_id(conversation_id)
            .one(&*txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut tags: Vec<String> = convert::from_json(&routing.tags)?;
        for tag in &change.tags {
            if !tags.contains(tag) {
                tags.push(tag.clone());
            }
        }
        let escalating = change.handoff.is_some()
            && row.status == ConversationStatus::Bot.as_str()
            && conversation::Entity::update_many()
                .col_expr(
                    conversation::Column::Status,
                    Expr::value(ConversationStatus::Escalated.as_str()),
                )
                .filter(conversation::Column::Id.eq(conversation_id))
                .filter(conversation::Column::Status.eq(ConversationStatus::Bot.as_str()))
                .exec(&*txn)
                .await?
                .rows_affected
                == 1;
        let mut active: conversation::ActiveModel = row.into();
        if escalating {
            active.status = Set(ConversationStatus::Escalated.as_str().to_owned());
        }
        if let Some(priority) = change.priority {
            active.priority = Set(priority.as_str().to_owned());
        }
        if let Some(team_id) = &change.team_id {
            active.team_id = Set(Some(team_id.clone()));
        }
        active.updated_at = Set(now);
        let row = conversation::Entity::update(active).exec(&*txn).await?;
        let mut routing_active: conversation_routing::ActiveModel = routing.into();
        routing_active.tags = Set(convert::to_json(&tags));
        routing_active.updated_at = Set(now);
        let mut created = None;
        if let (true, Some(new)) = (escalating, &change.handoff) {
            let priority: Priority = convert::parse(&row.priority)?;
            let record = handoff::Model {
                id: new_id(),
                org_id: org_id.to_owned(),
                conversation_id: conversation_id.to_owned(),
                summary: convert::to_json(&new.summary),
                topic: new.topic.clone(),
                sentiment: new.sentiment,
                priority: priority.as_str().to_owned(),
                rule_id: new.rule_id.clone(),
                rule_name: new.rule_name.clone(),
                reason: new.reason.clone(),
                reason_kind: new.reason_kind.as_str().to_owned(),
                suggested_reply: new.suggested_reply.clone(),
                summary_source: new.summary_source.as_str().to_owned(),
                created_at: now,
            };
            handoff::Entity::insert(handoff::ActiveModel::from(record.clone()))
                .exec_without_returning(&*txn)
                .await?;
            let policy = policy_for(&*txn, org_id, priority, row.team_id.as_deref()).await?;
            routing_active.escalated_at = Set(Some(now));
            routing_active.sla_priority = Set(Some(priority.as_str().to_owned()));
            routing_active.sla_policy_id = Set(policy.as_ref().map(|policy| policy.id.clone()));
            routing_active.first_response_due_at = Set(policy
                .as_ref()
                .map(|policy| due_at(policy, now, policy.first_response_seconds)));
            routing_active.resolution_due_at = Set(policy
                .as_ref()
                .map(|policy| due_at(policy, now, policy.resolution_seconds)));
            routing_active.first_response_at = Set(None);
            routing_active.first_response_breached_at = Set(None);
            routing_active.resolution_breached_at = Set(None);
            audit_at(
                &*txn,
                now,
                org_id,
                ROUTING_ACTOR,
                "conversation.escalated",
                Some(conversation_id),
                json!({
                    "handoff_id": record.id,
                    "rule_id": new.rule_id,
                    "reason": new.reason,
                    "priority": priority,
                    "sla_policy_id": policy.as_ref().map(|policy| &policy.id),
                }),
            )
            .await?;
            created = Some(handoff(record)?);
        }
        conversation_routing::Entity::update(routing_active)
            .exec(&*txn)
            .await?;
        txn.commit().await?;
        Ok(RoutingApplied {
            conversation: convert::conversation(row)?,
            handoff: created,
        })
    }

    /// The conversation's latest handoff record.
    pub async fn handoff(&self, org_id: &str, conversation_id: &str) -> Result<Option<Handoff>> {
        handoff::Entity::find()
            .filter(handoff::Column::OrgId.eq(org_id))
            .filter(handoff::Column::ConversationId.eq(conversation_id))
            .order_by_desc(handoff::Column::CreatedAt)
            .order_by_desc(handoff::Column::Id)
            .one(self.db())
            .await?
            .map(handoff)
            .transpose()
    }

    /// Hands a conversation back to the AI: status `bot`, nobody assigned, the run of AI
    /// failures reset, the SLA clock stopped (breaches are only looked for while a person holds
    /// the conversation). For the inbox's "Hand back to AI".
    pub async fn hand_back_to_ai(
        &self,
        org_id: &str,
        conversation_id: &str,
        actor: &str,
    ) -> Result<model::Conversation> {
        let txn = self.begin_write().await?;
        let row = conversation_row(&*txn, org_id, conversation_id).await?;
        let mut active: conversation::ActiveModel = row.into();
        active.status = Set(ConversationStatus::Bot.as_str().to_owned());
        active.assignee_id = Set(None);
        active.resolved_at = Set(None);
        active.updated_at = Set(self.now());
        let row = conversation::Entity::update(active).exec(&*txn).await?;
        conversation_routing::Entity::update_many()
            .col_expr(conversation_routing::Column::AiFailures, Expr::value(0))
            .filter(conversation_routing::Column::ConversationId.eq(conversation_id))
            .exec(&*txn)
            .await?;
        audit_at(
            &*txn,
            self.now(),
            org_id,
            actor,
            "conversation.handed_back",
            Some(conversation_id),
            json!({}),
        )
        .await?;
        txn.commit().await?;
        convert::conversation(row)
    }
}
