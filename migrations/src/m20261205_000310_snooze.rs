//! Snoozed conversations: out of the inbox's views until a time passes or the customer writes.
//! The customer's message wakes one in the database itself (a trigger on `messages`), in the
//! same transaction that stores it, so the ingest path knows nothing of snoozes.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_WAKE: &str = "CREATE TRIGGER IF NOT EXISTS messages_wake_snoozed AFTER INSERT ON messages \
     WHEN new.role = 'customer' AND NOT new.automated \
     BEGIN DELETE FROM conversation_snoozes WHERE conversation_id = new.conversation_id; END";

/// The row trigger of PostgreSQL (`m20261206_000100_postgres_write_path` replaces it, and puts
/// it back on the way down).
pub(crate) const POSTGRES_WAKE: [&str; 2] = [
    "CREATE OR REPLACE FUNCTION wake_snoozed_conversation() RETURNS trigger AS $$ \
     BEGIN DELETE FROM conversation_snoozes WHERE conversation_id = NEW.conversation_id; \
     RETURN NULL; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER messages_wake_snoozed AFTER INSERT ON messages FOR EACH ROW \
     WHEN (NEW.role = 'customer' AND NOT NEW.automated) \
     EXECUTE FUNCTION wake_snoozed_conversation()",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("conversation_snoozes")
                    .if_not_exists()
                    .col(string("conversation_id").primary_key())
                    .col(string("org_id"))
                    // Null: until the customer writes, however long that takes.
                    .col(timestamp_with_time_zone_null("until"))
                    .col(string_null("snoozed_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .take(),
            )
            .await?;
        // The views leave out an organization's snoozed conversations; the timer wakes those
        // whose time has come.
        manager
            .create_index(
                Index::create()
                    .name("idx_conversation_snoozes_org")
                    .table("conversation_snoozes")
                    .col("org_id")
                    .col("conversation_id")
                    .if_not_exists()
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_conversation_snoozes_until")
                    .table("conversation_snoozes")
                    .col("until")
                    .if_not_exists()
                    .take(),
            )
            .await?;
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Sqlite => {
                db.execute_unprepared(SQLITE_WAKE).await?;
            }
            _ => {
                for statement in POSTGRES_WAKE {
                    db.execute_unprepared(statement).await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Sqlite => {
                db.execute_unprepared("DROP TRIGGER IF EXISTS messages_wake_snoozed")
                    .await?;
            }
            _ => {
                db.execute_unprepared("DROP TRIGGER IF EXISTS messages_wake_snoozed ON messages")
                    .await?;
                db.execute_unprepared("DROP FUNCTION IF EXISTS wake_snoozed_conversation()")
                    .await?;
            }
        }
        manager
            .drop_table(
                Table::drop()
                    .table("conversation_snoozes")
                    .if_exists()
                    .take(),
            )
            .await
    }
}
