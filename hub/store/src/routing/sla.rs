//! SLA storage: the policies, each escalated conversation's clock (due times, first response,
//! breaches) and the breaches the timer marks. The arithmetic (due times in business hours, a
//! target's status) is `switchboard_routing::sla`.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, Query},
};
use serde_json::json;
use switchboard_model::{
    BusinessHours, ConversationStatus, Priority, SlaClock, SlaPolicy, SlaTargetStatus, new_id,
};
use switchboard_routing::{
    SlaPolicySpec, check_policy_spec,
    sla::{due_soon_until, target_status},
};

use super::{ROUTING_ACTOR, invalid};
use crate::{
    Result, Store, StoreError, conversations::conversation_row, convert, directory::audit_at,
    entities::*,
};

/// `?sla=` on the conversation list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlaFilter {
    /// A target was missed.
    Breached,
    /// Not breached, and a pending target is due within
    /// [`switchboard_routing::DUE_SOON_MINUTES`].
    DueSoon,
}

/// An SLA target that has just been found missed.
#[derive(Clone, Debug, PartialEq)]
pub struct SlaBreach {
    pub org_id: String,
    pub conversation_id: String,
    pub inbox_id: String,
    pub status: ConversationStatus,
    /// `first_response` or `resolution`.
    pub target: &'static str,
    pub due_at: DateTime<Utc>,
}

pub(super) fn policy_row(
    org_id: &str,
    spec: &SlaPolicySpec,
    now: DateTime<Utc>,
) -> sla_policy::ActiveModel {
    sla_policy::ActiveModel {
        id: Set(new_id()),
        org_id: Set(org_id.to_owned()),
        name: Set(spec.name.trim().to_owned()),
        priority: Set(spec.priority.as_str().to_owned()),
        team_id: Set(spec.team_id.clone()),
        first_response_seconds: Set(spec.first_response_seconds),
        resolution_seconds: Set(spec.resolution_seconds),
        business_hours: Set(spec.business_hours.as_ref().map(convert::to_json)),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

fn policy(row: sla_policy::Model) -> Result<SlaPolicy> {
    Ok(SlaPolicy {
        priority: convert::parse(&row.priority)?,
        id: row.id,
        org_id: row.org_id,
        name: row.name,
        team_id: row.team_id,
        first_response_seconds: row.first_response_seconds,
        resolution_seconds: row.resolution_seconds,
        business_hours: row
            .business_hours
            .as_ref()
            .map(convert::from_json::<BusinessHours>)
            .transpose()?,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// Records that an agent replied publicly: the first such reply after an escalation meets the
/// first-response target. Runs in the reply's transaction.
pub(crate) async fn note_agent_reply(
    db: &impl ConnectionTrait,
    conversation_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    use conversation_routing::Column;
    conversation_routing::Entity::update_many()
        .col_expr(Column::FirstResponseAt, Expr::value(now))
        .filter(Column::ConversationId.eq(conversation_id))
        .filter(Column::EscalatedAt.is_not_null())
        .filter(Column::FirstResponseAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// The policy for a priority and team: the team's own, else the organization-wide one.
pub(super) async fn policy_for(
    db: &impl ConnectionTrait,
    org_id: &str,
    priority: Priority,
    team_id: Option<&str>,
) -> Result<Option<sla_policy::Model>> {
    let candidates = sla_policy::Entity::find()
        .filter(sla_policy::Column::OrgId.eq(org_id))
        .filter(sla_policy::Column::Priority.eq(priority.as_str()))
        .order_by_asc(sla_policy::Column::Id)
        .all(db)
        .await?;
    let team_policy = team_id.and_then(|team_id| {
        candidates
            .iter()
            .find(|policy| policy.team_id.as_deref() == Some(team_id))
    });
    Ok(team_policy
        .or_else(|| candidates.iter().find(|policy| policy.team_id.is_none()))
        .cloned())
}

/// A conversation's SLA clock at `now` from its routing row, once an escalation started one.
pub(crate) fn sla_clock(
    row: &conversation_routing::Model,
    conversation: &conversation::Model,
    now: DateTime<Utc>,
) -> Result<Option<SlaClock>> {
    let (Some(started_at), Some(first_due), Some(resolution_due)) = (
        row.escalated_at,
        row.first_response_due_at,
        row.resolution_due_at,
    ) else {
        return Ok(None);
    };
    let priority = match &row.sla_priority {
        Some(priority) => convert::parse(priority)?,
        None => convert::parse(&conversation.priority)?,
    };
    let resolved_at = conversation.resolved_at.filter(|at| *at >= started_at);
    let target = |done, breached, due| target_status(done, breached, due, now);
    let first_response = target(
        row.first_response_at,
        row.first_response_breached_at,
        first_due,
    );
    let resolution = target(resolved_at, row.resolution_breached_at, resolution_due);
    Ok(Some(SlaClock {
        policy_id: row.sla_policy_id.clone(),
        priority,
        started_at,
        first_response_due_at: first_due,
        first_response_at: row.first_response_at,
        first_response_breached_at: row.first_response_breached_at,
        first_response,
        resolution_due_at: resolution_due,
        resolved_at,
        resolution_breached_at: row.resolution_breached_at,
        resolution,
        breached: first_response == SlaTargetStatus::Breached
            || resolution == SlaTargetStatus::Breached,
    }))
}

/// The condition on `conversations` for `?sla=`.
pub(crate) fn sla_condition(filter: SlaFilter, now: DateTime<Utc>) -> Condition {
    use conversation_routing::Column;
    let open = conversation::Column::Status.is_in([
        ConversationStatus::Escalated.as_str(),
        ConversationStatus::Assigned.as_str(),
    ]);
    let clocks = match filter {
        SlaFilter::Breached => Condition::any()
            .add(Column::FirstResponseBreachedAt.is_not_null())
            .add(Column::ResolutionBreachedAt.is_not_null()),
        SlaFilter::DueSoon => {
            let soon = due_soon_until(now);
            Condition::all()
                .add(Column::FirstResponseBreachedAt.is_null())
                .add(Column::ResolutionBreachedAt.is_null())
                .add(
                    Condition::any()
                        .add(
                            Condition::all()
                                .add(Column::FirstResponseAt.is_null())
                                .add(Column::FirstResponseDueAt.lte(soon)),
                        )
                        .add(Column::ResolutionDueAt.lte(soon)),
                )
        }
    };
    let ids = Query::select()
        .column(Column::ConversationId)
        .from(conversation_routing::Entity)
        .cond_where(clocks)
        .to_owned();
    let mut condition = Condition::all().add(conversation::Column::Id.in_subquery(ids));
    if filter == SlaFilter::DueSoon {
        condition = condition.add(open);
    }
    condition
}

/// When a target of `seconds` started at `start` comes due under `policy`'s business hours
/// ([`switchboard_routing::sla::due_at`]).
pub(super) fn due_at(
    policy: &sla_policy::Model,
    start: DateTime<Utc>,
    seconds: i64,
) -> DateTime<Utc> {
    let hours = policy
        .business_hours
        .as_ref()
        .map(|hours| convert::from_json::<BusinessHours>(hours).map_err(|err| err.to_string()));
    switchboard_routing::sla::due_at(&policy.id, hours, start, seconds)
}

impl Store {
    pub async fn list_sla_policies(&self, org_id: &str) -> Result<Vec<SlaPolicy>> {
        self.ensure_routing_defaults(org_id).await?;
        sla_policy::Entity::find()
            .filter(sla_policy::Column::OrgId.eq(org_id))
            .order_by_asc(sla_policy::Column::Id)
            .all(self.db())
            .await?
            .into_iter()
            .map(policy)
            .collect()
    }

    /// Adds a policy; one per priority and team (or organization-wide).
    pub async fn create_sla_policy(&self, org_id: &str, spec: &SlaPolicySpec) -> Result<SlaPolicy> {
        self.save_sla_policy(org_id, None, spec).await
    }

    pub async fn update_sla_policy(
        &self,
        org_id: &str,
        policy_id: &str,
        spec: &SlaPolicySpec,
    ) -> Result<SlaPolicy> {
        self.save_sla_policy(org_id, Some(policy_id), spec).await
    }

    async fn save_sla_policy(
        &self,
        org_id: &str,
        policy_id: Option<&str>,
        spec: &SlaPolicySpec,
    ) -> Result<SlaPolicy> {
        check_policy_spec(spec).map_err(invalid)?;
        self.check_team(org_id, spec.team_id.as_deref()).await?;
        self.ensure_routing_defaults(org_id).await?;
        let txn = self.begin_write().await?;
        let clash = sla_policy::Entity::find()
            .filter(sla_policy::Column::OrgId.eq(org_id))
            .filter(sla_policy::Column::Priority.eq(spec.priority.as_str()))
            .all(&*txn)
            .await?
            .into_iter()
            .any(|row| row.team_id == spec.team_id && Some(row.id.as_str()) != policy_id);
        if clash {
            return Err(StoreError::Conflict(
                "a policy for this priority and team already exists".into(),
            ));
        }
        let now = self.now();
        let row = match policy_id {
            None => {
                sla_policy::Entity::insert(policy_row(org_id, spec, now))
                    .exec_with_returning(&*txn)
                    .await?
            }
            Some(policy_id) => {
                let row = sla_policy::Entity::find_by_id(policy_id)
                    .filter(sla_policy::Column::OrgId.eq(org_id))
                    .one(&*txn)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                let mut active: sla_policy::ActiveModel = row.into();
                active.name = Set(spec.name.trim().to_owned());
                active.priority = Set(spec.priority.as_str().to_owned());
                active.team_id = Set(spec.team_id.clone());
                active.first_response_seconds = Set(spec.first_response_seconds);
                active.resolution_seconds = Set(spec.resolution_seconds);
                active.business_hours = Set(spec.business_hours.as_ref().map(convert::to_json));
                active.updated_at = Set(now);
                sla_policy::Entity::update(active).exec(&*txn).await?
            }
        };
        txn.commit().await?;
        policy(row)
    }

    pub async fn delete_sla_policy(&self, org_id: &str, policy_id: &str) -> Result<()> {
        let txn = self.begin_write().await?;
        let deleted = sla_policy::Entity::delete_many()
            .filter(sla_policy::Column::Id.eq(policy_id))
            .filter(sla_policy::Column::OrgId.eq(org_id))
            .exec(&*txn)
            .await?
            .rows_affected;
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        txn.commit().await
    }

    /// The conversation's SLA clock, once an escalation started one.
    pub async fn sla_clock(&self, org_id: &str, conversation_id: &str) -> Result<Option<SlaClock>> {
        let Some(routing) = conversation_routing::Entity::find_by_id(conversation_id)
            .filter(conversation_routing::Column::OrgId.eq(org_id))
            .one(self.db())
            .await?
        else {
            return Ok(None);
        };
        let conversation = conversation_row(self.db(), org_id, conversation_id).await?;
        sla_clock(&routing, &conversation, self.now())
    }

    /// Finds SLA targets of open (escalated or assigned) conversations that are due and unmet,
    /// marks each breached once (another node finding the same one does nothing), and audits it.
    pub async fn detect_sla_breaches(&self, now: DateTime<Utc>) -> Result<Vec<SlaBreach>> {
        use conversation_routing::Column;
        let open = Query::select()
            .column(conversation::Column::Id)
            .from(conversation::Entity)
            .and_where(conversation::Column::Status.is_in([
                ConversationStatus::Escalated.as_str(),
                ConversationStatus::Assigned.as_str(),
            ]))
            .to_owned();
        let due = conversation_routing::Entity::find()
            .filter(Column::ConversationId.in_subquery(open))
            .filter(
                Condition::any()
                    .add(
                        Condition::all()
                            .add(Column::FirstResponseDueAt.lte(now))
                            .add(Column::FirstResponseAt.is_null())
                            .add(Column::FirstResponseBreachedAt.is_null()),
                    )
                    .add(
                        Condition::all()
                            .add(Column::ResolutionDueAt.lte(now))
                            .add(Column::ResolutionBreachedAt.is_null()),
                    ),
            )
            .limit(500)
            .all(self.db())
            .await?;
        let mut breaches = Vec::new();
        for row in due {
            let targets = [
                (
                    "first_response",
                    Column::FirstResponseBreachedAt,
                    row.first_response_due_at
                        .filter(|due| *due <= now && row.first_response_at.is_none()),
                ),
                (
                    "resolution",
                    Column::ResolutionBreachedAt,
                    row.resolution_due_at.filter(|due| *due <= now),
                ),
            ];
            for (target, column, due_at) in targets {
                let Some(due_at) = due_at else { continue };
                let txn = self.begin_write().await?;
                // The conversation first, as a reply takes it first (for its `seq`): the two
                // then queue rather than deadlock over the routing row and its analytics mark.
                conversation::Entity::find_by_id(row.conversation_id.as_str())
                    .lock_exclusive()
                    .one(&*txn)
                    .await?;
                let marked = conversation_routing::Entity::update_many()
                    .col_expr(column, Expr::value(now))
                    .filter(Column::ConversationId.eq(&row.conversation_id))
                    .filter(column.is_null())
                    .exec(&*txn)
                    .await?
                    .rows_affected
                    == 1;
                if !marked {
                    txn.rollback().await?;
                    continue;
                }
                let conversation =
                    conversation_row(&*txn, &row.org_id, &row.conversation_id).await?;
                audit_at(
                    &*txn,
                    now,
                    &row.org_id,
                    ROUTING_ACTOR,
                    "sla.breached",
                    Some(&row.conversation_id),
                    json!({
                        "target": target,
                        "due_at": due_at,
                        "policy_id": row.sla_policy_id,
                        "assignee_id": conversation.assignee_id,
                    }),
                )
                .await?;
                txn.commit().await?;
                breaches.push(SlaBreach {
                    org_id: row.org_id.clone(),
                    conversation_id: row.conversation_id.clone(),
                    inbox_id: conversation.inbox_id,
                    status: convert::parse(&conversation.status)?,
                    target,
                    due_at,
                });
            }
        }
        Ok(breaches)
    }
}
