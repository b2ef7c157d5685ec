//! Handoffs say which wrote their summary and suggested reply: `extractive` (offline, from the
//! conversation itself; every earlier record) or `llm` (the configured model).

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
                    .add_column_if_not_exists(string("summary_source").default("extractive"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("handoffs")
                    .drop_column("summary_source")
                    .take(),
            )
            .await
    }
}
