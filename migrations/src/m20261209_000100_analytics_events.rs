//! The reporting events (issue 21): an append-only log of what happened to each conversation,
//! written by triggers in the transaction of the change itself, so no writer of the hub has to
//! remember to and none is missed. The daily roll-ups are counted from it, and
//! `switchboard analytics rebuild` counts them again from it alone.
//!
//! Every event is a row of `analytics_events`: the conversation, its `kind`, when it happened
//! (`at`, taken from the row that changed, so from the hub's clock) and its `data` as a JSON
//! object. `EVENTS` below writes them; `docs/analytics.md` ("The reporting events") lists the
//! kinds and their data for readers.
//!
//! Only erasure takes events out: a conversation's events go with it when it is deleted (GDPR
//! erasure, retention). The conversations that existed before this migration get their history
//! written from their state as it was then (the reopenings before it are not known).
//!
//! `organizations.reopen_window_secs`: a conversation the AI resolved and the customer reopened
//! within it is not an automated resolution.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Op {
    Insert,
    Update,
}

/// One kind of event a change to `table` writes. Expressions name the changed row `NEW` and,
/// for an update, the row before it `OLD`.
pub(crate) struct Event {
    pub(crate) table: &'static str,
    pub(crate) op: Op,
    kind: &'static str,
    /// When the change is this event (`TRUE` for every row).
    pub(crate) when: fn(Dialect) -> String,
    at: &'static str,
    data: &'static [(&'static str, &'static str)],
}

const RESOLVED: &str = "('resolved', 'closed')";

const DIMENSIONS: &[(&str, &str)] = &[
    ("inbox_id", "NEW.inbox_id"),
    ("channel", "NEW.channel"),
    ("team_id", "NEW.team_id"),
    ("assignee_id", "NEW.assignee_id"),
    ("topic", "NEW.topic"),
    ("sentiment", "NEW.sentiment"),
];

/// `a <= b` for two timestamps: SQLite keeps them as text whose fractions vary in length.
fn not_after(dialect: Dialect, a: &str, b: &str) -> String {
    match dialect {
        Dialect::Sqlite => format!("julianday({a}) <= julianday({b})"),
        Dialect::Postgres => format!("{a} <= {b}"),
    }
}

fn always(_: Dialect) -> String {
    "TRUE".to_owned()
}

/// Whether the conversation `NEW.id` was ever handed off or answered by a person.
fn by_human() -> &'static str {
    "CASE WHEN EXISTS (SELECT 1 FROM handoffs h WHERE h.conversation_id = NEW.id) \
     OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = NEW.id \
     AND m.role = 'agent' AND m.private = FALSE) THEN 'human' ELSE 'ai' END"
}

pub(crate) const EVENTS: &[Event] = &[
    Event {
        table: "conversations",
        op: Op::Insert,
        kind: "opened",
        when: always,
        at: "NEW.created_at",
        data: DIMENSIONS,
    },
    Event {
        table: "conversations",
        op: Op::Insert,
        kind: "resolved",
        when: |_| format!("NEW.status IN {RESOLVED}"),
        at: "COALESCE(NEW.resolved_at, NEW.created_at)",
        data: &[("status", "NEW.status"), ("by", "{by}")],
    },
    Event {
        table: "conversations",
        op: Op::Update,
        kind: "changed",
        when: |_| {
            DIMENSIONS
                .iter()
                .map(|(name, _)| format!("NEW.{name} IS DISTINCT FROM OLD.{name}"))
                .collect::<Vec<_>>()
                .join(" OR ")
        },
        at: "NEW.updated_at",
        data: DIMENSIONS,
    },
    Event {
        table: "conversations",
        op: Op::Update,
        kind: "resolved",
        when: |_| format!("NEW.status IN {RESOLVED} AND OLD.status NOT IN {RESOLVED}"),
        at: "COALESCE(NEW.resolved_at, NEW.created_at)",
        data: &[("status", "NEW.status"), ("by", "{by}")],
    },
    Event {
        table: "conversations",
        op: Op::Update,
        kind: "sla_met",
        when: |dialect| {
            format!(
                "NEW.status IN {RESOLVED} AND OLD.status NOT IN {RESOLVED} AND EXISTS \
                 (SELECT 1 FROM conversation_routing r WHERE r.conversation_id = NEW.id \
                 AND r.resolution_due_at IS NOT NULL AND {})",
                not_after(
                    dialect,
                    "COALESCE(NEW.resolved_at, NEW.created_at)",
                    "r.resolution_due_at"
                )
            )
        },
        at: "COALESCE(NEW.resolved_at, NEW.created_at)",
        data: &[("target", "'resolution'")],
    },
    Event {
        table: "conversations",
        op: Op::Update,
        kind: "reopened",
        when: |_| format!("OLD.status IN {RESOLVED} AND NEW.status NOT IN {RESOLVED}"),
        at: "NEW.updated_at",
        data: &[("status", "NEW.status")],
    },
    Event {
        table: "messages",
        op: Op::Insert,
        kind: "ai_answered",
        when: |_| "NEW.role = 'ai'".to_owned(),
        at: "NEW.created_at",
        data: &[("message_id", "NEW.id"), ("sources", "{sources}")],
    },
    Event {
        table: "messages",
        op: Op::Insert,
        kind: "replied",
        when: |_| "NEW.role = 'agent' AND NEW.private = FALSE".to_owned(),
        at: "NEW.created_at",
        data: &[("message_id", "NEW.id"), ("author_id", "NEW.author_id")],
    },
    Event {
        table: "handoffs",
        op: Op::Insert,
        kind: "handed_off",
        when: always,
        at: "NEW.created_at",
        data: &[("handoff_id", "NEW.id"), ("reason_kind", "NEW.reason_kind")],
    },
    Event {
        table: "conversation_routing",
        op: Op::Insert,
        kind: "sla_set",
        when: |_| "NEW.sla_policy_id IS NOT NULL".to_owned(),
        at: "NEW.updated_at",
        data: SLA,
    },
    Event {
        table: "conversation_routing",
        op: Op::Insert,
        kind: "first_human_reply",
        when: |_| "NEW.first_response_at IS NOT NULL".to_owned(),
        at: "NEW.first_response_at",
        data: &[],
    },
    Event {
        table: "conversation_routing",
        op: Op::Insert,
        kind: "sla_breached",
        when: |_| "NEW.first_response_breached_at IS NOT NULL".to_owned(),
        at: "NEW.first_response_breached_at",
        data: &[("target", "'first_response'")],
    },
    Event {
        table: "conversation_routing",
        op: Op::Insert,
        kind: "sla_breached",
        when: |_| "NEW.resolution_breached_at IS NOT NULL".to_owned(),
        at: "NEW.resolution_breached_at",
        data: &[("target", "'resolution'")],
    },
    Event {
        table: "conversation_routing",
        op: Op::Update,
        kind: "sla_set",
        when: |_| {
            [
                "sla_policy_id",
                "sla_priority",
                "first_response_due_at",
                "resolution_due_at",
            ]
            .iter()
            .map(|name| format!("NEW.{name} IS DISTINCT FROM OLD.{name}"))
            .collect::<Vec<_>>()
            .join(" OR ")
        },
        at: "NEW.updated_at",
        data: SLA,
    },
    Event {
        table: "conversation_routing",
        op: Op::Update,
        kind: "first_human_reply",
        when: |_| {
            "NEW.first_response_at IS NOT NULL \
             AND NEW.first_response_at IS DISTINCT FROM OLD.first_response_at"
                .to_owned()
        },
        at: "NEW.first_response_at",
        data: &[],
    },
    Event {
        table: "conversation_routing",
        op: Op::Update,
        kind: "sla_met",
        when: |dialect| {
            format!(
                "NEW.first_response_at IS NOT NULL AND OLD.first_response_at IS NULL \
                 AND NEW.first_response_due_at IS NOT NULL AND {}",
                not_after(
                    dialect,
                    "NEW.first_response_at",
                    "NEW.first_response_due_at"
                )
            )
        },
        at: "NEW.first_response_at",
        data: &[("target", "'first_response'")],
    },
    Event {
        table: "conversation_routing",
        op: Op::Update,
        kind: "sla_breached",
        when: |_| {
            "NEW.first_response_breached_at IS NOT NULL AND OLD.first_response_breached_at IS NULL"
                .to_owned()
        },
        at: "NEW.first_response_breached_at",
        data: &[("target", "'first_response'")],
    },
    Event {
        table: "conversation_routing",
        op: Op::Update,
        kind: "sla_breached",
        when: |_| {
            "NEW.resolution_breached_at IS NOT NULL AND OLD.resolution_breached_at IS NULL"
                .to_owned()
        },
        at: "NEW.resolution_breached_at",
        data: &[("target", "'resolution'")],
    },
    Event {
        table: "csat_responses",
        op: Op::Insert,
        kind: "csat_given",
        when: always,
        at: "NEW.updated_at",
        data: &[("score", "NEW.score")],
    },
    Event {
        table: "csat_responses",
        op: Op::Update,
        kind: "csat_given",
        when: |_| "NEW.score IS DISTINCT FROM OLD.score".to_owned(),
        at: "NEW.updated_at",
        data: &[("score", "NEW.score")],
    },
];

const SLA: &[(&str, &str)] = &[
    ("policy_id", "NEW.sla_policy_id"),
    ("priority", "NEW.sla_priority"),
    ("first_response_due_at", "NEW.first_response_due_at"),
    ("resolution_due_at", "NEW.resolution_due_at"),
];

const TABLE: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS analytics_events (id {id}, org_id TEXT NOT NULL, \
     conversation_id TEXT NOT NULL, kind TEXT NOT NULL, at {at} NOT NULL, data TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS analytics_events_conversation \
     ON analytics_events (conversation_id, id)",
    "CREATE INDEX IF NOT EXISTS analytics_events_org_at ON analytics_events (org_id, at)",
];

/// The column holding the conversation's id in `table`.
fn conversation_column(table: &str) -> &'static str {
    if table == "conversations" {
        "id"
    } else {
        "conversation_id"
    }
}

/// `event`'s row as a `SELECT` list: org, conversation, kind, at, data.
pub(crate) fn select_list(dialect: Dialect, event: &Event) -> String {
    let sources = match dialect {
        Dialect::Sqlite => "json(NEW.sources)",
        Dialect::Postgres => "NEW.sources",
    };
    let pairs = event
        .data
        .iter()
        .map(|(name, expr)| {
            let expr = expr
                .replace("{by}", by_human())
                .replace("{sources}", sources);
            format!("'{name}', {expr}")
        })
        .collect::<Vec<_>>()
        .join(", ");
    let data = match dialect {
        Dialect::Sqlite => format!("json_object({pairs})"),
        Dialect::Postgres => format!("json_build_object({pairs})::text"),
    };
    format!(
        "NEW.org_id, NEW.{}, '{}', {}, {data}",
        conversation_column(event.table),
        event.kind,
        event.at
    )
}

pub(crate) const INSERT: &str =
    "INSERT INTO analytics_events (org_id, conversation_id, kind, at, data)";

/// The rows of `table` that may be an event on `op`: the trigger's `WHEN`, so that a change
/// that is none (a message from the customer, a conversation's next `seq`) costs no call.
pub(crate) fn guard(table: &str, op: Op) -> Option<String> {
    let distinct = |names: &[&str]| {
        names
            .iter()
            .map(|name| format!("NEW.{name} IS DISTINCT FROM OLD.{name}"))
            .collect::<Vec<_>>()
            .join(" OR ")
    };
    let set = |names: &[&str]| {
        names
            .iter()
            .map(|name| format!("NEW.{name} IS NOT NULL"))
            .collect::<Vec<_>>()
            .join(" OR ")
    };
    const ROUTING: [&str; 7] = [
        "sla_policy_id",
        "sla_priority",
        "first_response_due_at",
        "resolution_due_at",
        "first_response_at",
        "first_response_breached_at",
        "resolution_breached_at",
    ];
    match (table, op) {
        ("conversations", Op::Update) => {
            let mut names: Vec<&str> = DIMENSIONS.iter().map(|(name, _)| *name).collect();
            names.push("status");
            Some(distinct(&names))
        }
        ("messages", Op::Insert) => {
            Some("NEW.role = 'ai' OR (NEW.role = 'agent' AND NEW.private = FALSE)".to_owned())
        }
        ("conversation_routing", Op::Insert) => Some(set(&[
            "sla_policy_id",
            "first_response_at",
            "first_response_breached_at",
            "resolution_breached_at",
        ])),
        ("conversation_routing", Op::Update) => Some(distinct(&ROUTING)),
        ("csat_responses", Op::Update) => Some(distinct(&["score"])),
        _ => None,
    }
}

/// Each table and operation that writes events, with the statements its trigger runs for a
/// row (the same on both databases: `INSERT … SELECT … WHERE` the row is that event).
fn bodies(dialect: Dialect) -> Vec<(&'static str, Op, String)> {
    let mut bodies = Vec::new();
    for table in tables() {
        for op in [Op::Insert, Op::Update] {
            let body: Vec<String> = EVENTS
                .iter()
                .filter(|event| event.table == table && event.op == op)
                .map(|event| {
                    format!(
                        "{INSERT} SELECT {} WHERE {};",
                        select_list(dialect, event),
                        (event.when)(dialect)
                    )
                })
                .collect();
            if !body.is_empty() {
                bodies.push((table, op, body.join(" ")));
            }
        }
    }
    bodies
}

fn sqlite_up() -> Vec<String> {
    let mut statements: Vec<String> = bodies(Dialect::Sqlite)
        .into_iter()
        .map(|(table, op, body)| {
            let when = guard(table, op)
                .map(|guard| format!(" WHEN {guard}"))
                .unwrap_or_default();
            format!(
                "CREATE TRIGGER IF NOT EXISTS {} AFTER {} ON {table} FOR EACH ROW{when} \
                 BEGIN {body} END",
                trigger_name(table, op),
                op_name(op),
            )
        })
        .collect();
    statements.push(
        "CREATE TRIGGER IF NOT EXISTS analytics_log_conversations_delete AFTER DELETE ON \
         conversations BEGIN DELETE FROM analytics_events WHERE conversation_id = OLD.id; END"
            .to_owned(),
    );
    statements
}

/// PostgreSQL runs the same statements in a row trigger's function, called only for the rows
/// its `WHEN` lets through (a statement trigger would run every statement of the function for
/// every statement on the table, events or not, in the ack's path).
pub(crate) fn postgres_up() -> Vec<String> {
    let mut statements = Vec::new();
    for (table, op, body) in bodies(Dialect::Postgres) {
        let name = trigger_name(table, op);
        let when = guard(table, op)
            .map(|guard| format!(" WHEN ({guard})"))
            .unwrap_or_default();
        statements.push(format!(
            "CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$ BEGIN {body} \
             RETURN NULL; END $$ LANGUAGE plpgsql"
        ));
        statements.push(format!("DROP TRIGGER IF EXISTS {name} ON {table}"));
        statements.push(format!(
            "CREATE TRIGGER {name} AFTER {} ON {table} FOR EACH ROW{when} \
             EXECUTE FUNCTION {name}()",
            op_name(op)
        ));
    }
    statements.push(
        "CREATE OR REPLACE FUNCTION analytics_log_conversations_delete() RETURNS trigger AS $$ \
         BEGIN DELETE FROM analytics_events WHERE conversation_id IN \
         (SELECT id FROM analytics_old); RETURN NULL; END $$ LANGUAGE plpgsql"
            .to_owned(),
    );
    statements.push(
        "DROP TRIGGER IF EXISTS analytics_log_conversations_delete ON conversations".to_owned(),
    );
    statements.push(
        "CREATE TRIGGER analytics_log_conversations_delete AFTER DELETE ON conversations \
         REFERENCING OLD TABLE AS analytics_old FOR EACH STATEMENT \
         EXECUTE FUNCTION analytics_log_conversations_delete()"
            .to_owned(),
    );
    statements
}

/// The history of the conversations that exist now, from their state: every event an insert
/// writes, over the tables' rows as if each had just been inserted, a conversation's handoffs
/// in the order they happened and before the first reply they wait for.
fn backfill(dialect: Dialect) -> Vec<String> {
    EVENTS
        .iter()
        .filter(|event| event.op == Op::Insert)
        .map(|event| {
            let order = match event.table {
                "handoffs" | "messages" => " ORDER BY n.created_at, n.id",
                _ => "",
            };
            format!(
                "{INSERT} SELECT {} FROM {} n WHERE {}{order}",
                select_list(dialect, event),
                event.table,
                (event.when)(dialect)
            )
            .replace("NEW.", "n.")
        })
        .collect()
}

pub(crate) fn tables() -> [&'static str; 5] {
    [
        "conversations",
        "messages",
        "handoffs",
        "conversation_routing",
        "csat_responses",
    ]
}

pub(crate) fn op_name(op: Op) -> &'static str {
    match op {
        Op::Insert => "INSERT",
        Op::Update => "UPDATE",
    }
}

pub(crate) fn trigger_name(table: &str, op: Op) -> String {
    format!("analytics_log_{table}_{}", op_name(op).to_lowercase())
}

/// Every trigger this migration makes.
fn trigger_names() -> Vec<(&'static str, String)> {
    let mut names: Vec<(&'static str, String)> = tables()
        .into_iter()
        .flat_map(|table| {
            [Op::Insert, Op::Update]
                .into_iter()
                .filter(move |op| {
                    EVENTS
                        .iter()
                        .any(|event| event.table == table && event.op == *op)
                })
                .map(move |op| (table, trigger_name(table, op)))
        })
        .collect();
    names.push((
        "conversations",
        "analytics_log_conversations_delete".to_owned(),
    ));
    names
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("organizations")
                    .add_column(
                        sea_orm_migration::schema::big_integer("reopen_window_secs")
                            .default(86_400),
                    )
                    .take(),
            )
            .await?;
        let db = manager.get_connection();
        let dialect = match manager.get_database_backend() {
            DbBackend::Postgres => Dialect::Postgres,
            _ => Dialect::Sqlite,
        };
        let (id, at) = match dialect {
            Dialect::Postgres => ("BIGSERIAL PRIMARY KEY", "TIMESTAMPTZ"),
            Dialect::Sqlite => ("INTEGER PRIMARY KEY AUTOINCREMENT", "TEXT"),
        };
        for statement in TABLE {
            db.execute_unprepared(&statement.replace("{id}", id).replace("{at}", at))
                .await?;
        }
        for statement in backfill(dialect) {
            db.execute_unprepared(&statement).await?;
        }
        let triggers = match dialect {
            Dialect::Postgres => postgres_up(),
            Dialect::Sqlite => sqlite_up(),
        };
        for statement in triggers {
            db.execute_unprepared(&statement).await?;
        }
        // The roll-ups are counted from the log from now on: count every conversation again.
        db.execute_unprepared(
            "INSERT INTO analytics_dirty (conversation_id, mark) SELECT id, 1 FROM conversations \
             WHERE TRUE ON CONFLICT (conversation_id) DO UPDATE SET mark = analytics_dirty.mark + 1",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let postgres = manager.get_database_backend() == DbBackend::Postgres;
        for (table, name) in trigger_names() {
            if postgres {
                db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {name} ON {table}"))
                    .await?;
                db.execute_unprepared(&format!("DROP FUNCTION IF EXISTS {name}()"))
                    .await?;
            } else {
                db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {name}"))
                    .await?;
            }
        }
        db.execute_unprepared("DROP TABLE IF EXISTS analytics_events")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("organizations")
                    .drop_column("reopen_window_secs")
                    .take(),
            )
            .await
    }
}
