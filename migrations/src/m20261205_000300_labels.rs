//! Labels: an organization's named, coloured tags, and which conversations carry them.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("labels")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("org_id"))
                    .col(string("name"))
                    .col(string("color"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_labels_org_name")
                    .table("labels")
                    .col("org_id")
                    .col("name")
                    .unique()
                    .if_not_exists()
                    .take(),
            )
            .await?;
        // The key answers "the labels of these conversations" (a page of the list); the
        // (organization, label) index answers "the conversations with this label" (the filter)
        // without touching the conversations.
        manager
            .create_table(
                Table::create()
                    .table("conversation_labels")
                    .if_not_exists()
                    .col(string("conversation_id"))
                    .col(string("label_id"))
                    .col(string("org_id"))
                    .primary_key(Index::create().col("conversation_id").col("label_id"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_conversation_labels_org_label")
                    .table("conversation_labels")
                    .col("org_id")
                    .col("label_id")
                    .col("conversation_id")
                    .if_not_exists()
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table("conversation_labels")
                    .if_exists()
                    .take(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table("labels").if_exists().take())
            .await
    }
}
