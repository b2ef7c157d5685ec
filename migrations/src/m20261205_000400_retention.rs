//! Retention: each organization's policy for how long resolved conversations and knowledge
//! gaps are kept, and the index the retention job finds expired conversations through.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("retention_policies")
                    .if_not_exists()
                    .col(string("org_id").primary_key())
                    // Null: kept forever.
                    .col(integer_null("resolved_conversations_days"))
                    .col(integer_null("knowledge_gaps_days"))
                    // `delete` or `anonymize`.
                    .col(string("mode"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .take(),
            )
            .await?;
        // The job reads an organization's conversations resolved before a cutoff, in batches.
        manager
            .create_index(
                Index::create()
                    .name("idx_conversations_org_resolved")
                    .table("conversations")
                    .col("org_id")
                    .col("resolved_at")
                    .if_not_exists()
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_conversations_org_resolved")
                    .table("conversations")
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table("retention_policies").if_exists().take())
            .await?;
        Ok(())
    }
}
