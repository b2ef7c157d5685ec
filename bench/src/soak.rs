//! `soak`: the crash soak (issue 23). Starts the hub from its command line, then for the run's
//! length kills it with SIGKILL every `--kill-every` seconds and starts it again on the same
//! data, while web-chat visitors (the `webchat` generator's crowd: they reconnect, resume and
//! resend unacknowledged messages under the same `client_id`) and Telegram's servers (updates
//! with unique ids, each posted again until the hub answers 200, as Telegram does) keep
//! writing. The bot answers on both channels; its Telegram replies go through the outbox to a
//! fake Bot API on loopback that records every `sendMessage`.
//!
//! At the end, with the hub up and the load stopped, once no delivery is pending: every
//! acknowledged web-chat message must come back exactly once in a replay from `seq` 0, every
//! acknowledged update must be stored exactly once, and no reply may have reached the fake
//! more often than the hub stored it. Replies stored and never sent, and customer messages
//! never answered, are reported too. Any loss or duplicate fails the run.

use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    process::Stdio,
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, AtomicUsize, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    routing::post,
};
use serde_json::{Value, json};
use tokio::{process::Child, time::sleep};

use crate::{
    target::{Admin, Target, api_get},
    webchat::{Arrivals, Crowd, CrowdSettings, Phase, QUESTIONS, Summary, ms},
    webhook,
};

#[derive(clap::Args)]
pub struct Options {
    /// The hub's base URL (http://, loopback): where the command below listens
    #[arg(long, default_value = "http://127.0.0.1:18481")]
    url: String,
    #[command(flatten)]
    admin: Admin,
    /// How long the load runs and the hub is killed, in minutes
    #[arg(long, default_value_t = 5.0)]
    minutes: f64,
    /// Seconds between one start of the hub and its SIGKILL
    #[arg(long, default_value_t = 20.0)]
    kill_every: f64,
    /// Web-chat visitors, one WebSocket each
    #[arg(long, default_value_t = 500)]
    visitors: usize,
    /// Mean think time between a visitor's messages, in seconds
    #[arg(long, default_value_t = 10.0)]
    think_secs: f64,
    /// Telegram updates posted a second
    #[arg(long, default_value_t = 20.0)]
    updates_per_sec: f64,
    /// Telegram chats the updates spread over, round robin: enough that each gets a few
    /// messages, since routing hands a conversation that keeps asking to a person and the bot
    /// stops answering it
    #[arg(long, default_value_t = 2_000)]
    chats: usize,
    /// How long the fake Bot API takes to answer `sendMessage` (it records the call first, as
    /// Telegram has sent the message before its answer arrives)
    #[arg(long, default_value_t = 100)]
    telegram_latency_ms: u64,
    /// Telegram's connections to the webhook
    #[arg(long, default_value_t = 16)]
    webhook_clients: usize,
    /// At most this long, after the load, for the outbox to deliver every reply (a job a killed
    /// hub had claimed waits for its lease, 120 s, to run out)
    #[arg(long, default_value_t = 240)]
    drain_secs: u64,
    /// Where the hub's output goes, appended across restarts
    #[arg(long)]
    hub_log: PathBuf,
    /// The hub's command line, run as it is at the start and after every kill
    #[arg(last = true, required = true)]
    hub: Vec<String>,
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    // The hub is started here: the admin signs in once it is up.
    let target = Target::new(&options.url, client)?;
    let (base, ws_base, client) = (&target.base, &target.ws_base, &target.client);
    let mut hub = Hub::start(&options, client, base).await?;
    let telegram = FakeTelegram::serve(Duration::from_millis(options.telegram_latency_ms)).await?;
    let token = target.sign_in(&options.admin).await?;
    let inbox_id = webhook::create_inbox(client, base, &token, &telegram.url).await?;
    let webchat_inbox = target.webchat_inbox(&token).await?;
    let length = Duration::from_secs_f64(options.minutes.max(0.0) * 60.0);
    let kill_every = Duration::from_secs_f64(options.kill_every.max(1.0));
    println!(
        "soak: {:.1} min, SIGKILL every {:.0} s; {} visitors (think {:.1} s), {:.0} Telegram \
         updates a second over {} chats; hub: {}",
        options.minutes,
        kill_every.as_secs_f64(),
        options.visitors,
        options.think_secs,
        options.updates_per_sec,
        options.chats,
        options.hub.join(" ")
    );

    // The visitors send for about as long as the hub is killed.
    let think = Duration::from_secs_f64(options.think_secs.max(0.1));
    let mut crowd = Crowd::new(CrowdSettings {
        ws_url: format!("{ws_base}/chat/ws?inbox={webchat_inbox}"),
        origin: None,
        messages: (length.as_secs_f64() / think.as_secs_f64()).ceil().max(1.0) as usize,
        think,
        arrivals: Arrivals::Steady,
    });
    crowd.ramp(options.visitors, 500).await;
    let held = crowd.held();
    println!("held {held} of {} visitors", options.visitors);
    let started = Instant::now();
    crowd.enter(Phase::Messaging);
    let updates = Updates::start(&options, client, base, &inbox_id, started + length);

    // Kill and restart until the time is up.
    let mut restarts = Vec::new();
    while started.elapsed() + kill_every <= length {
        sleep(kill_every).await;
        let restart = hub.kill_and_restart().await?;
        restarts.push(restart);
        println!(
            "[{:>5.1}s] kill {}: up again after {:.0} ms; web chat sent {} acked {}; updates \
             acked {}",
            started.elapsed().as_secs_f64(),
            restarts.len(),
            restart.as_secs_f64() * 1e3,
            crowd.shared.sent.load(Relaxed),
            crowd.shared.acked.load(Relaxed),
            updates.acked.load(Relaxed),
        );
    }
    sleep(length.saturating_sub(started.elapsed())).await;
    println!(
        "[{:>5.1}s] load stops; the hub stays up",
        started.elapsed().as_secs_f64()
    );

    // The checks, with the hub up.
    let update_results = updates.finish().await;
    crowd.settle(Duration::from_secs(30), || Ok(())).await?;
    let replay = crowd.storm(|| Ok(())).await?;
    let chat = Summary::of(&crowd.finish().await?);
    let drained = drain(client, base, &token, &inbox_id, options.drain_secs).await?;
    let stored = telegram_conversations(client, base, &token, &inbox_id).await?;
    let tally = Tally::of(&stored, &update_results, &telegram.sent());
    hub.stop().await;

    restarts.sort();
    let mut acks = chat.acks.clone();
    acks.extend(update_results.latencies.iter().copied());
    acks.sort();
    let lost = chat.lost + chat.replay_missing + tally.updates_lost;
    let duplicated = chat.duplicates + tally.updates_duplicated;
    println!();
    println!("== soak results ==");
    println!(
        "kills: {}; restart (SIGKILL to /readyz): p50 {} max {} ms",
        restarts.len(),
        ms(&restarts, 0.50),
        ms(&restarts, 1.0)
    );
    println!(
        "web chat: {} sent, {} acked ({} resent, {} connections dropped); lost {} (never acked \
         {}, missing from the replay from seq 0 {}); duplicated {}; replay verified in {:.1} s; \
         ack ms p50 {} p99 {}",
        chat.sent,
        chat.acked,
        chat.resends,
        chat.drops,
        chat.lost + chat.replay_missing,
        chat.lost,
        chat.replay_missing,
        chat.duplicates,
        replay.as_secs_f64(),
        ms(&chat.acks, 0.50),
        ms(&chat.acks, 0.99),
    );
    println!(
        "telegram: {} updates posted, {} acked ({} refused or failed attempts, posted again; {} \
         given up); lost {}; stored twice {}; ack ms p50 {} p99 {}",
        update_results.posted,
        update_results.latencies.len(),
        update_results.failed_attempts,
        update_results.given_up,
        tally.updates_lost,
        tally.updates_duplicated,
        ms(&update_results.latencies, 0.50),
        ms(&update_results.latencies, 0.99),
    );
    println!(
        "replies: {} stored by the hub, {} sendMessage calls to the fake; sent twice {}, never \
         sent {} (of which marked failed {}); conversations still the bot's whose last customer \
         message has no reply {}; outbox drained {}",
        tally.replies_stored,
        tally.sends,
        tally.sent_twice,
        tally.never_sent,
        tally.failed,
        tally.unanswered,
        match drained {
            Some(after) => format!("{:.0} s after the load", after.as_secs_f64()),
            None => format!("NOT within {} s", options.drain_secs),
        },
    );
    println!(
        "| {} | {} min, kill every {:.0} s | {} | {} / {} | {} + {} | {lost} | {duplicated} | \
         {} | {} | {} | {} / {} |",
        backend(&options.hub),
        options.minutes,
        kill_every.as_secs_f64(),
        restarts.len(),
        ms(&restarts, 0.50),
        ms(&restarts, 1.0),
        chat.acked,
        update_results.latencies.len(),
        tally.sends,
        tally.sent_twice,
        tally.never_sent,
        ms(&acks, 0.50),
        ms(&acks, 0.99),
    );
    if lost > 0 || duplicated > 0 || tally.sent_twice > 0 {
        bail!(
            "{lost} acknowledged messages lost, {duplicated} stored twice, {} replies sent \
             twice: all must be 0",
            tally.sent_twice
        );
    }
    Ok(())
}

/// The database the hub's command line names, for the table.
fn backend(command: &[String]) -> &'static str {
    if command.iter().any(|arg| arg.starts_with("postgres")) {
        "PostgreSQL"
    } else {
        "SQLite"
    }
}

/// The hub as a child process, started from its command line with its output appended to the
/// log, and killed with SIGKILL when dropped.
struct Hub {
    command: Vec<String>,
    log: PathBuf,
    ready_url: String,
    client: reqwest::Client,
    child: Child,
}

impl Hub {
    async fn start(options: &Options, client: &reqwest::Client, base: &str) -> anyhow::Result<Hub> {
        let mut hub = Hub {
            command: options.hub.clone(),
            log: options.hub_log.clone(),
            ready_url: format!("{base}/readyz"),
            client: client.clone(),
            child: spawn(&options.hub, &options.hub_log).await?,
        };
        hub.wait_ready().await?;
        Ok(hub)
    }

    /// `kill -9`, then the same command line on the same data; how long until `/readyz` said
    /// yes again.
    async fn kill_and_restart(&mut self) -> anyhow::Result<Duration> {
        let killed = Instant::now();
        self.child.kill().await.context("cannot kill the hub")?;
        self.child = spawn(&self.command, &self.log).await?;
        self.wait_ready().await?;
        Ok(killed.elapsed())
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("the hub exited ({status}); see {}", self.log.display());
            }
            let ready = self.client.get(&self.ready_url).send().await;
            if ready.is_ok_and(|answer| answer.status().is_success()) {
                return Ok(());
            }
            sleep(Duration::from_millis(50)).await;
        }
        bail!(
            "the hub was not ready within 120 s; see {}",
            self.log.display()
        )
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

async fn spawn(command: &[String], log: &std::path::Path) -> anyhow::Result<Child> {
    let (program, args) = command.split_first().context("no hub command")?;
    let log = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .await
        .with_context(|| format!("cannot open {}", log.display()))?
        .into_std()
        .await;
    tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {program}"))
}

/// Telegram's side of the webhook: update `i` is due at `i / rate` seconds after the start;
/// each is posted until the hub answers 200 (a refused or failed request is posted again, the
/// same update, with backoff), and none is started after `stop_at`.
struct Updates {
    acked: Arc<AtomicUsize>,
    workers: Vec<tokio::task::JoinHandle<UpdateResults>>,
}

#[derive(Default)]
struct UpdateResults {
    posted: usize,
    /// Update index → (chat id, message id) of the updates the hub acknowledged.
    acked: Vec<(i64, i64)>,
    /// From the first attempt to the 200, retries included.
    latencies: Vec<Duration>,
    failed_attempts: usize,
    given_up: usize,
}

/// How long an update is posted again before it is given up (Telegram keeps trying for a day).
const GIVE_UP: Duration = Duration::from_secs(180);

impl Updates {
    fn start(
        options: &Options,
        client: &reqwest::Client,
        base: &str,
        inbox_id: &str,
        stop_at: Instant,
    ) -> Updates {
        let url = format!("{base}/webhooks/telegram/{inbox_id}");
        let next = Arc::new(AtomicUsize::new(0));
        let acked = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let interval = Duration::from_secs_f64(1.0 / options.updates_per_sec.max(0.01));
        let chats = options.chats.max(1);
        let workers = (0..options.webhook_clients.max(1))
            .map(|_| {
                let (client, url, next, acked) =
                    (client.clone(), url.clone(), next.clone(), acked.clone());
                tokio::spawn(async move {
                    let mut results = UpdateResults::default();
                    loop {
                        let i = next.fetch_add(1, Relaxed);
                        let due = started + interval.mul_f64(i as f64);
                        if due >= stop_at {
                            return results;
                        }
                        tokio::time::sleep_until(due.into()).await;
                        let update =
                            webhook::update_saying(i, chats, QUESTIONS[i % QUESTIONS.len()]);
                        results.posted += 1;
                        if post_until_acked(&client, &url, &update, &mut results).await {
                            acked.fetch_add(1, Relaxed);
                            results.acked.push((
                                webhook::chat_id(i, chats),
                                update["message"]["message_id"].as_i64().unwrap_or_default(),
                            ));
                        } else {
                            results.given_up += 1;
                        }
                    }
                })
            })
            .collect();
        Updates { acked, workers }
    }

    /// Waits for the updates in flight (each until acknowledged or given up).
    async fn finish(self) -> UpdateResults {
        let mut all = UpdateResults::default();
        for worker in self.workers {
            let Ok(results) = worker.await else { continue };
            all.posted += results.posted;
            all.acked.extend(results.acked);
            all.latencies.extend(results.latencies);
            all.failed_attempts += results.failed_attempts;
            all.given_up += results.given_up;
        }
        all.latencies.sort();
        all
    }
}

/// Posts `update` until a 200, backing off 0.25 s → 2 s between attempts; whether it was
/// acknowledged within [`GIVE_UP`].
async fn post_until_acked(
    client: &reqwest::Client,
    url: &str,
    update: &Value,
    results: &mut UpdateResults,
) -> bool {
    let first = Instant::now();
    let mut wait = Duration::from_millis(250);
    while first.elapsed() < GIVE_UP {
        match webhook::post_update(client, url, update).await {
            Ok(answer) if answer.status().is_success() => {
                results.latencies.push(first.elapsed());
                return true;
            }
            _ => results.failed_attempts += 1,
        }
        sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(2));
    }
    false
}

/// Where the fake's own message ids start.
const BOT_MESSAGE_IDS: i64 = 1_000_000_000;

/// The Bot API on loopback: `sendMessage` answered as Telegram does, each call recorded; any
/// other method answered `ok`.
struct FakeTelegram {
    url: String,
    calls: Arc<TelegramCalls>,
}

#[derive(Default)]
struct TelegramCalls {
    latency: Duration,
    next_message_id: AtomicI64,
    /// (chat id, text) of every `sendMessage`, in arrival order.
    sent: Mutex<Vec<(i64, String)>>,
}

impl FakeTelegram {
    async fn serve(latency: Duration) -> anyhow::Result<FakeTelegram> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let calls = Arc::new(TelegramCalls {
            latency,
            ..TelegramCalls::default()
        });
        let app = Router::new()
            .route("/{bot}/{method}", post(bot_api))
            .with_state(calls.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(FakeTelegram { url, calls })
    }

    fn sent(&self) -> Vec<(i64, String)> {
        self.calls
            .sent
            .lock()
            .map(|sent| sent.clone())
            .unwrap_or_default()
    }
}

async fn bot_api(
    State(calls): State<Arc<TelegramCalls>>,
    Path((_bot, method)): Path<(String, String)>,
    body: Bytes,
) -> Json<Value> {
    if method != "sendMessage" {
        return Json(json!({ "ok": true, "result": true }));
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let (Some(chat_id), Some(text)) = (request["chat_id"].as_i64(), request["text"].as_str())
    else {
        return Json(json!({
            "ok": false, "error_code": 400, "description": "Bad Request: chat_id and text needed",
        }));
    };
    // In a private chat the customer's and the bot's messages share one sequence of ids: the
    // bot's are kept clear of the updates' (`message_id` 1 + i).
    let message_id = BOT_MESSAGE_IDS + calls.next_message_id.fetch_add(1, Relaxed);
    if let Ok(mut sent) = calls.sent.lock() {
        sent.push((chat_id, text.to_owned()));
    }
    sleep(calls.latency).await;
    Json(json!({
        "ok": true,
        "result": {
            "message_id": message_id,
            "date": chrono::Utc::now().timestamp(),
            "chat": { "id": chat_id, "type": "private" },
            "text": text,
        },
    }))
}

/// Waits until no message of the inbox waits for delivery (`pending`), at most `bound_secs`;
/// how long that took, `None` when it did not happen. Only the conversations still holding a
/// pending message are read again.
async fn drain(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    inbox_id: &str,
    bound_secs: u64,
) -> anyhow::Result<Option<Duration>> {
    let started = Instant::now();
    let mut waiting: Vec<String> = conversation_ids(client, base, token, inbox_id).await?;
    loop {
        let mut still = Vec::new();
        for id in waiting {
            let detail =
                api_get(client, &format!("{base}/api/v1/conversations/{id}"), token).await?;
            let pending = detail["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|message| message["delivery_status"] == "pending");
            if pending {
                still.push(id);
            }
        }
        if still.is_empty() {
            return Ok(Some(started.elapsed()));
        }
        if started.elapsed() > Duration::from_secs(bound_secs) {
            println!("{} conversations still have a reply pending", still.len());
            return Ok(None);
        }
        sleep(Duration::from_secs(5)).await;
        waiting = still;
    }
}

async fn conversation_ids(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    inbox_id: &str,
) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url =
            format!("{base}/api/v1/conversations?inbox_id={inbox_id}&snoozed=any&limit=200");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page = api_get(client, &url, token).await?;
        ids.extend(
            page["conversations"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|conversation| conversation["id"].as_str().map(str::to_owned)),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(ids),
        }
    }
}

/// One conversation of the Telegram inbox as the API gives it.
struct Stored {
    chat: i64,
    /// Still the bot's (not handed to a person).
    with_bot: bool,
    /// In `seq` order.
    messages: Vec<Value>,
}

/// Every conversation of the inbox.
async fn telegram_conversations(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    inbox_id: &str,
) -> anyhow::Result<Vec<Stored>> {
    let mut conversations = Vec::new();
    for id in conversation_ids(client, base, token, inbox_id).await? {
        let detail = api_get(client, &format!("{base}/api/v1/conversations/{id}"), token).await?;
        let chat = detail["conversation"]["thread_key"]
            .as_str()
            .and_then(|key| key.parse().ok())
            .context("a Telegram conversation whose thread key is not a chat id")?;
        conversations.push(Stored {
            chat,
            with_bot: detail["conversation"]["status"] == "bot",
            messages: detail["messages"].as_array().cloned().unwrap_or_default(),
        });
    }
    Ok(conversations)
}

/// What the hub stored on the Telegram inbox against what Telegram's side saw.
#[derive(Default)]
struct Tally {
    updates_lost: usize,
    updates_duplicated: usize,
    replies_stored: usize,
    sends: usize,
    sent_twice: usize,
    never_sent: usize,
    failed: usize,
    /// Conversations still the bot's whose last customer message has no reply.
    unanswered: usize,
}

impl Tally {
    fn of(conversations: &[Stored], updates: &UpdateResults, sent: &[(i64, String)]) -> Tally {
        let mut tally = Tally {
            sends: sent.len(),
            ..Tally::default()
        };
        // Each acknowledged update is one customer message, named `<chat>:<message_id>`.
        let mut stored: HashMap<String, usize> = HashMap::new();
        // Per chat and text: replies the hub stored, and sends the fake received.
        let mut replies: BTreeMap<(i64, String), (usize, usize)> = BTreeMap::new();
        for conversation in conversations {
            let mut last_customer = None;
            let mut last_reply = None;
            for message in &conversation.messages {
                let seq = message["seq"].as_i64();
                if message["role"] == "customer" {
                    if let Some(id) = message["channel_message_id"].as_str() {
                        *stored.entry(id.to_owned()).or_default() += 1;
                    }
                    last_customer = seq;
                } else if message["private"] != true && message["delivery_status"] != "internal" {
                    tally.replies_stored += 1;
                    if message["delivery_status"] == "failed" {
                        tally.failed += 1;
                    }
                    let text = message["text"].as_str().unwrap_or_default().to_owned();
                    replies.entry((conversation.chat, text)).or_default().0 += 1;
                    last_reply = seq;
                }
            }
            if conversation.with_bot && last_customer > last_reply {
                tally.unanswered += 1;
            }
        }
        for (chat, message_id) in &updates.acked {
            match stored
                .get(&format!("{chat}:{message_id}"))
                .copied()
                .unwrap_or(0)
            {
                0 => tally.updates_lost += 1,
                count => tally.updates_duplicated += count - 1,
            }
        }
        for (chat, text) in sent {
            replies.entry((*chat, text.clone())).or_default().1 += 1;
        }
        for (hub, fake) in replies.values() {
            tally.sent_twice += fake.saturating_sub(*hub);
            tally.never_sent += hub.saturating_sub(*fake);
        }
        tally
    }
}
