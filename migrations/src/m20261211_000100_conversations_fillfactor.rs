//! PostgreSQL keeps room in each page of `conversations` (issue 18): a message's update of its
//! conversation (`last_seq`, the preview, the times) that changes no indexed column is made in
//! place, a HOT update with no new index entries, only when the new version fits on the same
//! page. The bot's conversations move their indexed `updated_at` at most once a minute
//! (`conversations::touched_at`), so most of a message's updates qualify. Pages written before
//! keep no room until they are rewritten. SQLite is left as it is: it updates only the indexes
//! whose columns changed.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

async fn run(manager: &SchemaManager<'_>, statement: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    manager
        .get_connection()
        .execute_unprepared(statement)
        .await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, "ALTER TABLE conversations SET (fillfactor = 80)").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, "ALTER TABLE conversations RESET (fillfactor)").await
    }
}
