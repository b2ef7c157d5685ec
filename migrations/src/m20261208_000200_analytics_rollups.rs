//! Analytics roll-ups (issue 21): the totals of each day per organization and dimension, so a
//! report over a year reads a row a day rather than every conversation.
//! - `analytics_dirty`: the conversations whose reported facts may have changed since the
//!   roll-ups last counted them. Triggers on every table those facts come from mark them, in the
//!   transaction of the change itself, so no writer of the hub has to remember to; `mark` counts
//!   the changes, so that the job that counts a conversation again only clears the mark it read.
//! - `analytics_facts`: what each conversation was last counted as (its day, its rows and its
//!   totals), to be taken out again when it changes.
//! - `analytics_days`: the roll-ups, one row per organization, dimension, key and day.
//! - `organizations.time_zone`: the zone whose days an organization's roll-ups count in.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The columns of `conversations` a report reads.
const CONVERSATION_COLUMNS: [&str; 10] = [
    "org_id",
    "inbox_id",
    "channel",
    "team_id",
    "assignee_id",
    "topic",
    "sentiment",
    "status",
    "resolved_at",
    "created_at",
];

/// The marks' table (`m20261210_000100_analytics_marks_from_events` replaces it, and makes it
/// again going down).
pub(crate) const DIRTY: &str = "CREATE TABLE IF NOT EXISTS analytics_dirty \
     (conversation_id TEXT PRIMARY KEY, mark BIGINT NOT NULL)";

const TABLES: [&str; 3] = [
    DIRTY,
    "CREATE TABLE IF NOT EXISTS analytics_facts (conversation_id TEXT PRIMARY KEY, \
     org_id TEXT NOT NULL, day TEXT NOT NULL, rows TEXT NOT NULL, totals TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS analytics_days (org_id TEXT NOT NULL, dimension TEXT NOT NULL, \
     key TEXT NOT NULL, day TEXT NOT NULL, totals TEXT NOT NULL, \
     PRIMARY KEY (org_id, dimension, key, day))",
];

/// The tables besides `conversations` whose rows change a conversation's facts, and the
/// operations that do.
const CHILDREN: [(&str, &[&str]); 4] = [
    ("conversation_routing", &["INSERT", "UPDATE", "DELETE"]),
    ("csat_responses", &["INSERT", "UPDATE", "DELETE"]),
    ("handoffs", &["INSERT", "DELETE"]),
    ("messages", &["INSERT", "DELETE"]),
];

const MARK_SQLITE: &str = "INSERT INTO analytics_dirty (conversation_id, mark) VALUES ({id}, 1) \
     ON CONFLICT (conversation_id) DO UPDATE SET mark = mark + 1";

pub(crate) fn sqlite_up() -> Vec<String> {
    let mark = |id: &str| MARK_SQLITE.replace("{id}", id);
    let changed = CONVERSATION_COLUMNS
        .iter()
        .map(|column| format!("OLD.{column} IS NOT NEW.{column}"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let mut statements = vec![
        format!(
            "CREATE TRIGGER IF NOT EXISTS analytics_conversations_insert AFTER INSERT ON \
             conversations BEGIN {}; END",
            mark("NEW.id")
        ),
        format!(
            "CREATE TRIGGER IF NOT EXISTS analytics_conversations_update AFTER UPDATE ON \
             conversations WHEN {changed} BEGIN {}; END",
            mark("NEW.id")
        ),
        format!(
            "CREATE TRIGGER IF NOT EXISTS analytics_conversations_delete AFTER DELETE ON \
             conversations BEGIN {}; END",
            mark("OLD.id")
        ),
    ];
    for (table, operations) in CHILDREN {
        for operation in operations {
            // A message counts when the AI or a person wrote it; customers' do not change
            // what a report reads of the conversation (its sentiment is on the conversation).
            let when = match (table, *operation) {
                ("messages", "INSERT") => " WHEN NEW.role IN ('ai', 'agent')",
                ("messages", _) => " WHEN OLD.role IN ('ai', 'agent')",
                _ => "",
            };
            let row = if *operation == "DELETE" { "OLD" } else { "NEW" };
            statements.push(format!(
                "CREATE TRIGGER IF NOT EXISTS analytics_{table}_{} AFTER {operation} ON {table}{when} \
                 BEGIN {}; END",
                operation.to_lowercase(),
                mark(&format!("{row}.conversation_id"))
            ));
        }
    }
    statements
}

/// PostgreSQL marks once per statement, over the statement's rows (a group-commit batch is one
/// statement), rather than calling PL/pgSQL for each row.
pub(crate) fn postgres_up() -> Vec<String> {
    let upsert = "ON CONFLICT (conversation_id) DO UPDATE SET mark = analytics_dirty.mark + 1";
    let changed = CONVERSATION_COLUMNS
        .iter()
        .map(|column| format!("o.{column} IS DISTINCT FROM n.{column}"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let mut statements = vec![
        format!(
            "CREATE OR REPLACE FUNCTION analytics_mark_conversations() RETURNS trigger AS $$ \
             BEGIN \
             IF TG_OP = 'INSERT' THEN \
               INSERT INTO analytics_dirty (conversation_id, mark) \
               SELECT DISTINCT id, 1 FROM analytics_new {upsert}; \
             ELSIF TG_OP = 'UPDATE' THEN \
               INSERT INTO analytics_dirty (conversation_id, mark) \
               SELECT DISTINCT n.id, 1 FROM analytics_new n JOIN analytics_old o ON o.id = n.id \
               WHERE {changed} {upsert}; \
             ELSE \
               INSERT INTO analytics_dirty (conversation_id, mark) \
               SELECT DISTINCT id, 1 FROM analytics_old {upsert}; \
             END IF; RETURN NULL; END $$ LANGUAGE plpgsql"
        ),
        format!(
            "CREATE OR REPLACE FUNCTION analytics_mark_children() RETURNS trigger AS $$ \
             BEGIN \
             IF TG_OP = 'DELETE' THEN \
               INSERT INTO analytics_dirty (conversation_id, mark) \
               SELECT DISTINCT conversation_id, 1 FROM analytics_old {upsert}; \
             ELSE \
               INSERT INTO analytics_dirty (conversation_id, mark) \
               SELECT DISTINCT conversation_id, 1 FROM analytics_new {upsert}; \
             END IF; RETURN NULL; END $$ LANGUAGE plpgsql"
        ),
        format!(
            "CREATE OR REPLACE FUNCTION analytics_mark_messages() RETURNS trigger AS $$ \
             BEGIN \
             IF TG_OP = 'DELETE' THEN \
               INSERT INTO analytics_dirty (conversation_id, mark) \
               SELECT DISTINCT conversation_id, 1 FROM analytics_old \
               WHERE role IN ('ai', 'agent') {upsert}; \
             ELSE \
               INSERT INTO analytics_dirty (conversation_id, mark) \
               SELECT DISTINCT conversation_id, 1 FROM analytics_new \
               WHERE role IN ('ai', 'agent') {upsert}; \
             END IF; RETURN NULL; END $$ LANGUAGE plpgsql"
        ),
    ];
    for (table, name) in triggers() {
        let function = match table {
            "conversations" => "analytics_mark_conversations",
            "messages" => "analytics_mark_messages",
            _ => "analytics_mark_children",
        };
        let operation = name.rsplit('_').next().unwrap_or_default().to_uppercase();
        let referencing = match operation.as_str() {
            "INSERT" => "NEW TABLE AS analytics_new",
            "UPDATE" => "OLD TABLE AS analytics_old NEW TABLE AS analytics_new",
            _ => "OLD TABLE AS analytics_old",
        };
        statements.push(format!("DROP TRIGGER IF EXISTS {name} ON {table}"));
        statements.push(format!(
            "CREATE TRIGGER {name} AFTER {operation} ON {table} REFERENCING {referencing} \
             FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        ));
    }
    statements
}

/// Every trigger, as (its table, its name).
pub(crate) fn triggers() -> Vec<(&'static str, String)> {
    std::iter::once(("conversations", &["INSERT", "UPDATE", "DELETE"][..]))
        .chain(CHILDREN)
        .flat_map(|(table, operations)| {
            operations.iter().map(move |operation| {
                (
                    table,
                    format!("analytics_{table}_{}", operation.to_lowercase()),
                )
            })
        })
        .collect()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("organizations")
                    .add_column(sea_orm_migration::schema::string("time_zone").default("UTC"))
                    .take(),
            )
            .await?;
        let db = manager.get_connection();
        for statement in TABLES {
            db.execute_unprepared(statement).await?;
        }
        let statements = match manager.get_database_backend() {
            DbBackend::Postgres => postgres_up(),
            _ => sqlite_up(),
        };
        for statement in statements {
            db.execute_unprepared(&statement).await?;
        }
        // The history so far: every conversation counted by the first run of the job.
        db.execute_unprepared(
            "INSERT INTO analytics_dirty (conversation_id, mark) SELECT id, 1 FROM conversations",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let postgres = manager.get_database_backend() == DbBackend::Postgres;
        for (table, name) in triggers() {
            let statement = if postgres {
                format!("DROP TRIGGER IF EXISTS {name} ON {table}")
            } else {
                format!("DROP TRIGGER IF EXISTS {name}")
            };
            db.execute_unprepared(&statement).await?;
        }
        if postgres {
            for function in [
                "analytics_mark_conversations",
                "analytics_mark_children",
                "analytics_mark_messages",
            ] {
                db.execute_unprepared(&format!("DROP FUNCTION IF EXISTS {function}()"))
                    .await?;
            }
        }
        for table in ["analytics_days", "analytics_facts", "analytics_dirty"] {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("organizations")
                    .drop_column("time_zone")
                    .take(),
            )
            .await
    }
}
