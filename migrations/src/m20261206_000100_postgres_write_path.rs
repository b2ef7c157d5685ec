//! PostgreSQL's write path under load (issue 18), where the wave-2 features made every write
//! dearer. SQLite is left as it is.
//! - The trigger that wakes a snoozed conversation when its customer writes ran a PL/pgSQL call
//!   and a `DELETE` for every customer message; it now runs once per `INSERT` statement, over the
//!   statement's new rows (a group-commit batch is one statement).
//! - Each message updates its conversation, and `updated_at` is indexed, so every index of
//!   `conversations` takes a new entry each time, the subject's full-text index included, which
//!   computed `to_tsvector` of an empty subject for every message on chat channels. It now holds
//!   only the conversations that have a subject (`hub/store/src/search.rs` asks for the same).

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

use crate::m20261205_000310_snooze::POSTGRES_WAKE;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: [&str; 6] = [
    "DROP TRIGGER IF EXISTS messages_wake_snoozed ON messages",
    "CREATE OR REPLACE FUNCTION wake_snoozed_conversations() RETURNS trigger AS $$ \
     BEGIN DELETE FROM conversation_snoozes s USING new_messages m \
     WHERE s.conversation_id = m.conversation_id AND m.role = 'customer' AND NOT m.automated; \
     RETURN NULL; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER messages_wake_snoozed AFTER INSERT ON messages \
     REFERENCING NEW TABLE AS new_messages FOR EACH STATEMENT \
     EXECUTE FUNCTION wake_snoozed_conversations()",
    "DROP FUNCTION IF EXISTS wake_snoozed_conversation()",
    "DROP INDEX IF EXISTS idx_conversations_subject_search",
    "CREATE INDEX IF NOT EXISTS idx_conversations_subject_search ON conversations \
     USING GIN (to_tsvector('simple', subject)) WHERE subject IS NOT NULL",
];

const DOWN: [&str; 6] = [
    "DROP TRIGGER IF EXISTS messages_wake_snoozed ON messages",
    POSTGRES_WAKE[0],
    POSTGRES_WAKE[1],
    "DROP FUNCTION IF EXISTS wake_snoozed_conversations()",
    "DROP INDEX IF EXISTS idx_conversations_subject_search",
    "CREATE INDEX IF NOT EXISTS idx_conversations_subject_search ON conversations \
     USING GIN (to_tsvector('simple', coalesce(subject, '')))",
];

async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let db = manager.get_connection();
    for statement in statements {
        db.execute_unprepared(statement).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, &UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, &DOWN).await
    }
}
