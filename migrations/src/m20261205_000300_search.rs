//! Full-text search, kept by the database itself so that no write path changes: on SQLite
//! FTS5 tables over messages, conversation subjects and knowledge articles (external content,
//! kept by triggers, filled from the rows already there); on PostgreSQL GIN indexes on the
//! `to_tsvector('simple', …)` expressions the search queries use.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One FTS5 table over `columns` of `table`, its triggers and its backfill. The index reads
/// the text from the table by rowid (external content), so the text is not stored twice.
pub(crate) fn sqlite_fts(table: &str, columns: &[&str], tokenize: &str) -> Vec<String> {
    let fts = format!("{table}_fts");
    let list = columns.join(", ");
    let new_values = columns
        .iter()
        .map(|column| format!("new.{column}"))
        .collect::<Vec<_>>()
        .join(", ");
    let old_values = columns
        .iter()
        .map(|column| format!("old.{column}"))
        .collect::<Vec<_>>()
        .join(", ");
    let changed = columns
        .iter()
        .map(|column| format!("old.{column} IS NOT new.{column}"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let insert = format!("INSERT INTO {fts}(rowid, {list}) VALUES (new.rowid, {new_values});");
    let delete = format!(
        "INSERT INTO {fts}({fts}, rowid, {list}) VALUES ('delete', old.rowid, {old_values});"
    );
    vec![
        format!(
            "CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5({list}, content='{table}', \
             content_rowid='rowid', tokenize='{tokenize}')"
        ),
        format!(
            "CREATE TRIGGER IF NOT EXISTS {fts}_insert AFTER INSERT ON {table} BEGIN {insert} END"
        ),
        format!(
            "CREATE TRIGGER IF NOT EXISTS {fts}_delete AFTER DELETE ON {table} BEGIN {delete} END"
        ),
        // Only a change of the indexed text touches the index: conversations are updated on
        // every message, their subject almost never.
        format!(
            "CREATE TRIGGER IF NOT EXISTS {fts}_update AFTER UPDATE OF {list} ON {table} \
             WHEN {changed} BEGIN {delete} {insert} END"
        ),
        format!("INSERT INTO {fts}({fts}) VALUES ('rebuild')"),
    ]
}

/// Undoes [`sqlite_fts`]: the triggers, then the table.
pub(crate) fn sqlite_fts_drop(table: &str) -> Vec<String> {
    ["insert", "delete", "update"]
        .iter()
        .map(|suffix| format!("DROP TRIGGER IF EXISTS {table}_fts_{suffix}"))
        .chain([format!("DROP TABLE IF EXISTS {table}_fts")])
        .collect()
}

const SQLITE_TABLES: [(&str, &[&str]); 3] = [
    ("messages", &["text"]),
    ("conversations", &["subject"]),
    ("kb_articles", &["title", "body"]),
];

/// The expressions the search queries match on (`hub/store/src/search.rs` uses the same text:
/// an expression index serves only the very same expression).
const POSTGRES_INDEXES: [&str; 3] = [
    "CREATE INDEX IF NOT EXISTS idx_messages_search ON messages \
     USING GIN (to_tsvector('simple', text))",
    "CREATE INDEX IF NOT EXISTS idx_conversations_subject_search ON conversations \
     USING GIN (to_tsvector('simple', coalesce(subject, '')))",
    "CREATE INDEX IF NOT EXISTS idx_kb_articles_search ON kb_articles \
     USING GIN (to_tsvector('simple', title || ' ' || body))",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Sqlite => {
                for (table, columns) in SQLITE_TABLES {
                    for statement in sqlite_fts(table, columns, "unicode61 remove_diacritics 2") {
                        db.execute_unprepared(&statement).await?;
                    }
                }
            }
            _ => {
                for statement in POSTGRES_INDEXES {
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
                for (table, _) in SQLITE_TABLES {
                    for statement in sqlite_fts_drop(table) {
                        db.execute_unprepared(&statement).await?;
                    }
                }
            }
            _ => {
                for index in [
                    "idx_messages_search",
                    "idx_conversations_subject_search",
                    "idx_kb_articles_search",
                ] {
                    db.execute_unprepared(&format!("DROP INDEX IF EXISTS {index}"))
                        .await?;
                }
            }
        }
        Ok(())
    }
}
