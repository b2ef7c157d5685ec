//! Escalation rules' storage: an organization's routing defaults (seeded with the
//! organization), its rules in order, and the rules revision every change bumps so that each
//! node knows when its compiled rules are stale. What a rule may say is
//! `switchboard_routing::spec`.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, TryInsertResult,
    sea_query::{Expr, ExprTrait},
};
use switchboard_model::{AssignmentStrategy, EscalationRule, new_id};
use switchboard_routing::{
    MAX_RULES, RuleSpec, check_rule_spec, default_rules, default_sla_policies,
};

use super::{invalid, sla::policy_row};
use crate::{Result, Store, StoreError, convert, entities::*};

/// Seeds an organization's routing defaults (settings, rules, SLA policies) unless it has its
/// routing settings already. Returns whether it seeded. The settings row is the marker, so
/// rules an organization deleted stay deleted.
pub(crate) async fn seed_defaults(
    db: &impl ConnectionTrait,
    org_id: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
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
            seed_defaults(&*txn, org_id, self.now()).await?;
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
        check_rule_spec(spec).map_err(invalid)?;
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
        let row = escalation_rule::Entity::insert(rule_row(org_id, position, spec, self.now()))
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
        check_rule_spec(spec).map_err(invalid)?;
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
        active.updated_at = Set(self.now());
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
        let now = self.now();
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

    pub(super) async fn check_team(&self, org_id: &str, team_id: Option<&str>) -> Result<()> {
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
