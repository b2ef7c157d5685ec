//! PostgreSQL's GIN indexes that the write path fills (full-text search over messages and
//! conversation subjects, the contacts' trigram indexes) merge what they are given in small
//! steps (issue 18).
//!
//! A GIN index puts new entries on a pending list and merges the list into the index once it
//! outgrows `gin_pending_list_limit`, in the statement that found it full. With the default of
//! 4 MB that merge took 40 ms on a quiet machine and 70–170 ms at 1,000 messages a second, in
//! one of the ingest or answer writers' inserts, every few seconds, while the writer held the
//! conversations' rows and every acknowledgement of its batch: the tail of the acknowledgements.
//! At 256 kB each merge is 16 times smaller and as cheap per entry (300 inserts of 32 answers:
//! 0.77 s in all either way, the longest 41 ms before and 7 ms after), and a search reads a
//! shorter list. SQLite's FTS5 tables are unchanged.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

use crate::m20261207_000400_contact_search as contact_search;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The full-text indexes of tables that take a row for each message or conversation; with the
/// contacts' trigram indexes ([`contact_search::POSTGRES_INDEXES`]), every GIN index the write
/// path fills.
const FULL_TEXT: [&str; 2] = ["idx_messages_search", "idx_conversations_subject_search"];

/// The pending list's limit, in kB.
const PENDING_LIST_KB: u32 = 256;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set(
            manager,
            &format!("SET (gin_pending_list_limit = {PENDING_LIST_KB})"),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set(manager, "RESET (gin_pending_list_limit)").await
    }
}

async fn set(manager: &SchemaManager<'_>, change: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let db = manager.get_connection();
    let trigram = contact_search::POSTGRES_INDEXES.map(|(index, _, _)| index);
    // An index that does not exist (`pg_trgm` was not available) is skipped.
    for index in FULL_TEXT.into_iter().chain(trigram) {
        db.execute_unprepared(&format!("ALTER INDEX IF EXISTS {index} {change}"))
            .await?;
    }
    Ok(())
}
