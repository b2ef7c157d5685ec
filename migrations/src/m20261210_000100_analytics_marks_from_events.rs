//! The analytics marks come from the reporting events, and are only ever inserted (issue 18).
//!
//! A conversation's reported facts are read from its events alone (`analytics_events`), and
//! events are only ever taken out with their conversation, so it needs counting again exactly
//! when an event is written for it or it is deleted. Before this:
//! - triggers on every table the facts once came from marked it: on PostgreSQL a statement
//!   trigger with transition tables on each write to `conversations`, `messages`, `handoffs`,
//!   `conversation_routing` and `csat_responses`, so every group-commit batch of customer
//!   messages (which changes no report) copied its conversations' old and new rows and ran an
//!   `INSERT … SELECT` over them, in the ack's path;
//! - a mark was an upsert of the conversation's one row in `analytics_dirty`, so two
//!   transactions writing an event for one conversation (the ingest writer's change of
//!   sentiment, the answer writer's AI answer) waited for each other's commit, and so did every
//!   writer behind them, and the refresh's `DELETE` of the marks it counted.
//!
//! Now a mark is a row of `analytics_marks`, inserted by a row trigger on `analytics_events`
//! (and one on the deletion of a conversation): no unique key, so no writer waits for another.
//! The refresh reads marks in `id` order, counts their conversations again, and deletes exactly
//! the marks it read; a mark written meanwhile stays for the next round.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

use crate::m20261208_000200_analytics_rollups as rollups;

#[derive(DeriveMigrationName)]
pub struct Migration;

const MARK: &str = "INSERT INTO analytics_marks (conversation_id) VALUES (NEW.conversation_id)";

/// The marks' table, its `id` column's type given.
fn table(id: &str) -> String {
    format!("CREATE TABLE IF NOT EXISTS analytics_marks (id {id}, conversation_id TEXT NOT NULL)")
}

pub(crate) fn postgres_up() -> Vec<String> {
    vec![
        table("BIGSERIAL PRIMARY KEY"),
        format!(
            "CREATE OR REPLACE FUNCTION analytics_mark_logged() RETURNS trigger AS $$ \
             BEGIN {MARK}; RETURN NULL; END $$ LANGUAGE plpgsql"
        ),
        "DROP TRIGGER IF EXISTS analytics_events_mark ON analytics_events".to_owned(),
        "CREATE TRIGGER analytics_events_mark AFTER INSERT ON analytics_events \
         FOR EACH ROW EXECUTE FUNCTION analytics_mark_logged()"
            .to_owned(),
        "CREATE OR REPLACE FUNCTION analytics_mark_deleted() RETURNS trigger AS $$ \
         BEGIN INSERT INTO analytics_marks (conversation_id) SELECT id FROM analytics_gone; \
         RETURN NULL; END $$ LANGUAGE plpgsql"
            .to_owned(),
        "DROP TRIGGER IF EXISTS analytics_conversations_mark_deleted ON conversations".to_owned(),
        "CREATE TRIGGER analytics_conversations_mark_deleted AFTER DELETE ON conversations \
         REFERENCING OLD TABLE AS analytics_gone FOR EACH STATEMENT \
         EXECUTE FUNCTION analytics_mark_deleted()"
            .to_owned(),
    ]
}

fn sqlite_up() -> Vec<String> {
    vec![
        table("INTEGER PRIMARY KEY"),
        format!(
            "CREATE TRIGGER IF NOT EXISTS analytics_events_mark AFTER INSERT ON \
             analytics_events BEGIN {MARK}; END"
        ),
        "CREATE TRIGGER IF NOT EXISTS analytics_conversations_mark_deleted AFTER DELETE ON \
         conversations BEGIN INSERT INTO analytics_marks (conversation_id) VALUES (OLD.id); END"
            .to_owned(),
    ]
}

/// The old marks' triggers, and on PostgreSQL their functions.
fn drop_old(postgres: bool) -> Vec<String> {
    let mut statements: Vec<String> = rollups::triggers()
        .into_iter()
        .map(|(table, name)| {
            if postgres {
                format!("DROP TRIGGER IF EXISTS {name} ON {table}")
            } else {
                format!("DROP TRIGGER IF EXISTS {name}")
            }
        })
        .collect();
    if postgres {
        for function in [
            "analytics_mark_conversations",
            "analytics_mark_children",
            "analytics_mark_messages",
        ] {
            statements.push(format!("DROP FUNCTION IF EXISTS {function}()"));
        }
    }
    statements
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let postgres = manager.get_database_backend() == DbBackend::Postgres;
        let mut statements = drop_old(postgres);
        statements.extend(if postgres { postgres_up() } else { sqlite_up() });
        // The conversations waiting to be counted again wait on.
        statements.push(
            "INSERT INTO analytics_marks (conversation_id) \
             SELECT conversation_id FROM analytics_dirty"
                .to_owned(),
        );
        statements.push("DROP TABLE analytics_dirty".to_owned());
        for statement in statements {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let postgres = manager.get_database_backend() == DbBackend::Postgres;
        let mut statements = if postgres {
            vec![
                "DROP TRIGGER IF EXISTS analytics_events_mark ON analytics_events".to_owned(),
                "DROP TRIGGER IF EXISTS analytics_conversations_mark_deleted ON conversations"
                    .to_owned(),
                "DROP FUNCTION IF EXISTS analytics_mark_logged()".to_owned(),
                "DROP FUNCTION IF EXISTS analytics_mark_deleted()".to_owned(),
            ]
        } else {
            vec![
                "DROP TRIGGER IF EXISTS analytics_events_mark".to_owned(),
                "DROP TRIGGER IF EXISTS analytics_conversations_mark_deleted".to_owned(),
            ]
        };
        statements.extend([
            rollups::DIRTY.to_owned(),
            "INSERT INTO analytics_dirty (conversation_id, mark) \
             SELECT DISTINCT conversation_id, 1 FROM analytics_marks"
                .to_owned(),
        ]);
        // The old marks again, as their migration made them.
        statements.extend(if postgres {
            rollups::postgres_up()
        } else {
            rollups::sqlite_up()
        });
        statements.push("DROP TABLE analytics_marks".to_owned());
        for statement in statements {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }
}
