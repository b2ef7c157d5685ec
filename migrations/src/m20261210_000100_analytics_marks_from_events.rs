//! The analytics marks come from the reporting events (issue 18). A conversation's reported
//! facts are read from its events alone (`analytics_events`), and events are only ever taken
//! out with their conversation, so it needs counting again exactly when an event is written
//! for it or it is deleted.
//!
//! Before this, triggers on every table the facts once came from marked it: on PostgreSQL a
//! statement trigger with transition tables on each write to `conversations`, `messages`,
//! `handoffs`, `conversation_routing` and `csat_responses`, so every group-commit batch of
//! customer messages (which changes no report) copied its conversations' old and new rows and
//! ran an `INSERT … SELECT` over them, in the ack's path. Now one row trigger on
//! `analytics_events` marks, and a batch that writes no event runs none; the deletion trigger of
//! `m20261208_000200_analytics_rollups` stays.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

use crate::m20261208_000200_analytics_rollups as rollups;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The trigger of the old marks that stays: a deleted conversation is taken out of the reports.
const KEPT: &str = "analytics_conversations_delete";

const MARK: &str = "INSERT INTO analytics_dirty (conversation_id, mark) \
     VALUES (NEW.conversation_id, 1) \
     ON CONFLICT (conversation_id) DO UPDATE SET mark = analytics_dirty.mark + 1";

/// The old marks' triggers that go, as (table, name).
fn replaced() -> Vec<(&'static str, String)> {
    rollups::triggers()
        .into_iter()
        .filter(|(_, name)| name != KEPT)
        .collect()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let postgres = manager.get_database_backend() == DbBackend::Postgres;
        let mut statements = Vec::new();
        for (table, name) in replaced() {
            statements.push(if postgres {
                format!("DROP TRIGGER IF EXISTS {name} ON {table}")
            } else {
                format!("DROP TRIGGER IF EXISTS {name}")
            });
        }
        if postgres {
            statements.extend([
                "DROP FUNCTION IF EXISTS analytics_mark_children()".to_owned(),
                "DROP FUNCTION IF EXISTS analytics_mark_messages()".to_owned(),
                format!(
                    "CREATE OR REPLACE FUNCTION analytics_mark_logged() RETURNS trigger AS $$ \
                     BEGIN {MARK}; RETURN NULL; END $$ LANGUAGE plpgsql"
                ),
                "DROP TRIGGER IF EXISTS analytics_events_mark ON analytics_events".to_owned(),
                "CREATE TRIGGER analytics_events_mark AFTER INSERT ON analytics_events \
                 FOR EACH ROW EXECUTE FUNCTION analytics_mark_logged()"
                    .to_owned(),
            ]);
        } else {
            statements.push(format!(
                "CREATE TRIGGER IF NOT EXISTS analytics_events_mark AFTER INSERT ON \
                 analytics_events BEGIN {}; END",
                MARK.replace("analytics_dirty.mark + 1", "mark + 1")
            ));
        }
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
                "DROP FUNCTION IF EXISTS analytics_mark_logged()".to_owned(),
            ]
        } else {
            vec!["DROP TRIGGER IF EXISTS analytics_events_mark".to_owned()]
        };
        // The old marks again, as their migration made them.
        statements.extend(if postgres {
            rollups::postgres_up()
        } else {
            rollups::sqlite_up()
        });
        for statement in statements {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }
}
