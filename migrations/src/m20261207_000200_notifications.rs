//! Notifications: an agent's mentions in private notes and the conversations assigned to them,
//! and the users each note mentions (`messages.mentions`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("notifications")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("org_id"))
                    .col(string("user_id"))
                    .col(string("kind"))
                    .col(string("conversation_id"))
                    .col(string_null("message_id"))
                    .col(string_null("actor_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("read_at"))
                    .take(),
            )
            .await?;
        // The bell: a user's unread (`read_at IS NULL`), newest first, and their count.
        manager
            .create_index(
                Index::create()
                    .name("idx_notifications_user_unread")
                    .table("notifications")
                    .col("user_id")
                    .col("read_at")
                    .col("created_at")
                    .if_not_exists()
                    .take(),
            )
            .await?;
        // The panel: all of a user's, newest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_notifications_user_created")
                    .table("notifications")
                    .col("user_id")
                    .col("created_at")
                    .if_not_exists()
                    .take(),
            )
            .await?;
        // Erasure and retention delete a conversation's notifications with it.
        manager
            .create_index(
                Index::create()
                    .name("idx_notifications_conversation")
                    .table("notifications")
                    .col("conversation_id")
                    .if_not_exists()
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("messages")
                    .add_column(json_binary_null("mentions"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("messages")
                    .drop_column("mentions")
                    .take(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table("notifications").if_exists().take())
            .await
    }
}
