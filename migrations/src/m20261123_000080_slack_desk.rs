//! The Slack agent desk: which Slack thread mirrors which conversation, and which Slack
//! message became (or was refused as) which hub message, so that nothing is posted or stored
//! twice across retries and nodes.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("slack_mirrors")
                    .if_not_exists()
                    // One mirror per conversation: inserting the row claims the post.
                    .col(string("conversation_id").primary_key())
                    .col(string("org_id"))
                    .col(string("inbox_id"))
                    .col(string("channel"))
                    // Null until Slack answered the top-level post with its `ts`.
                    .col(string_null("thread_ts"))
                    .col(timestamp_with_time_zone("created_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_slack_mirrors_thread")
                    .table("slack_mirrors")
                    .col("inbox_id")
                    .col("channel")
                    .col("thread_ts")
                    .unique()
                    .if_not_exists()
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("slack_desk_messages")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("org_id"))
                    .col(string("inbox_id"))
                    .col(string("conversation_id"))
                    // The hub's message: a reply taken from Slack, or one posted into Slack.
                    // Null for a Slack message that was refused (an unknown user).
                    .col(string_null("message_id"))
                    // `{channel}:{ts}` of the Slack message; null while a post is in flight.
                    .col(string_null("slack_message_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_slack_desk_messages_message")
                    .table("slack_desk_messages")
                    .col("message_id")
                    .unique()
                    .if_not_exists()
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_slack_desk_messages_slack")
                    .table("slack_desk_messages")
                    .col("inbox_id")
                    .col("slack_message_id")
                    .unique()
                    .if_not_exists()
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table("slack_desk_messages")
                    .if_exists()
                    .take(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table("slack_mirrors").if_exists().take())
            .await
    }
}
