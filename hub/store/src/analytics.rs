//! What reports read: the facts of each conversation opened in a range (one query, joined
//! with its routing state, CSAT and latest handoff), and the business hours of each SLA policy.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, FromQueryResult, JoinType, QueryFilter, QueryOrder,
    QuerySelect,
    sea_query::{Alias, Expr, ExprTrait, Query, SimpleExpr, SubQueryStatement},
};
use switchboard_model::{
    BusinessHours, Calendar, ConversationStatus, HandoffReason, MessageRole,
    analytics::{ConversationFacts, LoggedEvent, SlaFacts, reopened_within},
};

use crate::{Result, Store, StoreError, convert, entities::*};

/// The reopen window an organization starts with: a day, as Intercom and Zendesk count it.
pub const DEFAULT_REOPEN_WINDOW_SECS: i64 = 86_400;

mod rollups;

pub use rollups::MAX_REOPEN_WINDOW_SECS;

/// Which conversations a report counts, beyond its organization and range.
#[derive(Clone, Debug, Default)]
pub struct ReportFilter {
    pub inbox_id: Option<String>,
    pub channel: Option<String>,
    pub team_id: Option<String>,
    pub agent_id: Option<String>,
    pub topic: Option<String>,
    /// A label name: only the conversations that carry it now.
    pub label: Option<String>,
}

/// Which reporting events a page keeps, beyond its organization and range.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub conversation_id: Option<String>,
    /// One of [`switchboard_model::analytics::EVENT_KINDS`].
    pub kind: Option<String>,
}

#[derive(FromQueryResult)]
struct FactsRow {
    id: String,
    inbox_id: String,
    channel: String,
    team_id: Option<String>,
    assignee_id: Option<String>,
    topic: Option<String>,
    sentiment: Option<i32>,
    status: String,
    created_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    escalated_at: Option<DateTime<Utc>>,
    first_human_reply_at: Option<DateTime<Utc>>,
    sla_policy_id: Option<String>,
    sla_priority: Option<String>,
    first_response_due_at: Option<DateTime<Utc>>,
    first_response_breached_at: Option<DateTime<Utc>>,
    resolution_due_at: Option<DateTime<Utc>>,
    resolution_breached_at: Option<DateTime<Utc>>,
    csat: Option<i32>,
    handoff_reason: Option<String>,
    ai_answered: i32,
    human_replied: i32,
}

/// `CASE WHEN EXISTS (a message of this conversation with `role` …) THEN 1 ELSE 0 END`: an
/// integer, which both databases decode alike.
fn has_message(role: MessageRole, public_only: bool) -> SimpleExpr {
    let message = Alias::new("m");
    let mut query = Query::select();
    query
        .expr(Expr::val(1))
        .from_as(message::Entity, message.clone())
        .and_where(
            Expr::col((message.clone(), message::Column::ConversationId))
                .equals((conversation::Entity, conversation::Column::Id)),
        )
        .and_where(Expr::col((message.clone(), message::Column::Role)).eq(role.as_str()));
    if public_only {
        query.and_where(Expr::col((message, message::Column::Private)).eq(false));
    }
    Expr::case(Expr::exists(query.take()), 1).finally(0).into()
}

/// The kind of the conversation's latest handoff.
fn latest_handoff_reason() -> SimpleExpr {
    let handoff = Alias::new("h");
    let query = Query::select()
        .column((handoff.clone(), handoff::Column::ReasonKind))
        .from_as(handoff::Entity, handoff.clone())
        .and_where(
            Expr::col((handoff.clone(), handoff::Column::ConversationId))
                .equals((conversation::Entity, conversation::Column::Id)),
        )
        .order_by(
            (handoff.clone(), handoff::Column::CreatedAt),
            sea_orm::Order::Desc,
        )
        .order_by((handoff, handoff::Column::Id), sea_orm::Order::Desc)
        .limit(1)
        .take();
    SimpleExpr::SubQuery(None, Box::new(SubQueryStatement::SelectStatement(query)))
}

/// The facts of conversations, as one query (joined with each one's routing state and CSAT,
/// its latest handoff and whether the AI and a person wrote in it): the caller filters it.
fn facts_query() -> sea_orm::Select<conversation::Entity> {
    use conversation::Column;
    let routing = conversation_routing::Entity::belongs_to(conversation::Entity)
        .from(conversation_routing::Column::ConversationId)
        .to(Column::Id)
        .into();
    let csat = csat_response::Entity::belongs_to(conversation::Entity)
        .from(csat_response::Column::ConversationId)
        .to(Column::Id)
        .into();
    let routing_col =
        |column: conversation_routing::Column| Expr::col((conversation_routing::Entity, column));
    conversation::Entity::find()
        .select_only()
        .columns([
            Column::Id,
            Column::InboxId,
            Column::Channel,
            Column::TeamId,
            Column::AssigneeId,
            Column::Topic,
            Column::Sentiment,
            Column::Status,
            Column::CreatedAt,
            Column::ResolvedAt,
        ])
        .expr_as(
            routing_col(conversation_routing::Column::EscalatedAt),
            "escalated_at",
        )
        .expr_as(
            routing_col(conversation_routing::Column::FirstResponseAt),
            "first_human_reply_at",
        )
        .expr_as(
            routing_col(conversation_routing::Column::SlaPolicyId),
            "sla_policy_id",
        )
        .expr_as(
            routing_col(conversation_routing::Column::SlaPriority),
            "sla_priority",
        )
        .expr_as(
            routing_col(conversation_routing::Column::FirstResponseDueAt),
            "first_response_due_at",
        )
        .expr_as(
            routing_col(conversation_routing::Column::FirstResponseBreachedAt),
            "first_response_breached_at",
        )
        .expr_as(
            routing_col(conversation_routing::Column::ResolutionDueAt),
            "resolution_due_at",
        )
        .expr_as(
            routing_col(conversation_routing::Column::ResolutionBreachedAt),
            "resolution_breached_at",
        )
        .expr_as(
            Expr::col((csat_response::Entity, csat_response::Column::Score)),
            "csat",
        )
        .expr_as(latest_handoff_reason(), "handoff_reason")
        .expr_as(has_message(MessageRole::Ai, false), "ai_answered")
        .expr_as(has_message(MessageRole::Agent, true), "human_replied")
        .join_rev(JoinType::LeftJoin, routing)
        .join_rev(JoinType::LeftJoin, csat)
}

/// The reporting events of the conversations `ids` that still exist, each conversation's in
/// the order they were written: `(organization, conversation, events)`.
pub(crate) async fn logs_of(
    db: &impl sea_orm::ConnectionTrait,
    ids: &[String],
) -> Result<Vec<(String, String, Vec<LoggedEvent>)>> {
    let rows = analytics_event::Entity::find()
        .filter(analytics_event::Column::ConversationId.is_in(ids.iter().cloned()))
        .order_by_asc(analytics_event::Column::ConversationId)
        .order_by_asc(analytics_event::Column::Id)
        .all(db)
        .await?;
    let mut logs: Vec<(String, String, Vec<LoggedEvent>)> = Vec::new();
    for row in rows {
        let event = logged(row.kind, row.at, &row.data)?;
        match logs.last_mut() {
            Some((_, id, events)) if *id == row.conversation_id => events.push(event),
            _ => logs.push((row.org_id, row.conversation_id, vec![event])),
        }
    }
    Ok(logs)
}

fn logged(kind: String, at: DateTime<Utc>, data: &str) -> Result<LoggedEvent> {
    let data = serde_json::from_str(data)
        .map_err(|err| StoreError::Corrupt(format!("analytics event: {err}")))?;
    Ok(LoggedEvent { kind, at, data })
}

/// The articles the AI's answers among `messages` cited, by conversation, each once.
async fn cited_in(
    db: &impl sea_orm::ConnectionTrait,
    messages: sea_orm::Select<message::Entity>,
) -> Result<HashMap<String, Vec<String>>> {
    #[derive(FromQueryResult)]
    struct Cited {
        conversation_id: String,
        sources: serde_json::Value,
    }
    let rows = messages
        .select_only()
        .columns([message::Column::ConversationId, message::Column::Sources])
        .filter(message::Column::Role.eq(MessageRole::Ai.as_str()))
        .into_model::<Cited>()
        .all(db)
        .await?;
    let mut cited: HashMap<String, Vec<String>> = HashMap::new();
    for row in rows {
        let Ok(sources) = serde_json::from_value::<Vec<switchboard_model::Source>>(row.sources)
        else {
            continue;
        };
        let articles = cited.entry(row.conversation_id).or_default();
        for source in sources {
            if !articles.contains(&source.article_id) {
                articles.push(source.article_id);
            }
        }
    }
    Ok(cited)
}

impl Store {
    /// The facts of every conversation of `org_id` opened in `[start, end)` that `filter` keeps.
    pub async fn report_facts(
        &self,
        org_id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        filter: &ReportFilter,
    ) -> Result<Vec<ConversationFacts>> {
        use conversation::Column;
        let mut query = facts_query()
            .filter(Column::OrgId.eq(org_id))
            .filter(Column::CreatedAt.gte(start))
            .filter(Column::CreatedAt.lt(end));
        if let Some(inbox_id) = &filter.inbox_id {
            query = query.filter(Column::InboxId.eq(inbox_id.as_str()));
        }
        if let Some(channel) = &filter.channel {
            query = query.filter(Column::Channel.eq(channel.as_str()));
        }
        if let Some(team_id) = &filter.team_id {
            query = query.filter(Column::TeamId.eq(team_id.as_str()));
        }
        if let Some(agent_id) = &filter.agent_id {
            query = query.filter(Column::AssigneeId.eq(agent_id.as_str()));
        }
        if let Some(topic) = &filter.topic {
            // `none` is how reports name the conversations without a topic (`by_topic`).
            query = query.filter(match topic.as_str() {
                "none" => Condition::any()
                    .add(Column::Topic.is_null())
                    .add(Column::Topic.eq("none")),
                topic => Condition::all().add(Column::Topic.eq(topic)),
            });
        }
        if let Some(label) = &filter.label {
            query = query.filter(crate::labels::has_label(org_id, label));
        }
        let rows = query
            .order_by_asc(Column::CreatedAt)
            .into_model::<FactsRow>()
            .all(self.db())
            .await?;
        let policies = self.report_policy_names(org_id).await?;
        let mut facts: Vec<ConversationFacts> = rows
            .into_iter()
            .map(|row| facts(row, &policies))
            .collect::<Result<_>>()?;
        // The AI's answers in the conversations opened in the range.
        let opened = Query::select()
            .column(Column::Id)
            .from(conversation::Entity)
            .and_where(Expr::col(Column::OrgId).eq(org_id))
            .and_where(Expr::col(Column::CreatedAt).gte(start))
            .and_where(Expr::col(Column::CreatedAt).lt(end))
            .take();
        let answers = message::Entity::find()
            .filter(message::Column::OrgId.eq(org_id))
            .filter(message::Column::ConversationId.in_subquery(opened.clone()));
        let mut cited = cited_in(self.db(), answers).await?;
        let reopened = self.reopened_soon(org_id, opened).await?;
        for fact in &mut facts {
            fact.cited = cited.remove(&fact.conversation_id).unwrap_or_default();
            fact.reopened_soon = reopened.contains(&fact.conversation_id);
        }
        Ok(facts)
    }

    /// The conversation's reporting events, in the order they were written.
    pub async fn reporting_events(
        &self,
        org_id: &str,
        conversation_id: &str,
    ) -> Result<Vec<LoggedEvent>> {
        analytics_event::Entity::find()
            .filter(analytics_event::Column::OrgId.eq(org_id))
            .filter(analytics_event::Column::ConversationId.eq(conversation_id))
            .order_by_asc(analytics_event::Column::Id)
            .all(self.db())
            .await?
            .into_iter()
            .map(|row| logged(row.kind, row.at, &row.data))
            .collect()
    }

    /// A page of the organization's reporting events that happened in `[start, end)`, in the
    /// order they were written, after the event `after`: `(id, conversation, event)`.
    pub async fn reporting_event_page(
        &self,
        org_id: &str,
        (start, end): (DateTime<Utc>, DateTime<Utc>),
        filter: &EventFilter,
        after: Option<i64>,
        limit: u64,
    ) -> Result<Vec<(i64, String, LoggedEvent)>> {
        use analytics_event::Column;
        let mut query = analytics_event::Entity::find()
            .filter(Column::OrgId.eq(org_id))
            .filter(Column::At.gte(start))
            .filter(Column::At.lt(end));
        if let Some(conversation_id) = &filter.conversation_id {
            query = query.filter(Column::ConversationId.eq(conversation_id.as_str()));
        }
        if let Some(kind) = &filter.kind {
            query = query.filter(Column::Kind.eq(kind.as_str()));
        }
        if let Some(after) = after {
            query = query.filter(Column::Id.gt(after));
        }
        query
            .order_by_asc(Column::Id)
            .limit(limit)
            .all(self.db())
            .await?
            .into_iter()
            .map(|row| {
                let event = logged(row.kind, row.at, &row.data)?;
                Ok((row.id, row.conversation_id, event))
            })
            .collect()
    }

    /// Which of the conversations `ids` (a query of their ids) the customer reopened within the
    /// organization's window of a resolution, by their resolutions and reopenings in the log.
    async fn reopened_soon(
        &self,
        org_id: &str,
        ids: sea_orm::sea_query::SelectStatement,
    ) -> Result<std::collections::HashSet<String>> {
        use analytics_event::Column;
        let (_, window) = rollups::org_reporting(self.db(), org_id).await?;
        let rows: Vec<(String, String, DateTime<Utc>)> = analytics_event::Entity::find()
            .select_only()
            .columns([Column::ConversationId, Column::Kind, Column::At])
            .filter(Column::OrgId.eq(org_id))
            .filter(Column::Kind.is_in(["resolved", "reopened"]))
            .filter(Column::ConversationId.in_subquery(ids))
            .order_by_asc(Column::ConversationId)
            .order_by_asc(Column::Id)
            .into_tuple()
            .all(self.db())
            .await?;
        let mut reopened = std::collections::HashSet::new();
        for conversation in rows.chunk_by(|a, b| a.0 == b.0) {
            let events = conversation
                .iter()
                .map(|(_, kind, at)| (kind.as_str(), *at));
            if reopened_within(events, window) {
                reopened.insert(conversation[0].0.clone());
            }
        }
        Ok(reopened)
    }

    /// The names a report shows: SLA policies' and knowledge-base articles'.
    pub async fn report_names(
        &self,
        org_id: &str,
    ) -> Result<switchboard_model::analytics::ReportNames> {
        let articles = kb_article::Entity::find()
            .select_only()
            .columns([kb_article::Column::Id, kb_article::Column::Title])
            .filter(kb_article::Column::OrgId.eq(org_id))
            .into_tuple::<(String, String)>()
            .all(self.db())
            .await?
            .into_iter()
            .collect();
        Ok(switchboard_model::analytics::ReportNames {
            policies: self.report_policy_names(org_id).await?,
            articles,
        })
    }

    /// The business hours of each of the organization's SLA policies that has them.
    pub async fn report_calendars(&self, org_id: &str) -> Result<HashMap<String, Calendar>> {
        let rows = sla_policy::Entity::find()
            .filter(sla_policy::Column::OrgId.eq(org_id))
            .all(self.db())
            .await?;
        let mut calendars = HashMap::new();
        for row in rows {
            let Some(hours) = row.business_hours else {
                continue;
            };
            let hours: BusinessHours = convert::from_json(&hours)?;
            if let Ok(calendar) = hours.calendar() {
                calendars.insert(row.id, calendar);
            }
        }
        Ok(calendars)
    }

    /// The names of the organization's SLA policies, by id.
    pub async fn report_policy_names(&self, org_id: &str) -> Result<HashMap<String, String>> {
        Ok(sla_policy::Entity::find()
            .filter(sla_policy::Column::OrgId.eq(org_id))
            .all(self.db())
            .await?
            .into_iter()
            .map(|row| (row.id, row.name))
            .collect())
    }
}

fn facts(row: FactsRow, policies: &HashMap<String, String>) -> Result<ConversationFacts> {
    let status: ConversationStatus = convert::parse(&row.status)?;
    let resolved = matches!(
        status,
        ConversationStatus::Resolved | ConversationStatus::Closed
    );
    let handoff = row
        .handoff_reason
        .as_deref()
        .map(convert::parse::<HandoffReason>)
        .transpose()?;
    let sla = row.sla_policy_id.map(|policy_id| SlaFacts {
        policy_name: policies.get(&policy_id).cloned().unwrap_or_default(),
        policy_id,
        priority: row.sla_priority.unwrap_or_default(),
        first_response_due_at: row.first_response_due_at,
        first_response_breached: row.first_response_breached_at.is_some(),
        resolution_due_at: row.resolution_due_at,
        resolution_breached: row.resolution_breached_at.is_some(),
    });
    Ok(ConversationFacts {
        conversation_id: row.id,
        inbox_id: row.inbox_id,
        channel: row.channel,
        team_id: row.team_id,
        assignee_id: row.assignee_id,
        topic: row.topic,
        sentiment: row.sentiment,
        opened_at: row.created_at,
        resolved_at: if resolved {
            row.resolved_at.or(Some(row.created_at))
        } else {
            None
        },
        ai_answered: row.ai_answered != 0,
        human_replied: row.human_replied != 0,
        handed_off_at: handoff.and(row.escalated_at),
        handoff,
        first_human_reply_at: row.first_human_reply_at,
        sla,
        csat: row.csat,
        cited: Vec::new(),
        reopened_soon: false,
    })
}
