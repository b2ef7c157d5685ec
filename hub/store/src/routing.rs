//! Routing's storage: escalation rules and their defaults, each conversation's routing state
//! (AI outcomes, tags, the SLA clock), handoff records, SLA policies and breaches, assignment
//! among online agents, presence, team members and customer value.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, TryInsertResult,
    sea_query::{Expr, ExprTrait, Query},
};
use serde_json::{Value, json};
use switchboard_model::{
    self as model, AiOutcome, AssignmentStrategy, BusinessHours, ConversationStatus,
    EscalationRule, Handoff, HandoffReason, MatchMode, Presence, PresenceStatus, Priority, Role,
    RuleActions, SlaClock, SlaPolicy, SlaTargetStatus, SummarySource, Trigger, new_id,
};

use crate::{Result, Store, StoreError, convert, directory::audit_in, entities::*};

/// How the audit log names routing's own actions.
pub const ROUTING_ACTOR: &str = "routing";
/// More rules than this per organization is a mistake, and slows every message down.
pub const MAX_RULES: usize = 100;
/// `sla=due_soon` lists conversations with a target due within this.
pub const DUE_SOON_MINUTES: i64 = 30;
/// The largest capacity an agent can be given.
pub const MAX_CAPACITY: i32 = 10_000;
/// At most this many conversations per assignment or release pass; the next pass takes the rest.
const QUEUE_BATCH: u64 = 1000;

/// A rule as written by an API caller.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleSpec {
    pub name: String,
    pub enabled: bool,
    pub match_mode: MatchMode,
    pub triggers: Vec<Trigger>,
    pub actions: RuleActions,
    pub continue_after: bool,
}

/// An SLA policy as written by an API caller.
#[derive(Clone, Debug, PartialEq)]
pub struct SlaPolicySpec {
    pub name: String,
    pub priority: Priority,
    pub team_id: Option<String>,
    pub first_response_seconds: i64,
    pub resolution_seconds: i64,
    /// `None`: the targets count around the clock.
    pub business_hours: Option<BusinessHours>,
}

/// `?sla=` on the conversation list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlaFilter {
    /// A target was missed.
    Breached,
    /// Not breached, and a pending target is due within [`DUE_SOON_MINUTES`].
    DueSoon,
}

/// What routing knows about a conversation beyond the conversation row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoutingState {
    /// Consecutive AI declines and customer rejections since the last answer.
    pub ai_failures: u32,
    pub ai_answers: u32,
    pub ai_declines: u32,
    pub tags: Vec<String>,
    pub escalated_at: Option<DateTime<Utc>>,
}

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

/// A conversation taken back from an agent who went away, now in the queue.
#[derive(Clone, Debug)]
pub struct Released {
    pub conversation: model::Conversation,
    pub from_user_id: String,
    /// `away` (the agent said so) or `stale` (no heartbeat for `presence_stale_secs`).
    pub reason: &'static str,
}

/// A customer's tier and value, as routing sees them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CustomerValue {
    pub tier: Option<String>,
    pub value: Option<f64>,
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

/// The rules a new organization starts with. Ordered: the first that matches fires.
pub fn default_rules() -> Vec<RuleSpec> {
    let rule = |name: &str, triggers, actions, continue_after| RuleSpec {
        name: name.to_owned(),
        enabled: true,
        match_mode: MatchMode::Any,
        triggers,
        actions,
        continue_after,
    };
    let escalate = |priority: Priority, tags: &[&str]| RuleActions {
        escalate: true,
        tags: tags.iter().map(|tag| (*tag).to_owned()).collect(),
        team_id: None,
        priority: Some(priority),
    };
    vec![
        rule(
            "Valuable customer",
            vec![Trigger::CustomerTier {
                any: vec!["vip".into(), "enterprise".into()],
            }],
            RuleActions {
                escalate: false,
                tags: vec!["vip".into()],
                team_id: None,
                priority: Some(Priority::High),
            },
            true,
        ),
        rule(
            "Customer asks for a person",
            vec![Trigger::HumanRequest],
            escalate(Priority::High, &["human-requested"]),
            false,
        ),
        rule(
            "Upset customer",
            vec![
                Trigger::SentimentBelow { value: 25 },
                Trigger::SentimentFalling { min_drop: None },
                Trigger::Keywords {
                    any: [
                        "furious",
                        "outraged",
                        "unacceptable",
                        "ridiculous",
                        "disgusting",
                        "scam",
                        "fraud",
                        "lawyer",
                        "legal action",
                        "chargeback",
                        "charged twice",
                        "double charged",
                    ]
                    .map(str::to_owned)
                    .to_vec(),
                },
            ],
            escalate(Priority::High, &["upset"]),
            false,
        ),
        rule(
            "The AI could not help",
            vec![Trigger::AiFailures { at_least: 2 }],
            escalate(Priority::Normal, &["ai-failed"]),
            false,
        ),
        rule(
            "Too long for the bot",
            vec![Trigger::CustomerMessages { at_least: 8 }],
            escalate(Priority::Normal, &["long-conversation"]),
            false,
        ),
    ]
}

/// The SLA targets a new organization starts with, per priority (seconds).
pub fn default_sla_policies() -> Vec<SlaPolicySpec> {
    let hours = |h: i64| h * 3600;
    [
        (Priority::Urgent, 15 * 60, hours(4)),
        (Priority::High, hours(1), hours(8)),
        (Priority::Normal, hours(4), hours(24)),
        (Priority::Low, hours(8), hours(72)),
    ]
    .into_iter()
    .map(|(priority, first, resolution)| SlaPolicySpec {
        name: format!("Default {priority}"),
        priority,
        team_id: None,
        first_response_seconds: first,
        resolution_seconds: resolution,
        business_hours: None,
    })
    .collect()
}

/// Seeds an organization's routing defaults (settings, rules, SLA policies) unless it has its
/// routing settings already. Returns whether it seeded. The settings row is the marker, so
/// rules an organization deleted stay deleted.
pub(crate) async fn seed_defaults(db: &impl ConnectionTrait, org_id: &str) -> Result<bool> {
    let now = Utc::now();
    let inserted = routing_settings::Entity::insert(routing_settings::ActiveModel {
        org_id: Set(org_id.to_owned()),
        assignment: Set(AssignmentStrategy::LeastLoaded.as_str().to_owned()),
        last_assigned_user_id: Set(None),
        rules_revision: Set(0),
        updated_at: Set(now),
    })
    .on_conflict_do_nothing_on([routing_settings::Column::OrgId])
    .exec_without_returning(db)
    .await?;
    if !matches!(inserted, TryInsertResult::Inserted(n) if n > 0) {
        return Ok(false);
    }
    for (position, spec) in default_rules().into_iter().enumerate() {
        escalation_rule::Entity::insert(rule_row(org_id, position as i32, &spec, now))
            .exec_without_returning(db)
            .await?;
    }
    for spec in default_sla_policies() {
        sla_policy::Entity::insert(policy_row(org_id, &spec, now))
            .exec_without_returning(db)
            .await?;
    }
    Ok(true)
}

fn rule_row(
    org_id: &str,
    position: i32,
    spec: &RuleSpec,
    now: DateTime<Utc>,
) -> escalation_rule::ActiveModel {
    escalation_rule::ActiveModel {
        id: Set(new_id()),
        org_id: Set(org_id.to_owned()),
        name: Set(spec.name.trim().to_owned()),
        position: Set(position),
        enabled: Set(spec.enabled),
        match_mode: Set(spec.match_mode.as_str().to_owned()),
        triggers: Set(convert::to_json(&spec.triggers)),
        actions: Set(convert::to_json(&spec.actions)),
        continue_after: Set(spec.continue_after),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

fn policy_row(org_id: &str, spec: &SlaPolicySpec, now: DateTime<Utc>) -> sla_policy::ActiveModel {
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

fn rule(row: escalation_rule::Model) -> Result<EscalationRule> {
    Ok(EscalationRule {
        match_mode: convert::parse(&row.match_mode)?,
        triggers: convert::from_json(&row.triggers)?,
        actions: convert::from_json(&row.actions)?,
        id: row.id,
        org_id: row.org_id,
        name: row.name,
        position: row.position,
        enabled: row.enabled,
        continue_after: row.continue_after,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
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

fn presence(
    row: agent_presence::Model,
    fresh_since: DateTime<Utc>,
    capacity: &HashMap<String, i32>,
    load: &HashMap<String, u32>,
) -> Result<Presence> {
    let status: PresenceStatus = convert::parse(&row.status)?;
    Ok(Presence {
        online: status == PresenceStatus::Online && row.last_seen_at >= fresh_since,
        capacity: capacity.get(&row.user_id).copied(),
        assigned: load.get(&row.user_id).copied().unwrap_or(0),
        user_id: row.user_id,
        status,
        last_seen_at: row.last_seen_at,
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
pub(crate) fn new_state_row(
    org_id: &str,
    conversation_id: &str,
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
        updated_at: Set(Utc::now()),
    }
}

/// Makes sure conversations have their routing rows, in the caller's transaction.
pub(crate) async fn ensure_state_rows(
    db: &impl ConnectionTrait,
    rows: impl IntoIterator<Item = conversation_routing::ActiveModel>,
) -> Result<()> {
    conversation_routing::Entity::insert_many(rows)
        .on_conflict_do_nothing_on([conversation_routing::Column::ConversationId])
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Counts what the AI did (`outcome`) in the routing rows of `conversation_ids`, which must
/// exist: an answer resets the run of failures, a decline adds to it.
pub(crate) fn ai_outcome_update(
    outcome: AiOutcome,
    conversation_ids: impl IntoIterator<Item = String>,
) -> sea_orm::UpdateMany<conversation_routing::Entity> {
    use conversation_routing::Column;
    let update = conversation_routing::Entity::update_many();
    let update = match outcome {
        AiOutcome::Answered => update
            .col_expr(Column::AiFailures, Expr::value(0))
            .col_expr(Column::AiAnswers, Expr::col(Column::AiAnswers).add(1)),
        AiOutcome::Declined => update
            .col_expr(Column::AiFailures, Expr::col(Column::AiFailures).add(1))
            .col_expr(Column::AiDeclines, Expr::col(Column::AiDeclines).add(1)),
    };
    update
        .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(Column::ConversationId.is_in(conversation_ids))
}

/// [`Store::record_ai_outcome`] inside the caller's transaction, for a conversation of
/// `org_id` the caller has checked.
pub(crate) async fn record_ai_outcome_in(
    db: &impl ConnectionTrait,
    org_id: &str,
    conversation_id: &str,
    outcome: AiOutcome,
) -> Result<u32> {
    ensure_state_rows(db, [new_state_row(org_id, conversation_id)]).await?;
    let row = ai_outcome_update(outcome, [conversation_id.to_owned()])
        .exec_with_returning(db)
        .await?
        .into_iter()
        .next()
        .ok_or(StoreError::NotFound)?;
    Ok(state(Some(row))?.ai_failures)
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
async fn policy_for(
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
    let target = |done: Option<DateTime<Utc>>,
                  breached: Option<DateTime<Utc>>,
                  due: DateTime<Utc>| match (done, breached) {
        (_, Some(_)) => SlaTargetStatus::Breached,
        (Some(done), None) if done <= due => SlaTargetStatus::Met,
        (Some(_), None) => SlaTargetStatus::Breached,
        (None, None) if now > due => SlaTargetStatus::Breached,
        (None, None) => SlaTargetStatus::Pending,
    };
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
            let soon = now + Duration::minutes(DUE_SOON_MINUTES);
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

/// Marks the organization's rules changed, in the change's transaction.
async fn bump_rules_revision(db: &impl ConnectionTrait, org_id: &str) -> Result<()> {
    routing_settings::Entity::update_many()
        .col_expr(
            routing_settings::Column::RulesRevision,
            Expr::col(routing_settings::Column::RulesRevision).add(1),
        )
        .filter(routing_settings::Column::OrgId.eq(org_id))
        .exec(db)
        .await?;
    Ok(())
}

fn check_rule_spec(spec: &RuleSpec) -> Result<()> {
    let name = spec.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(StoreError::Invalid(
            "a rule needs a name of 1 to 100 characters".into(),
        ));
    }
    if spec.triggers.is_empty() {
        return Err(StoreError::Invalid(
            "a rule needs at least one trigger".into(),
        ));
    }
    if spec.triggers.len() > 20 {
        return Err(StoreError::Invalid("a rule has at most 20 triggers".into()));
    }
    let actions = &spec.actions;
    if !actions.escalate
        && actions.tags.is_empty()
        && actions.team_id.is_none()
        && actions.priority.is_none()
    {
        return Err(StoreError::Invalid(
            "a rule needs an action: escalate, tags, team_id or priority".into(),
        ));
    }
    if actions.tags.len() > 20
        || actions
            .tags
            .iter()
            .any(|tag| tag.trim().is_empty() || tag.chars().count() > 50)
    {
        return Err(StoreError::Invalid(
            "`tags`: at most 20, each 1 to 50 characters".into(),
        ));
    }
    Ok(())
}

fn check_policy_spec(spec: &SlaPolicySpec) -> Result<()> {
    const YEAR: i64 = 366 * 24 * 3600;
    if spec.name.trim().is_empty() || spec.name.chars().count() > 100 {
        return Err(StoreError::Invalid(
            "a policy needs a name of 1 to 100 characters".into(),
        ));
    }
    for (field, seconds) in [
        ("first_response_seconds", spec.first_response_seconds),
        ("resolution_seconds", spec.resolution_seconds),
    ] {
        if !(1..=YEAR).contains(&seconds) {
            return Err(StoreError::Invalid(format!(
                "`{field}` must be between 1 and {YEAR}"
            )));
        }
        if let Some(hours) = &spec.business_hours {
            hours
                .calendar()
                .and_then(|calendar| calendar.check_target(field, seconds))
                .map_err(|err| StoreError::Invalid(err.to_string()))?;
        }
    }
    Ok(())
}

/// When a target of `seconds` started at `start` comes due under `policy`'s business hours.
/// Hours that no longer make a calendar (they were valid when saved) count around the clock
/// rather than leave a conversation without a due time.
fn due_at(policy: &sla_policy::Model, start: DateTime<Utc>, seconds: i64) -> DateTime<Utc> {
    let around_the_clock = start + Duration::seconds(seconds);
    let Some(hours) = &policy.business_hours else {
        return around_the_clock;
    };
    let calendar = convert::from_json::<BusinessHours>(hours)
        .map_err(|err| err.to_string())
        .and_then(|hours| hours.calendar().map_err(|err| err.to_string()));
    match calendar {
        Ok(calendar) => calendar
            .add_business_time(start, seconds)
            .unwrap_or(around_the_clock),
        Err(err) => {
            tracing::warn!(policy_id = %policy.id, %err, "SLA policy hours unusable; counting around the clock");
            around_the_clock
        }
    }
}

impl Store {
    /// Seeds the organization's routing defaults if it has never had them (organizations made
    /// before routing existed get them on first use).
    pub async fn ensure_routing_defaults(&self, org_id: &str) -> Result<()> {
        let exists = routing_settings::Entity::find_by_id(org_id)
            .one(self.db())
            .await?
            .is_some();
        if !exists {
            let txn = self.begin_write().await?;
            seed_defaults(&*txn, org_id).await?;
            txn.commit().await?;
        }
        Ok(())
    }

    pub async fn list_rules(&self, org_id: &str) -> Result<Vec<EscalationRule>> {
        self.ensure_routing_defaults(org_id).await?;
        escalation_rule::Entity::find()
            .filter(escalation_rule::Column::OrgId.eq(org_id))
            .order_by_asc(escalation_rule::Column::Position)
            .order_by_asc(escalation_rule::Column::Id)
            .all(self.db())
            .await?
            .into_iter()
            .map(rule)
            .collect()
    }

    pub async fn rule(&self, org_id: &str, rule_id: &str) -> Result<Option<EscalationRule>> {
        escalation_rule::Entity::find_by_id(rule_id)
            .filter(escalation_rule::Column::OrgId.eq(org_id))
            .one(self.db())
            .await?
            .map(rule)
            .transpose()
    }

    /// Adds a rule at the end of the order.
    pub async fn create_rule(&self, org_id: &str, spec: &RuleSpec) -> Result<EscalationRule> {
        check_rule_spec(spec)?;
        self.check_team(org_id, spec.actions.team_id.as_deref())
            .await?;
        self.ensure_routing_defaults(org_id).await?;
        let txn = self.begin_write().await?;
        let existing = escalation_rule::Entity::find()
            .filter(escalation_rule::Column::OrgId.eq(org_id))
            .all(&*txn)
            .await?;
        if existing.len() >= MAX_RULES {
            return Err(StoreError::Invalid(format!(
                "an organization has at most {MAX_RULES} rules"
            )));
        }
        let position = existing
            .iter()
            .map(|row| row.position + 1)
            .max()
            .unwrap_or(0);
        let row = escalation_rule::Entity::insert(rule_row(org_id, position, spec, Utc::now()))
            .exec_with_returning(&*txn)
            .await?;
        bump_rules_revision(&*txn, org_id).await?;
        txn.commit().await?;
        rule(row)
    }

    /// Replaces a rule's definition; its position stays.
    pub async fn update_rule(
        &self,
        org_id: &str,
        rule_id: &str,
        spec: &RuleSpec,
    ) -> Result<EscalationRule> {
        check_rule_spec(spec)?;
        self.check_team(org_id, spec.actions.team_id.as_deref())
            .await?;
        let txn = self.begin_write().await?;
        let row = escalation_rule::Entity::find_by_id(rule_id)
            .filter(escalation_rule::Column::OrgId.eq(org_id))
            .one(&*txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut active: escalation_rule::ActiveModel = row.into();
        active.name = Set(spec.name.trim().to_owned());
        active.enabled = Set(spec.enabled);
        active.match_mode = Set(spec.match_mode.as_str().to_owned());
        active.triggers = Set(convert::to_json(&spec.triggers));
        active.actions = Set(convert::to_json(&spec.actions));
        active.continue_after = Set(spec.continue_after);
        active.updated_at = Set(Utc::now());
        let row = escalation_rule::Entity::update(active).exec(&*txn).await?;
        bump_rules_revision(&*txn, org_id).await?;
        txn.commit().await?;
        rule(row)
    }

    pub async fn delete_rule(&self, org_id: &str, rule_id: &str) -> Result<()> {
        let txn = self.begin_write().await?;
        let deleted = escalation_rule::Entity::delete_many()
            .filter(escalation_rule::Column::Id.eq(rule_id))
            .filter(escalation_rule::Column::OrgId.eq(org_id))
            .exec(&*txn)
            .await?
            .rows_affected;
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        bump_rules_revision(&*txn, org_id).await?;
        txn.commit().await
    }

    /// Puts the rules in the order of `rule_ids`, which must name every rule exactly once.
    pub async fn reorder_rules(
        &self,
        org_id: &str,
        rule_ids: &[String],
    ) -> Result<Vec<EscalationRule>> {
        let txn = self.begin_write().await?;
        let existing: HashSet<String> = escalation_rule::Entity::find()
            .filter(escalation_rule::Column::OrgId.eq(org_id))
            .all(&*txn)
            .await?
            .into_iter()
            .map(|row| row.id)
            .collect();
        let given: HashSet<&String> = rule_ids.iter().collect();
        if given.len() != rule_ids.len()
            || given.len() != existing.len()
            || !given.iter().all(|id| existing.contains(*id))
        {
            return Err(StoreError::Invalid(
                "`ids` must list every rule of the organization exactly once".into(),
            ));
        }
        let now = Utc::now();
        for (position, rule_id) in rule_ids.iter().enumerate() {
            escalation_rule::Entity::update_many()
                .col_expr(
                    escalation_rule::Column::Position,
                    Expr::value(position as i32),
                )
                .col_expr(escalation_rule::Column::UpdatedAt, Expr::value(now))
                .filter(escalation_rule::Column::Id.eq(rule_id))
                .filter(escalation_rule::Column::OrgId.eq(org_id))
                .exec(&*txn)
                .await?;
        }
        bump_rules_revision(&*txn, org_id).await?;
        txn.commit().await?;
        self.list_rules(org_id).await
    }

    async fn check_team(&self, org_id: &str, team_id: Option<&str>) -> Result<()> {
        if let Some(team_id) = team_id {
            let found = team::Entity::find_by_id(team_id)
                .filter(team::Column::OrgId.eq(org_id))
                .one(self.db())
                .await?;
            if found.is_none() {
                return Err(StoreError::Invalid(format!(
                    "no team `{team_id}` in this organization"
                )));
            }
        }
        Ok(())
    }

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
        check_policy_spec(spec)?;
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
        let now = Utc::now();
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
        self.check_conversation(&*txn, org_id, conversation_id)
            .await?;
        let failures = record_ai_outcome_in(&*txn, org_id, conversation_id, outcome).await?;
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
        self.check_conversation(&*txn, org_id, conversation_id)
            .await?;
        ensure_state_rows(&*txn, [new_state_row(org_id, conversation_id)]).await?;
        let row = conversation_routing::Entity::update_many()
            .col_expr(Column::AiFailures, Expr::col(Column::AiFailures).add(1))
            .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(Column::ConversationId.eq(conversation_id))
            .exec_with_returning(&*txn)
            .await?
            .into_iter()
            .next()
            .ok_or(StoreError::NotFound)?;
        txn.commit().await?;
        Ok(state(Some(row))?.ai_failures)
    }

    async fn check_conversation(
        &self,
        db: &impl ConnectionTrait,
        org_id: &str,
        conversation_id: &str,
    ) -> Result<conversation::Model> {
        conversation::Entity::find_by_id(conversation_id)
            .filter(conversation::Column::OrgId.eq(org_id))
            .one(db)
            .await?
            .ok_or(StoreError::NotFound)
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
        if value.value.is_some_and(|value| !value.is_finite()) {
            return Err(StoreError::Invalid(
                "`value` must be a finite number".into(),
            ));
        }
        let tier = value
            .tier
            .as_deref()
            .map(|tier| tier.trim().to_lowercase())
            .filter(|tier| !tier.is_empty());
        if tier.as_ref().is_some_and(|tier| tier.chars().count() > 50) {
            return Err(StoreError::Invalid(
                "`tier` is at most 50 characters".into(),
            ));
        }
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
            tier: Set(tier.clone()),
            value: Set(value.value),
            updated_at: Set(Utc::now()),
        })
        .exec_without_returning(&*txn)
        .await?;
        txn.commit().await?;
        Ok(CustomerValue {
            tier,
            value: value.value,
        })
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
        let row = self
            .check_conversation(&*txn, org_id, conversation_id)
            .await?;
        audit_in(
            &*txn,
            org_id,
            ROUTING_ACTOR,
            "routing.decision",
            Some(conversation_id),
            change.decision.clone(),
        )
        .await?;
        ensure_state_rows(&*txn, [new_state_row(org_id, conversation_id)]).await?;
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
            audit_in(
                &*txn,
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

    /// The conversation's SLA clock, once an escalation started one.
    pub async fn sla_clock(&self, org_id: &str, conversation_id: &str) -> Result<Option<SlaClock>> {
        let Some(routing) = conversation_routing::Entity::find_by_id(conversation_id)
            .filter(conversation_routing::Column::OrgId.eq(org_id))
            .one(self.db())
            .await?
        else {
            return Ok(None);
        };
        let conversation = self
            .check_conversation(self.db(), org_id, conversation_id)
            .await?;
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
                let conversation = self
                    .check_conversation(&*txn, &row.org_id, &row.conversation_id)
                    .await?;
                audit_in(
                    &*txn,
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
        let row = self
            .check_conversation(&*txn, org_id, conversation_id)
            .await?;
        let mut active: conversation::ActiveModel = row.into();
        active.status = Set(ConversationStatus::Bot.as_str().to_owned());
        active.assignee_id = Set(None);
        active.resolved_at = Set(None);
        active.updated_at = Set(Utc::now());
        let row = conversation::Entity::update(active).exec(&*txn).await?;
        conversation_routing::Entity::update_many()
            .col_expr(conversation_routing::Column::AiFailures, Expr::value(0))
            .filter(conversation_routing::Column::ConversationId.eq(conversation_id))
            .exec(&*txn)
            .await?;
        audit_in(
            &*txn,
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

    pub async fn assignment_strategy(&self, org_id: &str) -> Result<AssignmentStrategy> {
        self.ensure_routing_defaults(org_id).await?;
        let row = routing_settings::Entity::find_by_id(org_id)
            .one(self.db())
            .await?
            .ok_or(StoreError::NotFound)?;
        convert::parse(&row.assignment)
    }

    pub async fn set_assignment_strategy(
        &self,
        org_id: &str,
        strategy: AssignmentStrategy,
    ) -> Result<AssignmentStrategy> {
        self.ensure_routing_defaults(org_id).await?;
        let txn = self.begin_write().await?;
        routing_settings::Entity::update_many()
            .col_expr(
                routing_settings::Column::Assignment,
                Expr::value(strategy.as_str()),
            )
            .col_expr(routing_settings::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(routing_settings::Column::OrgId.eq(org_id))
            .exec(&*txn)
            .await?;
        txn.commit().await?;
        Ok(strategy)
    }

    /// Records an agent's presence: `online` with a fresh heartbeat gets assignments.
    pub async fn set_presence(
        &self,
        org_id: &str,
        user_id: &str,
        status: PresenceStatus,
    ) -> Result<Presence> {
        let now = self.now();
        let txn = self.begin_write().await?;
        agent_presence::Entity::delete_by_id(user_id)
            .exec(&*txn)
            .await?;
        let row = agent_presence::Model {
            user_id: user_id.to_owned(),
            org_id: org_id.to_owned(),
            status: status.as_str().to_owned(),
            last_seen_at: now,
        };
        agent_presence::Entity::insert(agent_presence::ActiveModel::from(row.clone()))
            .exec_without_returning(&*txn)
            .await?;
        txn.commit().await?;
        let load = assigned_counts(self.db(), org_id).await?;
        let capacity = capacities(self.db(), org_id).await?;
        presence(row, now, &capacity, &load)
    }

    /// Every agent's last presence, capacity and open assignments; `online` for those seen
    /// since `fresh_since`.
    pub async fn list_presence(
        &self,
        org_id: &str,
        fresh_since: DateTime<Utc>,
    ) -> Result<Vec<Presence>> {
        let load = assigned_counts(self.db(), org_id).await?;
        let capacity = capacities(self.db(), org_id).await?;
        agent_presence::Entity::find()
            .filter(agent_presence::Column::OrgId.eq(org_id))
            .order_by_asc(agent_presence::Column::UserId)
            .all(self.db())
            .await?
            .into_iter()
            .map(|row| presence(row, fresh_since, &capacity, &load))
            .collect()
    }

    /// Sets the most open assigned conversations an agent takes (`None`: no limit). Agents at
    /// capacity are skipped by assignment.
    pub async fn set_capacity(
        &self,
        org_id: &str,
        user_id: &str,
        capacity: Option<i32>,
    ) -> Result<Option<i32>> {
        if capacity.is_some_and(|capacity| !(0..=MAX_CAPACITY).contains(&capacity)) {
            return Err(StoreError::Invalid(format!(
                "`capacity` must be between 0 and {MAX_CAPACITY}, or null for no limit"
            )));
        }
        if self.user(org_id, user_id).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        let txn = self.begin_write().await?;
        agent_capacity::Entity::delete_by_id(user_id)
            .exec(&*txn)
            .await?;
        if let Some(capacity) = capacity {
            agent_capacity::Entity::insert(agent_capacity::ActiveModel {
                user_id: Set(user_id.to_owned()),
                org_id: Set(org_id.to_owned()),
                capacity: Set(capacity),
                updated_at: Set(self.now()),
            })
            .exec_without_returning(&*txn)
            .await?;
        }
        txn.commit().await?;
        Ok(capacity)
    }

    pub async fn capacity(&self, org_id: &str, user_id: &str) -> Result<Option<i32>> {
        Ok(agent_capacity::Entity::find_by_id(user_id)
            .filter(agent_capacity::Column::OrgId.eq(org_id))
            .one(self.db())
            .await?
            .map(|row| row.capacity))
    }

    pub async fn add_team_member(&self, org_id: &str, team_id: &str, user_id: &str) -> Result<()> {
        self.check_team(org_id, Some(team_id)).await?;
        if self.user(org_id, user_id).await?.is_none() {
            return Err(StoreError::Invalid(format!(
                "no user `{user_id}` in this organization"
            )));
        }
        let txn = self.begin_write().await?;
        team_member::Entity::insert(team_member::ActiveModel {
            team_id: Set(team_id.to_owned()),
            user_id: Set(user_id.to_owned()),
            org_id: Set(org_id.to_owned()),
            created_at: Set(Utc::now()),
        })
        .on_conflict_do_nothing_on([team_member::Column::TeamId, team_member::Column::UserId])
        .exec_without_returning(&*txn)
        .await?;
        txn.commit().await
    }

    pub async fn remove_team_member(
        &self,
        org_id: &str,
        team_id: &str,
        user_id: &str,
    ) -> Result<()> {
        let txn = self.begin_write().await?;
        let removed = team_member::Entity::delete_many()
            .filter(team_member::Column::OrgId.eq(org_id))
            .filter(team_member::Column::TeamId.eq(team_id))
            .filter(team_member::Column::UserId.eq(user_id))
            .exec(&*txn)
            .await?
            .rows_affected;
        if removed == 0 {
            return Err(StoreError::NotFound);
        }
        txn.commit().await
    }

    pub async fn team_members(&self, org_id: &str, team_id: &str) -> Result<Vec<String>> {
        Ok(team_member::Entity::find()
            .filter(team_member::Column::OrgId.eq(org_id))
            .filter(team_member::Column::TeamId.eq(team_id))
            .order_by_asc(team_member::Column::UserId)
            .all(self.db())
            .await?
            .into_iter()
            .map(|row| row.user_id)
            .collect())
    }

    /// Assigns an escalated, unassigned conversation to one of the agents online since
    /// `fresh_since` (of its team, when it has one; else of the organization) who is below
    /// their capacity, by the organization's strategy. `None` when nobody can take it: it
    /// stays in the queue.
    pub async fn auto_assign(
        &self,
        org_id: &str,
        conversation_id: &str,
        fresh_since: DateTime<Utc>,
    ) -> Result<Option<model::Conversation>> {
        Ok(self
            .assign_waiting(org_id, Waiting::One(conversation_id), fresh_since)
            .await?
            .pop())
    }

    /// Assigns the organization's queue (escalated, unassigned conversations), highest priority
    /// first and within a priority the longest waiting first, to agents online since
    /// `fresh_since` who have room. Returns those assigned; the rest stay queued.
    pub async fn assign_queued(
        &self,
        org_id: &str,
        fresh_since: DateTime<Utc>,
    ) -> Result<Vec<model::Conversation>> {
        self.assign_waiting(org_id, Waiting::Queue, fresh_since)
            .await
    }

    /// The organizations with a queue and someone online since `fresh_since` who might take
    /// it: the only ones worth an assignment pass.
    pub async fn orgs_to_assign(&self, fresh_since: DateTime<Utc>) -> Result<Vec<String>> {
        let queued: HashSet<String> = conversation::Entity::find()
            .select_only()
            .column(conversation::Column::OrgId)
            .distinct()
            .filter(conversation::Column::Status.eq(ConversationStatus::Escalated.as_str()))
            .filter(conversation::Column::AssigneeId.is_null())
            .into_tuple::<String>()
            .all(self.db())
            .await?
            .into_iter()
            .collect();
        if queued.is_empty() {
            return Ok(Vec::new());
        }
        let mut orgs: Vec<String> = agent_presence::Entity::find()
            .select_only()
            .column(agent_presence::Column::OrgId)
            .distinct()
            .filter(agent_presence::Column::Status.eq(PresenceStatus::Online.as_str()))
            .filter(agent_presence::Column::LastSeenAt.gte(fresh_since))
            .into_tuple::<String>()
            .all(self.db())
            .await?
            .into_iter()
            .filter(|org_id| queued.contains(org_id))
            .collect();
        orgs.sort();
        Ok(orgs)
    }

    /// One assignment pass. Assignments of one organization serialize on its settings row, so
    /// concurrent ones see each other's load and the round-robin position.
    async fn assign_waiting(
        &self,
        org_id: &str,
        waiting: Waiting<'_>,
        fresh_since: DateTime<Utc>,
    ) -> Result<Vec<model::Conversation>> {
        self.ensure_routing_defaults(org_id).await?;
        let now = self.now();
        let txn = self.begin_write().await?;
        let settings = routing_settings::Entity::update_many()
            .col_expr(routing_settings::Column::UpdatedAt, Expr::value(now))
            .filter(routing_settings::Column::OrgId.eq(org_id))
            .exec_with_returning(&*txn)
            .await?
            .into_iter()
            .next()
            .ok_or(StoreError::NotFound)?;
        let queue = conversation::Entity::find()
            .filter(conversation::Column::OrgId.eq(org_id))
            .filter(conversation::Column::Status.eq(ConversationStatus::Escalated.as_str()))
            .filter(conversation::Column::AssigneeId.is_null());
        let mut queue = match waiting {
            Waiting::One(conversation_id) => {
                queue
                    .filter(conversation::Column::Id.eq(conversation_id))
                    .all(&*txn)
                    .await?
            }
            Waiting::Queue => {
                queue
                    .order_by_asc(conversation::Column::CreatedAt)
                    .limit(QUEUE_BATCH)
                    .all(&*txn)
                    .await?
            }
        };
        let online = online_agents(&*txn, org_id, fresh_since).await?;
        if queue.is_empty() || online.is_empty() {
            txn.rollback().await?;
            return Ok(Vec::new());
        }
        let escalated_at: HashMap<String, DateTime<Utc>> = conversation_routing::Entity::find()
            .filter(
                conversation_routing::Column::ConversationId
                    .is_in(queue.iter().map(|row| row.id.clone())),
            )
            .all(&*txn)
            .await?
            .into_iter()
            .filter_map(|row| Some((row.conversation_id, row.escalated_at?)))
            .collect();
        queue.sort_by_cached_key(|row| {
            let priority = row.priority.parse::<Priority>().unwrap_or(Priority::Normal);
            let waiting_since = escalated_at.get(&row.id).copied().unwrap_or(row.created_at);
            (std::cmp::Reverse(priority), waiting_since, row.id.clone())
        });
        let team_ids: HashSet<String> =
            queue.iter().filter_map(|row| row.team_id.clone()).collect();
        let mut members: HashMap<String, HashSet<String>> = HashMap::new();
        for member in team_member::Entity::find()
            .filter(team_member::Column::OrgId.eq(org_id))
            .filter(team_member::Column::TeamId.is_in(team_ids))
            .all(&*txn)
            .await?
        {
            members
                .entry(member.team_id)
                .or_default()
                .insert(member.user_id);
        }
        let mut pool = AgentPool {
            strategy: convert::parse(&settings.assignment)?,
            online,
            load: assigned_counts(&*txn, org_id).await?,
            capacity: capacities(&*txn, org_id).await?,
            members,
            last_assigned: settings.last_assigned_user_id.clone(),
        };
        let mut assigned = Vec::new();
        for row in queue {
            let Some(chosen) = pool.choose(row.team_id.as_deref()) else {
                continue;
            };
            let conversation_id = row.id.clone();
            let mut active: conversation::ActiveModel = row.into();
            active.assignee_id = Set(Some(chosen.clone()));
            active.status = Set(ConversationStatus::Assigned.as_str().to_owned());
            active.updated_at = Set(now);
            let row = conversation::Entity::update(active).exec(&*txn).await?;
            audit_in(
                &*txn,
                org_id,
                ROUTING_ACTOR,
                "conversation.assigned",
                Some(&conversation_id),
                json!({ "assignee_id": chosen, "team_id": row.team_id, "strategy": pool.strategy }),
            )
            .await?;
            pool.took(&chosen);
            assigned.push(convert::conversation(row)?);
        }
        if assigned.is_empty() {
            txn.rollback().await?;
            return Ok(assigned);
        }
        routing_settings::Entity::update_many()
            .col_expr(
                routing_settings::Column::LastAssignedUserId,
                Expr::value(pool.last_assigned.clone()),
            )
            .filter(routing_settings::Column::OrgId.eq(org_id))
            .exec(&*txn)
            .await?;
        txn.commit().await?;
        Ok(assigned)
    }

    /// Takes back the conversations of agents who went away (presence `away`, or no heartbeat
    /// since `fresh_since`) that still await a first response since their escalation: each goes
    /// back to the queue (`escalated`, unassigned; its SLA clock keeps running), audited as
    /// `conversation.reassigned`. Conversations the agent already answered stay with them: the
    /// customer is mid-conversation with that person, who will see it on their return.
    pub async fn release_absent_agents(&self, fresh_since: DateTime<Utc>) -> Result<Vec<Released>> {
        let absent = Query::select()
            .column(agent_presence::Column::UserId)
            .from(agent_presence::Entity)
            .cond_where(
                Condition::any()
                    .add(agent_presence::Column::Status.eq(PresenceStatus::Away.as_str()))
                    .add(agent_presence::Column::LastSeenAt.lt(fresh_since)),
            )
            .to_owned();
        let unanswered = Query::select()
            .column(conversation_routing::Column::ConversationId)
            .from(conversation_routing::Entity)
            .and_where(conversation_routing::Column::EscalatedAt.is_not_null())
            .and_where(conversation_routing::Column::FirstResponseAt.is_null())
            .to_owned();
        let rows = conversation::Entity::find()
            .filter(conversation::Column::Status.eq(ConversationStatus::Assigned.as_str()))
            .filter(conversation::Column::AssigneeId.in_subquery(absent))
            .filter(conversation::Column::Id.in_subquery(unanswered))
            .order_by_asc(conversation::Column::Id)
            .limit(QUEUE_BATCH)
            .all(self.db())
            .await?;
        let mut released = Vec::new();
        for row in rows {
            let Some(from_user_id) = row.assignee_id.clone() else {
                continue;
            };
            let presence = agent_presence::Entity::find_by_id(from_user_id.clone())
                .one(self.db())
                .await?;
            let reason = match presence {
                Some(presence) if presence.status == PresenceStatus::Away.as_str() => "away",
                _ => "stale",
            };
            let txn = self.begin_write().await?;
            let updated = conversation::Entity::update_many()
                .col_expr(
                    conversation::Column::Status,
                    Expr::value(ConversationStatus::Escalated.as_str()),
                )
                .col_expr(
                    conversation::Column::AssigneeId,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(conversation::Column::UpdatedAt, Expr::value(self.now()))
                .filter(conversation::Column::Id.eq(&row.id))
                .filter(conversation::Column::Status.eq(ConversationStatus::Assigned.as_str()))
                .filter(conversation::Column::AssigneeId.eq(&from_user_id))
                .exec_with_returning(&*txn)
                .await?
                .into_iter()
                .next();
            let Some(updated) = updated else {
                // Someone else moved it meanwhile (another node, the agent answering).
                txn.rollback().await?;
                continue;
            };
            audit_in(
                &*txn,
                &row.org_id,
                ROUTING_ACTOR,
                "conversation.reassigned",
                Some(&row.id),
                json!({ "from_assignee_id": from_user_id, "reason": reason }),
            )
            .await?;
            txn.commit().await?;
            released.push(Released {
                conversation: convert::conversation(updated)?,
                from_user_id,
                reason,
            });
        }
        Ok(released)
    }

    /// The organization's escalation rules' revision: it changes with every rule change, so a
    /// node's compiled rules are current while it matches.
    pub async fn rules_revision(&self, org_id: &str) -> Result<i64> {
        if let Some(row) = routing_settings::Entity::find_by_id(org_id)
            .one(self.db())
            .await?
        {
            return Ok(row.rules_revision);
        }
        self.ensure_routing_defaults(org_id).await?;
        Ok(routing_settings::Entity::find_by_id(org_id)
            .one(self.db())
            .await?
            .ok_or(StoreError::NotFound)?
            .rules_revision)
    }
}

/// Which escalated conversations an assignment pass looks at.
enum Waiting<'a> {
    One(&'a str),
    Queue,
}

/// The agents an assignment pass chooses among, read inside its transaction.
struct AgentPool {
    strategy: AssignmentStrategy,
    /// Online, active agents who may reply, sorted by id.
    online: Vec<String>,
    /// Open assigned conversations per agent.
    load: HashMap<String, u32>,
    capacity: HashMap<String, i32>,
    /// Members of the teams the waiting conversations are routed to.
    members: HashMap<String, HashSet<String>>,
    last_assigned: Option<String>,
}

impl AgentPool {
    fn load(&self, user_id: &str) -> u32 {
        self.load.get(user_id).copied().unwrap_or(0)
    }

    fn has_room(&self, user_id: &str) -> bool {
        self.capacity
            .get(user_id)
            .is_none_or(|capacity| i64::from(self.load(user_id)) < i64::from(*capacity))
    }

    /// The agent for a conversation of `team_id` (any online agent when `None`).
    fn choose(&self, team_id: Option<&str>) -> Option<String> {
        let mut candidates: Vec<&String> = self
            .online
            .iter()
            .filter(|user_id| {
                team_id.is_none_or(|team_id| {
                    self.members
                        .get(team_id)
                        .is_some_and(|members| members.contains(*user_id))
                })
            })
            .filter(|user_id| self.has_room(user_id))
            .collect();
        // Round-robin order: the agents after the last one assigned come first.
        let last = self.last_assigned.as_deref().unwrap_or("");
        let split = candidates.partition_point(|user_id| user_id.as_str() <= last);
        candidates.rotate_left(split);
        let chosen = match self.strategy {
            AssignmentStrategy::RoundRobin => candidates.first().copied(),
            // `min_by_key` keeps the first of equals: ties go round robin.
            AssignmentStrategy::LeastLoaded => candidates
                .iter()
                .min_by_key(|user_id| self.load(user_id))
                .copied(),
        };
        chosen.cloned()
    }

    fn took(&mut self, user_id: &str) {
        *self.load.entry(user_id.to_owned()).or_default() += 1;
        self.last_assigned = Some(user_id.to_owned());
    }
}

/// The organization's agents who are online since `fresh_since`, active and allowed to reply,
/// sorted by id.
async fn online_agents(
    db: &impl ConnectionTrait,
    org_id: &str,
    fresh_since: DateTime<Utc>,
) -> Result<Vec<String>> {
    let online = Query::select()
        .column(agent_presence::Column::UserId)
        .from(agent_presence::Entity)
        .and_where(agent_presence::Column::OrgId.eq(org_id))
        .and_where(agent_presence::Column::Status.eq(PresenceStatus::Online.as_str()))
        .and_where(agent_presence::Column::LastSeenAt.gte(fresh_since))
        .to_owned();
    let mut agents: Vec<String> = user::Entity::find()
        .filter(user::Column::OrgId.eq(org_id))
        .filter(user::Column::Active.eq(true))
        .filter(user::Column::Id.in_subquery(online))
        .all(db)
        .await?
        .into_iter()
        .filter(|user| {
            user.role
                .parse::<Role>()
                .is_ok_and(|role| role.can(model::Permission::ConversationsReply))
        })
        .map(|user| user.id)
        .collect();
    agents.sort();
    Ok(agents)
}

/// Open (`assigned`) conversations per agent of the organization.
async fn assigned_counts(db: &impl ConnectionTrait, org_id: &str) -> Result<HashMap<String, u32>> {
    let rows: Vec<(Option<String>, i64)> = conversation::Entity::find()
        .select_only()
        .column(conversation::Column::AssigneeId)
        .column_as(conversation::Column::Id.count(), "assigned")
        .filter(conversation::Column::OrgId.eq(org_id))
        .filter(conversation::Column::Status.eq(ConversationStatus::Assigned.as_str()))
        .group_by(conversation::Column::AssigneeId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(user_id, count)| Some((user_id?, u32::try_from(count).unwrap_or(u32::MAX))))
        .collect())
}

/// Each agent's capacity, for those who have one.
async fn capacities(db: &impl ConnectionTrait, org_id: &str) -> Result<HashMap<String, i32>> {
    Ok(agent_capacity::Entity::find()
        .filter(agent_capacity::Column::OrgId.eq(org_id))
        .all(db)
        .await?
        .into_iter()
        .map(|row| (row.user_id, row.capacity))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rules_and_policies_are_valid() {
        for rule in default_rules() {
            check_rule_spec(&rule).expect("a valid default rule");
        }
        let policies = default_sla_policies();
        assert_eq!(policies.len(), Priority::ALL.len());
        for policy in &policies {
            check_policy_spec(policy).expect("a valid default policy");
        }
    }

    #[test]
    fn rules_need_a_trigger_and_an_action() {
        let mut spec = default_rules().remove(1);
        spec.triggers.clear();
        assert!(check_rule_spec(&spec).is_err());
        let mut spec = default_rules().remove(1);
        spec.actions = RuleActions::default();
        assert!(check_rule_spec(&spec).is_err());
    }
}
