//! Dead letters: what a channel sent that the hub acknowledged but did not store (a payload it
//! cannot read, an event of a kind it does not take), kept for an admin to see; and, on the
//! outbound webhooks' delivery log, which delivery a replay repeats.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("dead_letters")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("org_id"))
                    .col(string("inbox_id"))
                    .col(string("channel"))
                    // malformed, unknown_shape, unsupported
                    .col(string("reason"))
                    .col(text("detail"))
                    // The platform's id for what was dropped, when it has one.
                    .col(string_null("event_id"))
                    // The request's body, cut at 64 KiB (as text: invalid UTF-8 replaced).
                    .col(text("body"))
                    // The body's full length in bytes, so that a cut one shows as cut.
                    .col(big_integer("body_bytes"))
                    .col(timestamp_with_time_zone("created_at"))
                    .take(),
            )
            .await?;
        // The admin's list: an organization's, newest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_dead_letters_org")
                    .table("dead_letters")
                    .col("org_id")
                    .col("id")
                    .if_not_exists()
                    .take(),
            )
            .await?;
        // A platform's resend of the same event is kept once (rows without an id all differ:
        // NULLs are distinct in a unique index on both databases).
        manager
            .create_index(
                Index::create()
                    .name("idx_dead_letters_event")
                    .table("dead_letters")
                    .col("inbox_id")
                    .col("event_id")
                    .unique()
                    .if_not_exists()
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("webhook_deliveries")
                    .add_column(string_null("replay_of"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("webhook_deliveries")
                    .drop_column("replay_of")
                    .take(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table("dead_letters").if_exists().take())
            .await
    }
}
