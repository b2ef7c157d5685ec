//! `webhook`: Telegram updates posted to a running hub's webhook by many clients at once, as
//! Telegram's servers would post them (`X-Telegram-Bot-Api-Secret-Token`, one private chat per
//! customer, unique `update_id` and `message_id`). Reports requests a second and the latency of
//! the acknowledgement (the hub answers 200 only after the commit), then what the hub stored:
//! every update must have become one message, none twice.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::{
    target::{Admin, Target},
    webchat::spread,
};

#[derive(clap::Args)]
pub struct Options {
    /// The hub's base URL (http://, loopback)
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    #[command(flatten)]
    admin: Admin,
    /// Updates to post, each a new message
    #[arg(long, default_value_t = 40_000)]
    messages: usize,
    /// Distinct chats (conversations) the messages spread over, round robin
    #[arg(long, default_value_t = 2_000)]
    chats: usize,
    /// Requests in flight at once (one keep-alive connection each)
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds to wait after the last request before reading what the hub stored
    #[arg(long, default_value_t = 5)]
    settle_secs: u64,
}

const SECRET: &str = "bench_secret-token";
/// The bot's token, which the Bot API's URLs carry (`/bot{token}/sendMessage`).
pub(crate) const BOT_TOKEN: &str = "123456:bench";

pub async fn run(options: Options) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency)
        .build()?;
    let (Target { base, client, .. }, token) =
        Target::connect(&options.url, &options.admin, client).await?;
    // The Bot API is never reached: the bench's hub runs with the bot off, and an agent's reply
    // would go to this closed port.
    let inbox_id = create_inbox(&client, &base, &token, "http://127.0.0.1:9").await?;
    let url = format!("{base}/webhooks/telegram/{inbox_id}");
    let ingested_before = ingested(&client, &base).await?;

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..options.concurrency.max(1))
        .map(|_| {
            let (client, url, next) = (client.clone(), url.clone(), next.clone());
            let (messages, chats) = (options.messages, options.chats.max(1));
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failed = 0usize;
                loop {
                    let i = next.fetch_add(1, Relaxed);
                    if i >= messages {
                        break;
                    }
                    let sent = Instant::now();
                    let answer = post_update(&client, &url, &update(i, chats)).await;
                    match answer {
                        Ok(answer) if answer.status().is_success() => {
                            latencies.push(sent.elapsed());
                        }
                        Ok(answer) => {
                            failed += 1;
                            if failed <= 3 {
                                eprintln!("update {i}: {}", answer.status());
                            }
                        }
                        Err(err) => {
                            failed += 1;
                            if failed <= 3 {
                                eprintln!("update {i}: {err}");
                            }
                        }
                    }
                }
                (latencies, failed)
            })
        })
        .collect();
    let (mut latencies, mut failed) = (Vec::new(), 0);
    for worker in workers {
        let (more, failures) = worker.await?;
        latencies.extend(more);
        failed += failures;
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    println!(
        "posted {} updates to {} chats from {} clients in {:.1} s: {:.0} a second, {failed} failed",
        options.messages,
        options.chats,
        options.concurrency,
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64()
    );
    println!("acknowledged (ms): {}", spread(&latencies));

    tokio::time::sleep(Duration::from_secs(options.settle_secs)).await;
    let stored = ingested(&client, &base).await? - ingested_before;
    let counts: Value = client
        .get(format!(
            "{base}/api/v1/conversations/counts?inbox_id={inbox_id}"
        ))
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    println!("stored {stored} messages; conversations by view: {counts}");
    if failed > 0 || stored != options.messages as u64 {
        bail!(
            "{failed} updates failed; {stored} of {} stored",
            options.messages
        );
    }
    Ok(())
}

/// Creates a Telegram inbox whose Bot API calls go to `api_base_url`; answers its id.
pub(crate) async fn create_inbox(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    api_base_url: &str,
) -> anyhow::Result<String> {
    let inbox: Value = client
        .post(format!("{base}/api/v1/inboxes"))
        .bearer_auth(token)
        .json(&json!({
            "name": format!("Bench Telegram {}", chrono::Utc::now().timestamp_millis()),
            "channel": "telegram",
            "config": {
                "bot_token": BOT_TOKEN,
                "secret_token": SECRET,
                "api_base_url": api_base_url,
            },
        }))
        .send()
        .await?
        .error_for_status()
        .context("cannot create the Telegram inbox")?
        .json()
        .await?;
    inbox["id"]
        .as_str()
        .map(str::to_owned)
        .context("no inbox id")
}

/// Posts one update to the inbox's webhook `url` as Telegram's servers do.
pub(crate) async fn post_update(
    client: &reqwest::Client,
    url: &str,
    update: &Value,
) -> reqwest::Result<reqwest::Response> {
    client
        .post(url)
        .header("x-telegram-bot-api-secret-token", SECRET)
        .json(update)
        .send()
        .await
}

/// The `i`th update: a customer's text message in chat `i % chats`.
fn update(i: usize, chats: usize) -> Value {
    update_saying(i, chats, &format!("Where is my parcel? (message {i})"))
}

/// The `i`th update (`update_id` 500,000,000 + i, `message_id` 1 + i): a customer's message
/// with `text` in chat [`chat_id`]`(i, chats)`.
pub(crate) fn update_saying(i: usize, chats: usize, text: &str) -> Value {
    let chat = chat_id(i, chats);
    json!({
        "update_id": 500_000_000 + i as i64,
        "message": {
            "message_id": 1 + i as i64,
            "from": { "id": chat, "is_bot": false, "first_name": "Bench", "language_code": "en" },
            "chat": { "id": chat, "first_name": "Bench", "type": "private" },
            "date": chrono::Utc::now().timestamp(),
            "text": text,
        },
    })
}

/// The private chat of the `i`th update: one of `chats`, round robin.
pub(crate) fn chat_id(i: usize, chats: usize) -> i64 {
    10_000_000 + (i % chats.max(1)) as i64
}

/// The hub's count of customer messages stored, from `/metrics`.
async fn ingested(client: &reqwest::Client, base: &str) -> anyhow::Result<u64> {
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    Ok(metrics
        .lines()
        .filter(|line| line.starts_with("switchboard_messages_ingested_total{"))
        .filter(|line| line.contains("channel=\"telegram\""))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64)
}
