//! `switchboard-bench analytics`: a year of history generated straight into a fresh database
//! (conversations with five messages each: some resolved by the AI, some handed to a person
//! with an SLA clock and answered after a while, some left open; a fifth of the resolved ones
//! rated), then the work of the dashboard's requests (read the range's facts, compute the
//! overview and the days) timed for a 30-day and a 365-day range.

use std::{collections::HashMap, time::Instant};

use anyhow::Context;
use chrono::{DateTime, TimeZone, Utc};
use clap::Args;
use rand::{Rng, SeedableRng, rngs::StdRng};
use sea_orm::{ConnectionTrait, Database, DatabaseBackend, Statement, TransactionTrait, Value};
use switchboard_model::{analytics, analytics::ReportRange};
use switchboard_store::ReportFilter;
use switchboard_testkit::{Backend, TestDatabase};

#[derive(Args)]
pub struct Options {
    /// `postgres` uses a fresh database beside SWITCHBOARD_TEST_DATABASE_URL
    #[arg(long, value_enum, default_value = "sqlite")]
    backend: crate::BackendArg,
    /// Conversations over the year
    #[arg(long, default_value_t = 1_000_000)]
    conversations: usize,
    /// Days the history spans, ending on 2026-12-31
    #[arg(long, default_value_t = 365)]
    days: i64,
    /// Times each range is asked for
    #[arg(long, default_value_t = 10)]
    rounds: usize,
}

/// Rows written per statement (the messages' statement binds 22 values a row).
const BATCH: usize = 1_000;

/// A multi-row `INSERT` of `rows` into `table`, with the backend's placeholders.
pub(crate) fn insert(
    backend: DatabaseBackend,
    table: &str,
    columns: &[&str],
    rows: Vec<Vec<Value>>,
) -> Statement {
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    let mut values = Vec::with_capacity(rows.len() * columns.len());
    for (r, row) in rows.into_iter().enumerate() {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..row.len() {
            if c > 0 {
                sql.push_str(", ");
            }
            match backend {
                DatabaseBackend::Postgres => sql.push_str(&format!("${}", values.len() + c + 1)),
                _ => sql.push('?'),
            }
        }
        sql.push(')');
        values.extend(row);
    }
    Statement::from_sql_and_values(backend, sql, values)
}

fn text(value: &str) -> Value {
    Value::from(value.to_owned())
}

fn at(value: DateTime<Utc>) -> Value {
    Value::from(value)
}

fn maybe_at(value: Option<DateTime<Utc>>) -> Value {
    Value::ChronoDateTimeUtc(value)
}

fn none_text() -> Value {
    Value::String(None)
}

const CONVERSATION_COLUMNS: &[&str] = &[
    "id",
    "org_id",
    "inbox_id",
    "channel",
    "contact_id",
    "status",
    "priority",
    "assignee_id",
    "team_id",
    "topic",
    "sentiment",
    "subject",
    "thread_key",
    "last_seq",
    "last_message_preview",
    "last_message_at",
    "last_inbound_channel_message_id",
    "first_response_at",
    "resolved_at",
    "created_at",
    "updated_at",
];

const MESSAGE_COLUMNS: &[&str] = &[
    "id",
    "org_id",
    "conversation_id",
    "inbox_id",
    "seq",
    "role",
    "private",
    "text",
    "text_full",
    "automated",
    "attachments",
    "sources",
    "confidence",
    "model",
    "tokens",
    "author_id",
    "channel_message_id",
    "delivery_status",
    "delivery_error",
    "sentiment",
    "created_at",
];

const ROUTING_COLUMNS: &[&str] = &[
    "conversation_id",
    "org_id",
    "ai_failures",
    "ai_answers",
    "ai_declines",
    "tags",
    "escalated_at",
    "sla_policy_id",
    "sla_priority",
    "first_response_due_at",
    "first_response_at",
    "first_response_breached_at",
    "resolution_due_at",
    "resolution_breached_at",
    "updated_at",
];

const HANDOFF_COLUMNS: &[&str] = &[
    "id",
    "org_id",
    "conversation_id",
    "summary",
    "topic",
    "sentiment",
    "priority",
    "rule_id",
    "rule_name",
    "reason",
    "reason_kind",
    "suggested_reply",
    "summary_source",
    "created_at",
];

const CSAT_COLUMNS: &[&str] = &[
    "conversation_id",
    "org_id",
    "contact_id",
    "score",
    "comment",
    "created_at",
    "updated_at",
];

const TOPICS: &[&str] = &["billing", "delivery", "returns", "account", "technical"];
const REASONS: &[&str] = &["human_request", "low_confidence", "rule", "sentiment"];

/// The rows of one generated conversation.
#[derive(Default)]
pub(crate) struct Rows {
    conversations: Vec<Vec<Value>>,
    messages: Vec<Vec<Value>>,
    routing: Vec<Vec<Value>>,
    handoffs: Vec<Vec<Value>>,
    csat: Vec<Vec<Value>>,
}

/// What a generated history refers to: its organization, inbox, SLA policy and agents.
pub(crate) struct Ids {
    pub org: String,
    pub inbox: String,
    pub policy: String,
    pub agents: Vec<String>,
}

/// The text of every generated message: the analytics benchmark reads none of it.
const PARCEL: &str = "Where is my parcel? It was due yesterday and the tracking page says nothing.";

/// Conversation `i` of the history, its messages' texts from `message_text(seq, rng)`.
pub(crate) fn conversation(
    rows: &mut Rows,
    ids: &Ids,
    i: usize,
    opened: DateTime<Utc>,
    rng: &mut StdRng,
    message_text: &mut dyn FnMut(i64, &mut StdRng) -> String,
) {
    let id = format!("bench-conversation-{i:09}");
    let contact = format!("bench-contact-{i:09}");
    let kind = i % 10;
    let handed_off = (4..7).contains(&kind);
    let ai_answered = kind < 8;
    let resolved = kind < 7;
    let minutes = |m: i64| chrono::Duration::minutes(m);
    let handoff_at = opened + minutes(2);
    let reply_at = handoff_at + chrono::Duration::seconds(rng.random_range(30..14_400));
    let resolved_at = if handed_off {
        reply_at + minutes(rng.random_range(5..600))
    } else {
        opened + minutes(rng.random_range(1..30))
    };
    let agent = ids.agents[i % ids.agents.len()].clone();
    let status = match (resolved, handed_off) {
        (true, _) => "resolved",
        (false, _) if kind == 7 => "bot",
        _ => "escalated",
    };
    let topic = TOPICS[i % TOPICS.len()];
    rows.conversations.push(vec![
        text(&id),
        text(&ids.org),
        text(&ids.inbox),
        text("webchat"),
        text(&contact),
        text(status),
        text("normal"),
        if handed_off {
            text(&agent)
        } else {
            none_text()
        },
        none_text(),
        text(topic),
        Value::Int(Some(rng.random_range(10..90))),
        none_text(),
        text(&format!("bench-thread-{i:09}")),
        Value::BigInt(Some(5)),
        text("Thanks"),
        at(opened + minutes(10)),
        none_text(),
        maybe_at(ai_answered.then_some(opened + minutes(1))),
        maybe_at(resolved.then_some(resolved_at)),
        at(opened),
        at(resolved_at),
    ]);
    for seq in 1..=5i64 {
        let role = match seq {
            1 | 3 | 5 => "customer",
            2 if ai_answered => "ai",
            4 if handed_off => "agent",
            _ => "system",
        };
        rows.messages.push(vec![
            text(&format!("{id}-m{seq}")),
            text(&ids.org),
            text(&id),
            text(&ids.inbox),
            Value::BigInt(Some(seq)),
            text(role),
            Value::Bool(Some(false)),
            text(&message_text(seq, rng)),
            none_text(),
            Value::Bool(Some(false)),
            Value::Json(Some(Box::new(serde_json::json!([])))),
            Value::Json(Some(Box::new(serde_json::json!([])))),
            Value::Double(None),
            none_text(),
            Value::BigInt(None),
            if role == "agent" {
                text(&agent)
            } else {
                none_text()
            },
            if role == "customer" {
                text(&format!("{id}-c{seq}"))
            } else {
                none_text()
            },
            text(if role == "customer" {
                "received"
            } else {
                "sent"
            }),
            none_text(),
            Value::Int(None),
            at(opened + minutes(seq)),
        ]);
    }
    if handed_off {
        let due = handoff_at + chrono::Duration::hours(1);
        rows.routing.push(vec![
            text(&id),
            text(&ids.org),
            Value::Int(Some(0)),
            Value::Int(Some(1)),
            Value::Int(Some(0)),
            Value::Json(Some(Box::new(serde_json::json!([])))),
            at(handoff_at),
            text(&ids.policy),
            text("normal"),
            at(due),
            at(reply_at),
            maybe_at((reply_at > due).then_some(due)),
            at(handoff_at + chrono::Duration::hours(24)),
            Value::ChronoDateTimeUtc(None),
            at(reply_at),
        ]);
        rows.handoffs.push(vec![
            text(&format!("{id}-h")),
            text(&ids.org),
            text(&id),
            Value::Json(Some(Box::new(serde_json::json!(["", "", ""])))),
            text(topic),
            Value::Int(None),
            text("normal"),
            none_text(),
            none_text(),
            text("asked for a person"),
            text(REASONS[i % REASONS.len()]),
            text(""),
            text("extractive"),
            at(handoff_at),
        ]);
    }
    if resolved && i.is_multiple_of(5) {
        rows.csat.push(vec![
            text(&id),
            text(&ids.org),
            text(&contact),
            Value::Int(Some(rng.random_range(1..=5))),
            none_text(),
            at(resolved_at),
            at(resolved_at),
        ]);
    }
}

/// The SLA policy and the 50 agents a generated history refers to.
pub(crate) async fn history_refs(
    store: &switchboard_store::Store,
    org_id: &str,
) -> anyhow::Result<(String, Vec<String>)> {
    store.ensure_routing_defaults(org_id).await?;
    let policy = store
        .list_sla_policies(org_id)
        .await?
        .into_iter()
        .find(|policy| policy.priority.as_str() == "normal")
        .context("a default SLA policy")?;
    let mut agents = Vec::new();
    for n in 0..50 {
        let user = store
            .create_user(
                org_id,
                &format!("agent-{n}@bench.test"),
                &format!("Agent {n}"),
                switchboard_model::Role::SupportAgent,
                "bench password 1",
            )
            .await?;
        agents.push(user.id);
    }
    Ok((policy.id, agents))
}

/// The first instant after the generated history.
pub(crate) fn history_end() -> anyhow::Result<DateTime<Utc>> {
    Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0)
        .single()
        .context("a date")
}

/// Writes `conversations` conversations of five messages each, spread evenly over the `days`
/// before [`history_end`], straight into the tables of the database at `url`, then `ANALYZE`s.
pub(crate) async fn write_history(
    url: &str,
    ids: &Ids,
    conversations: usize,
    days: i64,
    message_text: &mut dyn FnMut(i64, &mut StdRng) -> String,
) -> anyhow::Result<()> {
    let connection = Database::connect(url).await?;
    let kind = connection.get_database_backend();
    let start = history_end()? - chrono::Duration::days(days);
    let spacing = (days * 86_400 * 1_000) / conversations.max(1) as i64;
    let mut rng = StdRng::seed_from_u64(21);
    let started = Instant::now();
    for first in (0..conversations).step_by(BATCH) {
        let mut rows = Rows::default();
        for i in first..(first + BATCH).min(conversations) {
            let opened = start + chrono::Duration::milliseconds(i as i64 * spacing);
            conversation(&mut rows, ids, i, opened, &mut rng, message_text);
        }
        let txn = connection.begin().await?;
        txn.execute_raw(insert(
            kind,
            "conversations",
            CONVERSATION_COLUMNS,
            rows.conversations,
        ))
        .await?;
        for chunk in rows.messages.chunks(BATCH) {
            txn.execute_raw(insert(kind, "messages", MESSAGE_COLUMNS, chunk.to_vec()))
                .await?;
        }
        if !rows.routing.is_empty() {
            txn.execute_raw(insert(
                kind,
                "conversation_routing",
                ROUTING_COLUMNS,
                rows.routing,
            ))
            .await?;
            txn.execute_raw(insert(kind, "handoffs", HANDOFF_COLUMNS, rows.handoffs))
                .await?;
        }
        if !rows.csat.is_empty() {
            txn.execute_raw(insert(kind, "csat_responses", CSAT_COLUMNS, rows.csat))
                .await?;
        }
        txn.commit().await?;
        if first.is_multiple_of(100_000) {
            println!(
                "  {first} conversations written ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    connection
        .execute_raw(Statement::from_string(kind, "ANALYZE"))
        .await?;
    println!(
        "generated {conversations} conversations, {} messages in {:.0} s",
        conversations * 5,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A fresh database on `backend` with an organization, a web-chat inbox, the default SLA
/// policies and 50 agents, for a history to be written into.
pub(crate) async fn history_database(
    backend: crate::BackendArg,
) -> anyhow::Result<(TestDatabase, switchboard_store::Store, Ids)> {
    let backend = match backend {
        crate::BackendArg::Sqlite => Backend::Sqlite,
        crate::BackendArg::Postgres => Backend::Postgres,
    };
    let db = TestDatabase::new(backend)
        .await
        .context("set SWITCHBOARD_TEST_DATABASE_URL to benchmark PostgreSQL")?;
    let (store, org, inbox) = crate::bench_store(&db).await?;
    let (policy, agents) = history_refs(&store, &org.id).await?;
    let ids = Ids {
        org: org.id,
        inbox: inbox.id,
        policy,
        agents,
    };
    Ok((db, store, ids))
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    let (db, store, ids) = history_database(options.backend).await?;
    write_history(
        &db.url,
        &ids,
        options.conversations,
        options.days,
        &mut |_, _| PARCEL.to_owned(),
    )
    .await?;

    // The triggers marked every conversation written: count them into the roll-ups, as the
    // hub's job would have while they arrived.
    let counting = Instant::now();
    let counted = store.catch_up_analytics(usize::MAX).await?;
    println!(
        "counted {counted} conversations into {} roll-up rows in {:.1} s",
        store.analytics_rollup_rows(&ids.org).await?,
        counting.elapsed().as_secs_f64()
    );

    let end = history_end()?;
    let start = end - chrono::Duration::days(options.days);
    let policies = store.report_names(&ids.org).await?;
    let names = HashMap::new();
    let last_day = (end - chrono::Duration::days(1)).date_naive().to_string();
    let month_first = (end - chrono::Duration::days(30)).date_naive().to_string();
    let year_first = start.date_naive().to_string();
    println!(
        "| range | conversations | request | p50 ms | p95 ms |\n| --- | ---: | --- | ---: | ---: |"
    );
    for (label, from) in [("30 days", month_first), ("365 days", year_first)] {
        let range = ReportRange::new(&from, &last_day, "UTC")?;
        let mut counted = 0;
        for request in ["overview", "timeseries", "agents"] {
            let mut times = Vec::new();
            for _ in 0..options.rounds.max(1) {
                let asked = Instant::now();
                let agents = request == "agents";
                let totals = store
                    .report_totals(&ids.org, &range, &ReportFilter::default(), agents)
                    .await?;
                match request {
                    "overview" => {
                        counted =
                            analytics::overview(&range, &totals, &policies).conversations_opened;
                    }
                    "timeseries" => {
                        analytics::timeseries(&range, &totals);
                    }
                    _ => {
                        analytics::agents(&totals, &names);
                    }
                }
                times.push(asked.elapsed());
            }
            times.sort();
            println!(
                "| {label} | {counted} | {request} | {:.1} | {:.1} |",
                crate::percentile_ms(&times, 0.5),
                crate::percentile_ms(&times, 0.95),
            );
        }
    }
    Ok(())
}
