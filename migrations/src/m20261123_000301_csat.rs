//! Customer satisfaction ratings: one per conversation (rating again replaces it), asked for by
//! web chat when a conversation is resolved.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("csat_responses")
                    .if_not_exists()
                    .col(string("conversation_id").primary_key())
                    .col(string("org_id"))
                    .col(string("contact_id"))
                    .col(integer("score"))
                    .col(text_null("comment"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_csat_responses_org_created")
                    .table("csat_responses")
                    .col("org_id")
                    .col("created_at")
                    .if_not_exists()
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("csat_responses").if_exists().take())
            .await
    }
}
