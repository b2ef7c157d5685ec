//! The reporting events in fewer statements on PostgreSQL (issue 18). SQLite is unchanged: its
//! triggers are statements of the same transaction in the same process, and cheap.
//!
//! Before this, a row of `messages` the AI wrote (every answer) ran a PL/pgSQL function whose
//! two `INSERT … SELECT … WHERE` statements each went through the executor, and the event it
//! wrote ran a second function, on `analytics_events`, to insert its mark: an answer writer's
//! batch of 32 answers cost 64 function calls and 96 statements besides its own, about a
//! quarter of the batch's time. Now:
//! - every function that writes events writes their marks in the same statement (a
//!   data-modifying `WITH`), and `analytics_events` has no trigger: whatever inserts events
//!   inserts their marks (only these triggers do);
//! - the events of a row go in one statement, their `SELECT`s joined by `UNION ALL`, in the
//!   order the separate statements had;
//! - `messages` has a statement trigger over the statement's new rows (the snooze trigger's
//!   transition table is already kept for every insert): one call and one statement a batch,
//!   whatever its size, and for a batch of customers' messages a statement that finds none;
//!   its events go in the order of the messages' `seq`. The other tables keep row triggers, so
//!   that a change that is no event (a conversation's next `seq`) still costs no call at all.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

use crate::{
    m20261209_000100_analytics_events::{
        self as events, Dialect, EVENTS, INSERT, Op, guard, op_name, select_list, tables,
        trigger_name,
    },
    m20261210_000100_analytics_marks_from_events as marks,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `events` (an `INSERT INTO analytics_events … RETURNING conversation_id`) with a mark for
/// each event it writes.
fn with_marks(events: &str) -> String {
    format!(
        "WITH e AS ({events} RETURNING conversation_id) \
         INSERT INTO analytics_marks (conversation_id) SELECT conversation_id FROM e"
    )
}

/// The `SELECT`s of the events `table` writes on `op`: over a row trigger's row `NEW`, or, given
/// a statement trigger's transition table `rows`, over each of its rows (as `n`, as the
/// backfill of `m20261209_000100_analytics_events` reads them) with its `seq` last.
fn selects(table: &str, op: Op, rows: Option<&str>) -> Vec<String> {
    EVENTS
        .iter()
        .filter(|event| event.table == table && event.op == op)
        .map(|event| {
            let list = select_list(Dialect::Postgres, event);
            let when = (event.when)(Dialect::Postgres);
            match rows {
                None => format!("SELECT {list} WHERE {when}"),
                Some(rows) => format!("SELECT {list}, NEW.seq FROM {rows} n WHERE {when}")
                    .replace("NEW.", "n."),
            }
        })
        .collect()
}

/// A row trigger's function and trigger: the row's events and their marks in one statement.
fn row_trigger(table: &str, op: Op, selects: &[String]) -> Vec<String> {
    let name = trigger_name(table, op);
    let when = guard(table, op)
        .map(|guard| format!(" WHEN ({guard})"))
        .unwrap_or_default();
    let body = with_marks(&format!("{INSERT} {}", selects.join(" UNION ALL ")));
    trigger(
        &name,
        table,
        &body,
        &format!("{} ON {table} FOR EACH ROW{when}", op_name(op)),
    )
}

/// The function `name` running `body`, and the trigger `name` calling it `AFTER` `on`.
fn trigger(name: &str, table: &str, body: &str, on: &str) -> Vec<String> {
    vec![
        format!(
            "CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$ BEGIN {body}; \
             RETURN NULL; END $$ LANGUAGE plpgsql"
        ),
        format!("DROP TRIGGER IF EXISTS {name} ON {table}"),
        format!("CREATE TRIGGER {name} AFTER {on} EXECUTE FUNCTION {name}()"),
    ]
}

/// The statement trigger on `messages`: the events of every new row, in `seq` order.
fn messages_trigger() -> Vec<String> {
    let name = trigger_name("messages", Op::Insert);
    let selects = selects("messages", Op::Insert, Some("analytics_new_messages"));
    let body = with_marks(&format!(
        "{INSERT} SELECT x.org_id, x.conversation_id, x.kind, x.at, x.data FROM ({}) \
         AS x(org_id, conversation_id, kind, at, data, seq) ORDER BY x.seq",
        selects.join(" UNION ALL ")
    ));
    trigger(
        &name,
        "messages",
        &body,
        "INSERT ON messages REFERENCING NEW TABLE AS analytics_new_messages FOR EACH STATEMENT",
    )
}

fn postgres_up() -> Vec<String> {
    let mut statements = vec![
        "DROP TRIGGER IF EXISTS analytics_events_mark ON analytics_events".to_owned(),
        "DROP FUNCTION IF EXISTS analytics_mark_logged()".to_owned(),
    ];
    for table in tables() {
        for op in [Op::Insert, Op::Update] {
            if (table, op) == ("messages", Op::Insert) {
                statements.extend(messages_trigger());
                continue;
            }
            let selects = selects(table, op, None);
            if !selects.is_empty() {
                statements.extend(row_trigger(table, op, &selects));
            }
        }
    }
    statements
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for statement in postgres_up() {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        // The triggers as the two migrations before made them.
        for statement in events::postgres_up()
            .into_iter()
            .chain(marks::postgres_up())
        {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_messages_events_are_read_from_the_statements_rows() {
        let statements = postgres_up();
        let messages = statements
            .iter()
            .find(|s| s.contains("FUNCTION analytics_log_messages_insert()"))
            .expect("the messages' function");
        assert!(messages.contains("FROM analytics_new_messages n WHERE n.role = 'ai'"));
        assert!(!messages.contains("NEW."), "{messages}");
        assert!(messages.contains("ORDER BY x.seq"));
        let conversations = statements
            .iter()
            .find(|s| s.contains("FUNCTION analytics_log_conversations_insert()"))
            .expect("the conversations' function");
        assert_eq!(
            conversations.matches("UNION ALL").count(),
            1,
            "{conversations}"
        );
        assert!(conversations.contains("INSERT INTO analytics_marks"));
    }
}
