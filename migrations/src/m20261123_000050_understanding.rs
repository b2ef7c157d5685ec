//! Understanding: each customer message's sentiment, and each organization's trained topic
//! classifier (one per organization; training again replaces it).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("messages")
                    .add_column(integer_null("sentiment"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("topic_models")
                    .if_not_exists()
                    .col(string("org_id").primary_key())
                    // The classifier's compact binary form (switchboard_ai::topics::TopicModel).
                    .col(blob("model"))
                    .col(json_binary("labels"))
                    .col(double("unknown_threshold"))
                    // What training measured on its held-out rows (TrainReport as JSON).
                    .col(json_binary("metrics"))
                    .col(timestamp_with_time_zone("trained_at"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("topic_models").if_exists().take())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("messages")
                    .drop_column("sentiment")
                    .take(),
            )
            .await
    }
}
