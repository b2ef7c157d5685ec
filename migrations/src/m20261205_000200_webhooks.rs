//! Signed outbound webhooks: an organization's subscriptions, the deliveries waiting to be sent
//! (the durable queue the delivery workers claim from), and the last status each conversation
//! was announced with, so that only real transitions become events.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("webhook_subscriptions")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("org_id"))
                    .col(text("url"))
                    // A JSON array of event names.
                    .col(text("events"))
                    // The signing secret: the hub needs it to sign, so it is kept as it is.
                    .col(string("secret"))
                    .col(timestamp_with_time_zone("created_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_subscriptions_org")
                    .table("webhook_subscriptions")
                    .col("org_id")
                    .if_not_exists()
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("webhook_deliveries")
                    .if_not_exists()
                    // Also the payload's `id`: the same on every attempt.
                    .col(string("id").primary_key())
                    .col(string("org_id"))
                    .col(string("subscription_id"))
                    .col(string("event"))
                    // The conversation the event is about, so that erasing a contact finds
                    // the deliveries that carry their words.
                    .col(string_null("conversation_id"))
                    // The exact body sent on every attempt.
                    .col(text("body"))
                    // pending, in_flight, delivered, dead
                    .col(string("status"))
                    .col(integer("attempts"))
                    .col(timestamp_with_time_zone("next_attempt_at"))
                    .col(timestamp_with_time_zone_null("locked_until"))
                    .col(integer_null("last_status_code"))
                    .col(text_null("last_error"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .take(),
            )
            .await?;
        for (name, columns) in [
            (
                "idx_webhook_deliveries_due",
                &["status", "next_attempt_at"][..],
            ),
            (
                "idx_webhook_deliveries_subscription",
                &["subscription_id", "id"][..],
            ),
            (
                "idx_webhook_deliveries_conversation",
                &["conversation_id"][..],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table("webhook_deliveries").if_not_exists();
            for column in columns {
                index.col(*column);
            }
            manager.create_index(index.take()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("webhook_conversation_states")
                    .if_not_exists()
                    .col(string("conversation_id").primary_key())
                    .col(string("org_id"))
                    .col(string("status"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "webhook_conversation_states",
            "webhook_deliveries",
            "webhook_subscriptions",
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().take())
                .await?;
        }
        Ok(())
    }
}
