//! `switchboard-bench`: load generators that prove the hub's numbers. Results go to
//! BENCHMARKS.md with the command that produced them.
//!
//! `ingest` measures the one ingest path every channel uses (store idempotently, find or open
//! the contact and conversation, hand out the next `seq`, commit) on a fresh database:
//! messages per second and per-message latency, with many writers at once.
//!
//! `rules` times escalation-rule evaluation per customer message (`rules.rs`).
//!
//! `webhook` posts Telegram updates to a running hub's webhook from many clients (`webhook.rs`).
//!
//! `webchat` drives a running hub over its web-chat WebSocket with many visitors at once
//! (`webchat.rs`), reading the hub's memory and CPU from `/proc` (`proc.rs`).
//!
//! `soak` kills a running hub with SIGKILL again and again under web-chat and webhook load
//! and checks that nothing acknowledged was lost and no reply went out twice (`soak.rs`).
//!
//! `topics` trains and scores the topic classifier on a public labelled set (`topics.rs`).

mod analytics;
mod fake_llm;
mod faq;
mod helpdesk;
mod proc;
mod soak;
mod target;
mod webchat;
mod webhook;

mod retrieval;
mod rules;
mod search;
mod topics;

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use switchboard_model::{ChannelKind, ContactRef, InboundMessage};
use switchboard_store::{IngestOutcome, Store};
use switchboard_testkit::{Backend, TestDatabase};

#[derive(Parser)]
#[command(name = "switchboard-bench", about = "Benchmarks for Switchboard")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest normalized messages into a fresh database and report throughput and latency
    Ingest {
        /// `postgres` uses a fresh database beside SWITCHBOARD_TEST_DATABASE_URL
        #[arg(long, value_enum, default_value = "sqlite")]
        backend: BackendArg,
        #[arg(long, default_value_t = 20_000)]
        messages: usize,
        /// Distinct conversations the messages spread over
        #[arg(long, default_value_t = 2_000)]
        conversations: usize,
        /// Concurrent writers
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Every Nth message is sent twice, as channels redeliver (0: never)
        #[arg(long, default_value_t = 10)]
        duplicate_every: usize,
    },
    /// Hold many web-chat conversations against a running hub and report latency, loss,
    /// duplicates, memory per connection, CPU and a reconnect storm
    Webchat(webchat::Options),
    /// Post Telegram updates to a running hub's webhook from many clients at once and report
    /// requests a second, acknowledgement latency and what was stored
    Webhook(webhook::Options),
    /// Start the hub, kill it with SIGKILL every few seconds and start it again, under web-chat
    /// and Telegram load with the bot answering, and check that no acknowledged message was lost
    /// or stored twice and no reply sent twice
    Soak(soak::Options),
    /// Serve an OpenAI-compatible model on loopback that answers after a set time to first
    /// token, streams at a set pace, and answers 429, 500 or never to set shares of the calls
    FakeLlm(fake_llm::Options),
    /// Escalate web-chat conversations to a Zendesk escalation desk (on loopback, with a
    /// requests-a-minute limit) and report ticket throughput, 429s, losses and duplicates
    Helpdesk(helpdesk::Options),
    /// Generate a year of conversations straight into a fresh database and time the analytics
    /// dashboard's work for a 30-day and a 365-day range
    Analytics(analytics::Options),
    /// Generate a history of messages and contacts straight into a fresh database and time the
    /// inbox's search box over it
    Search(search::Options),
    /// Build the knowledge index at each size and time the evaluation questions against it
    Retrieval {
        /// Article counts, comma-separated
        #[arg(long, value_delimiter = ',', default_value = "500,5000,50000")]
        articles: Vec<usize>,
        /// Times each question is asked
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Rank with the built-in sentence encoder too, as the hub does by default
        #[arg(long)]
        encoder: bool,
    },
    /// Train the topic classifier on a `text,label` CSV and report accuracy, out-of-scope
    /// recall, training time and prediction time on a test file or a held-out share
    Topics(topics::Options),
    /// Answer the public COVID FAQ's paraphrased questions from a knowledge base of its entries,
    /// half to tune and half held out, and count the out-of-scope questions declined
    Faq(faq::Options),
    /// Compile the default and twenty typical custom escalation rules and time their
    /// evaluation per message (p50 / p99)
    Rules {
        /// Distinct messages
        #[arg(long, default_value_t = 5_000)]
        messages: usize,
        /// Times each message is evaluated
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum BackendArg {
    Sqlite,
    Postgres,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // reqwest is built without a default TLS provider (the workspace's choice): name ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match Cli::parse().command {
        Command::Retrieval {
            articles,
            rounds,
            encoder,
        } => retrieval::run(&articles, rounds, None, encoder).await,
        Command::Rules { messages, rounds } => rules::run(messages, rounds),
        Command::Ingest {
            backend,
            messages,
            conversations,
            concurrency,
            duplicate_every,
        } => {
            let backend = match backend {
                BackendArg::Sqlite => Backend::Sqlite,
                BackendArg::Postgres => Backend::Postgres,
            };
            let db = TestDatabase::new(backend)
                .await
                .context("set SWITCHBOARD_TEST_DATABASE_URL to benchmark PostgreSQL")?;
            ingest(
                &db,
                messages,
                conversations.max(1),
                concurrency.max(1),
                duplicate_every,
            )
            .await
        }
        Command::Webchat(options) => webchat::run(options).await,
        Command::Webhook(options) => webhook::run(options).await,
        Command::Soak(options) => soak::run(options).await,
        Command::FakeLlm(options) => fake_llm::run(options).await,
        Command::Helpdesk(options) => helpdesk::run(options).await,
        Command::Analytics(options) => analytics::run(options).await,
        Command::Search(options) => search::run(options).await,
        Command::Topics(options) => topics::run(options),
        Command::Faq(options) => faq::run(options).await,
    }
}

/// The `p` quantile of sorted durations, by the nearest rank, in milliseconds (0 when empty).
pub(crate) fn percentile_ms(sorted: &[std::time::Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

/// A fresh store on `db` with an organization `bench` and a web-chat inbox.
async fn bench_store(
    db: &TestDatabase,
) -> anyhow::Result<(
    Store,
    switchboard_model::Organization,
    switchboard_model::Inbox,
)> {
    let store = Store::connect(&db.url).await?;
    store.migrate().await?;
    let org = store.create_org("bench", "Bench").await?;
    let inbox = store
        .create_inbox(
            &org.id,
            "Bench",
            ChannelKind::Webchat,
            serde_json::json!({}),
        )
        .await?;
    Ok((store, org, inbox))
}

async fn ingest(
    db: &TestDatabase,
    messages: usize,
    conversations: usize,
    concurrency: usize,
    duplicate_every: usize,
) -> anyhow::Result<()> {
    let (store, org, inbox) = bench_store(db).await?;

    let deliveries: Vec<InboundMessage> = (0..messages)
        .flat_map(|i| {
            let thread = i % conversations;
            let message = InboundMessage {
                thread_key: format!("visitor-{thread}"),
                channel_message_id: Some(format!("msg-{i}")),
                sender: ContactRef {
                    external_id: format!("visitor-{thread}"),
                    name: Some(format!("Visitor {thread}")),
                    ..Default::default()
                },
                text: format!(
                    "Hello, this is message {i}: where is my parcel? It was due yesterday."
                ),
                ..Default::default()
            };
            let twice = duplicate_every > 0 && i % duplicate_every == 0;
            std::iter::repeat_n(message, if twice { 2 } else { 1 })
        })
        .collect();
    let total = deliveries.len();
    let queue = std::sync::Arc::new(tokio::sync::Mutex::new(deliveries.into_iter()));

    let started = Instant::now();
    let mut writers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (store, queue, org_id, inbox_id) = (
            store.clone(),
            queue.clone(),
            org.id.clone(),
            inbox.id.clone(),
        );
        writers.spawn(async move {
            let mut latencies = Vec::new();
            let mut duplicates = 0usize;
            loop {
                let Some(message) = queue.lock().await.next() else {
                    break;
                };
                let began = Instant::now();
                // Scored inside the timed span, as the hub's ingest path scores each message.
                let score = switchboard_ai::sentiment::message_score(&message.text);
                let outcome = store
                    .ingest(&org_id, &inbox_id, ChannelKind::Webchat, &message, score)
                    .await?;
                latencies.push(began.elapsed());
                if matches!(outcome, IngestOutcome::Duplicate { .. }) {
                    duplicates += 1;
                }
            }
            anyhow::Ok((latencies, duplicates))
        });
    }
    let mut latencies = Vec::with_capacity(total);
    let mut duplicates = 0;
    while let Some(result) = writers.join_next().await {
        let (mine, dups) = result??;
        latencies.extend(mine);
        duplicates += dups;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let percentile = |p: f64| -> Duration {
        latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)]
    };
    let backend = match db.backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    };
    println!(
        "| {backend} | {total} ({duplicates} duplicates) | {conversations} | {concurrency} | {:.0} | {:.2} | {:.2} | {:.2} |",
        total as f64 / elapsed.as_secs_f64(),
        percentile(0.50).as_secs_f64() * 1e3,
        percentile(0.95).as_secs_f64() * 1e3,
        percentile(0.99).as_secs_f64() * 1e3,
    );
    anyhow::ensure!(
        duplicates == total - messages,
        "expected {} duplicates, saw {duplicates}",
        total - messages
    );
    store.close().await?;
    Ok(())
}
