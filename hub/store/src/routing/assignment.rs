//! Assignment's storage: the organization's strategy, agents' presence and capacity, team
//! members, and the passes that assign the queue and take conversations back from agents who
//! went away. Which agent takes a conversation is `switchboard_routing::assignment`.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, Query},
};
use serde_json::json;
use switchboard_model::{
    self as model, AssignmentStrategy, ConversationStatus, Presence, PresenceStatus, Priority, Role,
};
use switchboard_routing::assignment::{AgentPool, Liveness, check_capacity, queue_order};

use super::{QUEUE_BATCH, ROUTING_ACTOR, invalid};
use crate::{Result, Store, StoreError, convert, directory::audit_at, entities::*};

/// A conversation taken back from an agent who went away, now in the queue.
#[derive(Clone, Debug)]
pub struct Released {
    pub conversation: model::Conversation,
    pub from_user_id: String,
    /// `away` (the agent said so) or `stale` (no longer alive by the [`Liveness`]: no heartbeat
    /// for `presence_stale_secs`, or none in Redis within `presence_ttl_secs`).
    pub reason: &'static str,
}

fn presence(
    row: agent_presence::Model,
    liveness: &Liveness,
    capacity: &HashMap<String, i32>,
    load: &HashMap<String, u32>,
) -> Result<Presence> {
    let status: PresenceStatus = convert::parse(&row.status)?;
    Ok(Presence {
        online: liveness.is_online(status, &row.user_id, row.last_seen_at),
        capacity: capacity.get(&row.user_id).copied(),
        assigned: load.get(&row.user_id).copied().unwrap_or(0),
        user_id: row.user_id,
        status,
        last_seen_at: row.last_seen_at,
    })
}

impl Store {
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
            .col_expr(routing_settings::Column::UpdatedAt, Expr::value(self.now()))
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
        presence(row, &Liveness::SeenSince(now), &capacity, &load)
    }

    /// Every agent's last presence, capacity and open assignments; `online` for those who said
    /// so and are alive by `liveness`.
    pub async fn list_presence(&self, org_id: &str, liveness: &Liveness) -> Result<Vec<Presence>> {
        let load = assigned_counts(self.db(), org_id).await?;
        let capacity = capacities(self.db(), org_id).await?;
        agent_presence::Entity::find()
            .filter(agent_presence::Column::OrgId.eq(org_id))
            .order_by_asc(agent_presence::Column::UserId)
            .all(self.db())
            .await?
            .into_iter()
            .map(|row| presence(row, liveness, &capacity, &load))
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
        check_capacity(capacity).map_err(invalid)?;
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
            created_at: Set(self.now()),
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

    /// Assigns an escalated, unassigned conversation to one of the agents online by
    /// `liveness` (of its team, when it has one; else of the organization) who is below
    /// their capacity, by the organization's strategy. `None` when nobody can take it: it
    /// stays in the queue.
    pub async fn auto_assign(
        &self,
        org_id: &str,
        conversation_id: &str,
        liveness: &Liveness,
    ) -> Result<Option<model::Conversation>> {
        Ok(self
            .assign_waiting(org_id, Waiting::One(conversation_id), liveness)
            .await?
            .pop())
    }

    /// Assigns the organization's queue (escalated, unassigned conversations), highest priority
    /// first and within a priority the longest waiting first, to agents online by `liveness`
    /// who have room. Returns those assigned; the rest stay queued.
    pub async fn assign_queued(
        &self,
        org_id: &str,
        liveness: &Liveness,
    ) -> Result<Vec<model::Conversation>> {
        self.assign_waiting(org_id, Waiting::Queue, liveness).await
    }

    /// The organizations with a queue and someone online by `liveness` who might take it: the
    /// only ones worth an assignment pass.
    pub async fn orgs_to_assign(&self, liveness: &Liveness) -> Result<Vec<String>> {
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
            .filter(alive(liveness))
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
    /// concurrent ones see each other's load and the round-robin position. With nobody online
    /// there is nothing to choose from: the pass ends before it takes the row, so that a burst
    /// of escalations with no agent online (a night, a webhook flood) does not queue on it one
    /// by one (on PostgreSQL 2,000 escalations waited 22 ms each there). An agent who comes
    /// online afterwards gets the queue from the periodic pass ([`Store::orgs_to_assign`]).
    async fn assign_waiting(
        &self,
        org_id: &str,
        waiting: Waiting<'_>,
        liveness: &Liveness,
    ) -> Result<Vec<model::Conversation>> {
        if online_agents(self.db(), org_id, liveness).await?.is_empty() {
            return Ok(Vec::new());
        }
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
        let online = online_agents(&*txn, org_id, liveness).await?;
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
            queue_order(priority, waiting_since, &row.id)
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
            audit_at(
                &*txn,
                now,
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

    /// Takes back the conversations of agents who went away (presence `away`, or not alive by
    /// `liveness`) that still await a first response since their escalation: each goes
    /// back to the queue (`escalated`, unassigned; its SLA clock keeps running), audited as
    /// `conversation.reassigned`. Conversations the agent already answered stay with them: the
    /// customer is mid-conversation with that person, who will see it on their return.
    pub async fn release_absent_agents(&self, liveness: &Liveness) -> Result<Vec<Released>> {
        let not_alive = match liveness {
            Liveness::SeenSince(fresh_since) => agent_presence::Column::LastSeenAt.lt(*fresh_since),
            Liveness::Heartbeats(alive) => {
                agent_presence::Column::UserId.is_not_in(alive.iter().cloned())
            }
        };
        let absent = Query::select()
            .column(agent_presence::Column::UserId)
            .from(agent_presence::Entity)
            .cond_where(
                Condition::any()
                    .add(agent_presence::Column::Status.eq(PresenceStatus::Away.as_str()))
                    .add(not_alive),
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
            audit_at(
                &*txn,
                self.now(),
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
}

/// Which escalated conversations an assignment pass looks at.
enum Waiting<'a> {
    One(&'a str),
    Queue,
}

/// The condition on `agent_presence` rows of agents alive by `liveness` (whatever they said).
fn alive(liveness: &Liveness) -> sea_orm::sea_query::Expr {
    match liveness {
        Liveness::SeenSince(fresh_since) => agent_presence::Column::LastSeenAt.gte(*fresh_since),
        Liveness::Heartbeats(alive) => agent_presence::Column::UserId.is_in(alive.iter().cloned()),
    }
}

/// The organization's agents who are online by `liveness`, active and allowed to reply,
/// sorted by id.
async fn online_agents(
    db: &impl ConnectionTrait,
    org_id: &str,
    liveness: &Liveness,
) -> Result<Vec<String>> {
    let online = Query::select()
        .column(agent_presence::Column::UserId)
        .from(agent_presence::Entity)
        .and_where(agent_presence::Column::OrgId.eq(org_id))
        .and_where(agent_presence::Column::Status.eq(PresenceStatus::Online.as_str()))
        .and_where(alive(liveness))
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
