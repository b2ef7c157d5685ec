//! Business hours on SLA policies, each agent's capacity, and a revision of each
//! organization's escalation rules (so that every node knows when its compiled rules are stale).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("sla_policies")
                    // switchboard_model::BusinessHours as JSON; null: around the clock.
                    .add_column(json_binary_null("business_hours"))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("routing_settings")
                    .add_column(big_integer("rules_revision").default(0))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("agent_capacities")
                    .if_not_exists()
                    .col(string("user_id").primary_key())
                    .col(string("org_id"))
                    // Most open assigned conversations; no row: no limit.
                    .col(integer("capacity"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_agent_capacities_org")
                    .table("agent_capacities")
                    .col("org_id")
                    .if_not_exists()
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("agent_capacities").if_exists().take())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("routing_settings")
                    .drop_column("rules_revision")
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("sla_policies")
                    .drop_column("business_hours")
                    .take(),
            )
            .await
    }
}
