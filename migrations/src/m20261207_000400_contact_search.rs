//! Contacts found by any part of a name, email, phone or channel identity without reading
//! every contact: on SQLite FTS5 tables with the trigram tokenizer over `contacts` and
//! `contact_identities` (external content, kept by triggers like the other search tables); on
//! PostgreSQL `pg_trgm` GIN indexes on the `lower(…)` expressions the search's `LIKE`s use,
//! where the extension is available (Debian's and the official images' PostgreSQL have it);
//! without it the search still works, by reading the table.

use sea_orm_migration::{
    prelude::*,
    sea_orm::{ConnectionTrait, DbBackend, Statement},
};

use crate::m20261205_000300_search::{sqlite_fts, sqlite_fts_drop};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// SQLite's FTS5 tables over contacts: table, columns.
pub(crate) const SQLITE_TABLES: [(&str, &[&str]); 2] = [
    ("contacts", &["name", "email", "phone"]),
    ("contact_identities", &["external_id"]),
];

/// The FTS5 tokenizer of [`SQLITE_TABLES`].
pub(crate) const SQLITE_TOKENIZER: &str = "trigram";

/// PostgreSQL's trigram indexes: name, table, column.
pub(crate) const POSTGRES_INDEXES: [(&str, &str, &str); 4] = [
    ("idx_contacts_name_trgm", "contacts", "name"),
    ("idx_contacts_email_trgm", "contacts", "email"),
    ("idx_contacts_phone_trgm", "contacts", "phone"),
    (
        "idx_contact_identities_external_id_trgm",
        "contact_identities",
        "external_id",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Sqlite => {
                for (table, columns) in SQLITE_TABLES {
                    for statement in sqlite_fts(table, columns, SQLITE_TOKENIZER) {
                        db.execute_unprepared(&statement).await?;
                    }
                }
            }
            backend => {
                // Only where the extension is installed or may be: a failed CREATE EXTENSION
                // would abort the migration's transaction.
                let usable = db
                    .query_one_raw(Statement::from_string(
                        backend,
                        "SELECT 1 AS usable FROM pg_available_extensions WHERE name = 'pg_trgm' \
                         AND (installed_version IS NOT NULL \
                         OR has_database_privilege(current_database(), 'CREATE'))",
                    ))
                    .await?
                    .is_some();
                if usable {
                    db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                        .await?;
                    for (index, table, column) in POSTGRES_INDEXES {
                        db.execute_unprepared(&format!(
                            "CREATE INDEX IF NOT EXISTS {index} ON {table} \
                             USING GIN (lower({column}) gin_trgm_ops)"
                        ))
                        .await?;
                    }
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
                for (index, _, _) in POSTGRES_INDEXES {
                    db.execute_unprepared(&format!("DROP INDEX IF EXISTS {index}"))
                        .await?;
                }
            }
        }
        Ok(())
    }
}
