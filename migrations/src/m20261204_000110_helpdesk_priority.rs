//! The priority a helpdesk ticket was last read with, so that a change made in the helpdesk is
//! told apart from the hub's own.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("helpdesk_tickets")
                    .add_column(string_null("remote_priority"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("helpdesk_tickets")
                    .drop_column("remote_priority")
                    .take(),
            )
            .await
    }
}
