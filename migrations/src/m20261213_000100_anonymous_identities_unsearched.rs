//! An anonymous web-chat visitor's identity (`visitor:` and the SHA-256 of their token, 64 hex
//! digits) leaves the contacts' trigram search (issue 18).
//!
//! Nobody can search for it: the token stays in the visitor's browser and the hash is of no use
//! to an agent (the visitor is shown by a generated name). Yet it was the longest text the
//! write path put in a trigram index, 70 trigrams for each new visitor, 66 of them keys shared
//! with other visitors' hashes: at 1,000 new web-chat conversations a second on PostgreSQL it
//! was a third of the write-ahead log (254 MB in 12 s, 169 MB without the index) and the
//! pending-list merges in the ingest writers' inserts. A verified visitor's user id, and every
//! other channel's identity, are searched as before. On SQLite the FTS5 table's triggers skip
//! the same rows.
//!
//! [`searched_identity`] is the condition, written once: PostgreSQL uses a partial index only
//! for a query that states its very predicate, so `Store::search` states this text.

use sea_orm_migration::{
    prelude::*,
    sea_orm::{ConnectionTrait, DbBackend, Statement},
};

use crate::{
    m20261205_000300_search::{sqlite_fts, sqlite_fts_drop},
    m20261207_000400_contact_search as contact_search,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Whether a `contact_identities` row is in the contacts' search, over its columns as
/// `{row}channel` and `{row}external_id` (`row` is `""`, `"new."` or `"old."`).
pub fn searched_identity(row: &str) -> String {
    format!("NOT ({row}channel = 'webchat' AND substr({row}external_id, 1, 8) = 'visitor:')")
}

const INDEX: &str = "idx_contact_identities_external_id_trgm";

/// The pending-list limit the index had (`m20261212_000100_gin_pending_lists`).
const PENDING_LIST: &str = "WITH (gin_pending_list_limit = 256)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on SQLite too: the triggers are dropped and made again on one
    /// connection (on the pool's others a trigger just dropped could still be seen), and
    /// never half replaced.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Sqlite => {
                for statement in sqlite_triggers() {
                    db.execute_unprepared(&statement).await?;
                }
                // The anonymous rows already indexed leave it; the others stay.
                db.execute_unprepared(&format!(
                    "INSERT INTO contact_identities_fts(contact_identities_fts, rowid, \
                     external_id) SELECT 'delete', rowid, external_id FROM contact_identities \
                     WHERE NOT ({})",
                    searched_identity("")
                ))
                .await?;
            }
            _ => {
                let searched = searched_identity("");
                replace_postgres_index(manager, &format!("WHERE {searched}")).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Sqlite => {
                // The table and its triggers as `contact_search` made them, filled again.
                let (table, columns) = contact_search::SQLITE_TABLES
                    .into_iter()
                    .find(|(table, _)| *table == "contact_identities")
                    .ok_or_else(|| DbErr::Migration("no FTS table over identities".into()))?;
                let statements = sqlite_fts_drop(table).into_iter().chain(sqlite_fts(
                    table,
                    columns,
                    contact_search::SQLITE_TOKENIZER,
                ));
                for statement in statements {
                    db.execute_unprepared(&statement).await?;
                }
            }
            _ => replace_postgres_index(manager, "").await?,
        }
        Ok(())
    }
}

/// Makes PostgreSQL's trigram index over identities again, over the rows `predicate` keeps
/// (`WHERE …`, or `""` for all), where it exists (not without `pg_trgm`).
async fn replace_postgres_index(manager: &SchemaManager<'_>, predicate: &str) -> Result<(), DbErr> {
    if !trigram_index_exists(manager).await? {
        return Ok(());
    }
    let db = manager.get_connection();
    db.execute_unprepared(&format!("DROP INDEX {INDEX}"))
        .await?;
    db.execute_unprepared(&format!(
        "CREATE INDEX {INDEX} ON contact_identities \
         USING GIN (lower(external_id) gin_trgm_ops) {PENDING_LIST} {predicate}"
    ))
    .await?;
    Ok(())
}

/// Whether PostgreSQL has the trigram index (not without `pg_trgm`).
async fn trigram_index_exists(manager: &SchemaManager<'_>) -> Result<bool, DbErr> {
    debug_assert!(
        contact_search::POSTGRES_INDEXES
            .iter()
            .any(|(index, ..)| *index == INDEX)
    );
    let found = manager
        .get_connection()
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT 1 AS present WHERE to_regclass('{INDEX}') IS NOT NULL"),
        ))
        .await?;
    Ok(found.is_some())
}

/// The FTS5 table's triggers over `contact_identities`, replaced by ones that skip the rows
/// outside the search.
fn sqlite_triggers() -> Vec<String> {
    let only = |row: &str| format!(" WHERE {}", searched_identity(row));
    let insert = format!(
        "INSERT INTO contact_identities_fts(rowid, external_id) \
         SELECT new.rowid, new.external_id{};",
        only("new.")
    );
    let delete = format!(
        "INSERT INTO contact_identities_fts(contact_identities_fts, rowid, external_id) \
         SELECT 'delete', old.rowid, old.external_id{};",
        only("old.")
    );
    let mut statements: Vec<String> = ["insert", "delete", "update"]
        .iter()
        .map(|suffix| format!("DROP TRIGGER IF EXISTS contact_identities_fts_{suffix}"))
        .collect();
    statements.extend([
        format!(
            "CREATE TRIGGER contact_identities_fts_insert AFTER INSERT ON contact_identities \
             BEGIN {insert} END"
        ),
        format!(
            "CREATE TRIGGER contact_identities_fts_delete AFTER DELETE ON contact_identities \
             BEGIN {delete} END"
        ),
        format!(
            "CREATE TRIGGER contact_identities_fts_update AFTER UPDATE OF channel, external_id \
             ON contact_identities WHEN old.external_id IS NOT new.external_id \
             OR old.channel IS NOT new.channel BEGIN {delete} {insert} END"
        ),
    ]);
    statements
}
