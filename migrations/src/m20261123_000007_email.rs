//! Email: a message keeps its whole text when the shown text is cut (quoted history and
//! signature stripped), and says whether a machine sent it (auto-replies, bounces).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        manager
            .alter_table(
                Table::alter()
                    .table("messages")
                    .add_column_if_not_exists(text_null("text_full"))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("messages")
                    .add_column_if_not_exists(boolean("automated").default(false))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["automated", "text_full"] {
            manager
                .alter_table(Table::alter().table("messages").drop_column(column).take())
                .await?;
        }
        Ok(())
    }
}
