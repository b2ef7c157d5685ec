//! What analytics reads: why each handoff happened, as a kind a report can group by, and the
//! conversations of an organization by the time they were opened.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("handoffs")
                    .add_column(string("reason_kind").default("rule"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_conversations_org_created")
                    .table("conversations")
                    .col("org_id")
                    .col("created_at")
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_conversations_org_created")
                    .table("conversations")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("handoffs")
                    .drop_column("reason_kind")
                    .take(),
            )
            .await
    }
}
