//! `switchboard-bench helpdesk`: escalations synced to a Zendesk that allows so many requests a
//! minute. Runs the hub (the `switchboard` binary, as a child process) on a fresh database with
//! a web-chat inbox and a Zendesk escalation desk (the test kit's `FakeZendesk` on loopback, with its per-minute limit), has
//! `--escalations` visitors each write and ask for a person, and reports how long the tickets
//! took, the requests Zendesk served a minute against its limit, the 429s, and tickets lost or
//! opened twice.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use switchboard_testkit::{Backend, FakeZendesk, TestDatabase};
use tokio_tungstenite::tungstenite::Message;

#[derive(clap::Args, Debug)]
pub struct Options {
    /// `postgres` uses a fresh database beside SWITCHBOARD_TEST_DATABASE_URL
    #[arg(long, value_enum, default_value = "sqlite")]
    pub backend: crate::BackendArg,
    /// Conversations escalated to the desk
    #[arg(long, default_value_t = 1_000)]
    pub escalations: usize,
    /// Zendesk's rate limit: requests a minute (a sliding window; beyond it, 429 with
    /// Retry-After)
    #[arg(long, default_value_t = 700)]
    pub per_minute: usize,
    /// Visitors escalating at once
    #[arg(long, default_value_t = 50)]
    pub concurrency: usize,
    /// Give up after this long
    #[arg(long, default_value_t = 900)]
    pub timeout_secs: u64,
    /// The hub's binary; by default the `switchboard` beside this one (`cargo build -p
    /// switchboard` puts it there)
    #[arg(long)]
    pub hub: Option<PathBuf>,
}

const ADMIN_EMAIL: &str = "admin@bench.test";
const ADMIN_PASSWORD: &str = "bench admin password";

pub async fn run(options: Options) -> anyhow::Result<()> {
    let backend = match options.backend {
        crate::BackendArg::Sqlite => Backend::Sqlite,
        crate::BackendArg::Postgres => Backend::Postgres,
    };
    let db = TestDatabase::new(backend)
        .await
        .context("set SWITCHBOARD_TEST_DATABASE_URL to benchmark PostgreSQL")?;
    let binary = match &options.hub {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("switchboard"),
    };
    let client = reqwest::Client::new();
    let mut hub = start_hub(&binary, &db, &client).await?;
    let addr = hub.addr;
    let base = format!("http://{addr}");

    let token = login(&client, &base).await?;
    let zendesk = FakeZendesk::start().await;
    zendesk.limit_per_minute(options.per_minute);
    let mut desk = zendesk.config("bench-signing-secret", true);
    desk["poll_interval_secs"] = json!(60);
    desk["rate_limit_per_minute"] = json!(options.per_minute);
    create_inbox(&client, &base, &token, "zendesk", desk).await?;
    let website = create_inbox(
        &client,
        &base,
        &token,
        "webchat",
        // Every visitor comes from this machine's one address: no limit by address.
        json!({ "allowed_origins": ["https://bench.test"], "rate_limit_per_minute": 600,
                "address_connections_per_minute": 100_000,
                "address_messages_per_minute": 1_000_000 }),
    )
    .await?;

    println!(
        "escalating {} web-chat conversations; Zendesk allows {} requests a minute",
        options.escalations, options.per_minute
    );
    let started = Instant::now();
    let visitors = futures::stream::iter(0..options.escalations)
        .map(|visitor| escalate(addr, &website, visitor))
        .buffer_unordered(options.concurrency.max(1));
    let failed = visitors
        .filter(|result| futures::future::ready(result.is_err()))
        .count()
        .await;
    let escalated_in = started.elapsed();
    println!(
        "escalated in {:.1} s ({failed} visitors failed)",
        escalated_in.as_secs_f64()
    );

    let deadline = started + Duration::from_secs(options.timeout_secs);
    let mut last_report = Instant::now();
    let done_at = loop {
        let opened = zendesk.tickets().len();
        if opened >= options.escalations - failed {
            break started.elapsed();
        }
        if Instant::now() > deadline {
            bail!("only {opened} tickets after {} s", options.timeout_secs);
        }
        if last_report.elapsed() >= Duration::from_secs(15) {
            println!(
                "  {:>5.0} s: {opened} tickets",
                started.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Anything written twice would show by now.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let tickets = zendesk.tickets();
    let mut external: Vec<&str> = tickets
        .iter()
        .filter_map(|t| t.external_id.as_deref())
        .collect();
    external.sort_unstable();
    let distinct = {
        let mut ids = external.clone();
        ids.dedup();
        ids.len()
    };
    let requests = zendesk.requests();
    let served = requests.iter().filter(|r| r.status < 400).count();
    let throttled = requests.iter().filter(|r| r.status == 429).count();
    // The rate while there was a backlog: from the first request to the last ticket.
    let first = requests.first().map(|r| r.at).unwrap_or_else(Instant::now);
    let busy: Vec<_> = requests
        .iter()
        .filter(|r| r.status < 400 && r.at.duration_since(first) <= done_at)
        .collect();
    let window = busy
        .last()
        .map_or(Duration::ZERO, |last| last.at.duration_since(first));
    let per_minute = busy.len() as f64 / window.as_secs_f64().max(1.0) * 60.0;
    let summary = json!({
        "backend": format!("{:?}", options.backend).to_lowercase(),
        "escalations": options.escalations,
        "visitors_failed": failed,
        "tickets": tickets.len(),
        "distinct_conversations": distinct,
        "lost": (options.escalations - failed).saturating_sub(distinct),
        "duplicated": tickets.len() - distinct,
        "all_tickets_after_s": (done_at.as_secs_f64() * 10.0).round() / 10.0,
        "requests_served": served,
        "requests_throttled_429": throttled,
        "limit_per_minute": options.per_minute,
        "served_per_minute_while_busy": per_minute.round(),
        "of_limit": (per_minute / options.per_minute as f64 * 1000.0).round() / 1000.0,
    });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    hub.child.kill().await?;
    Ok(())
}

/// The hub running as a child process; killed when dropped.
struct Hub {
    child: tokio::process::Child,
    addr: std::net::SocketAddr,
}

/// Starts `binary serve` on a free loopback port and `db`, without the bot, and waits until it
/// is ready. Its output goes to `hub.log` in the database's directory.
async fn start_hub(
    binary: &Path,
    db: &TestDatabase,
    client: &reqwest::Client,
) -> anyhow::Result<Hub> {
    if !binary.is_file() {
        bail!(
            "no hub binary at {}: run `cargo build -p switchboard` (with the same profile) or pass --hub",
            binary.display()
        );
    }
    // A free port, given back to the OS for the child to take.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let log_path = db.dir.path().join("hub.log");
    let log = std::fs::File::create(&log_path)?;
    let child = tokio::process::Command::new(binary)
        .args(["serve", "--listen", &addr.to_string(), "--data-dir"])
        .arg(db.dir.path())
        .args(["--database-url", &db.url])
        .env("SWITCHBOARD_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("SWITCHBOARD_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("SWITCHBOARD_BOT_ENABLED", "false")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let mut hub = Hub { child, addr };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = client.get(format!("http://{addr}/readyz")).send().await;
        if ready.is_ok_and(|response| response.status().is_success()) {
            return Ok(hub);
        }
        if let Some(status) = hub.child.try_wait()? {
            bail!(
                "the hub exited ({status}):\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        if Instant::now() > deadline {
            bail!(
                "the hub was not ready within 60 s:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn login(client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let body: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(body["token"].as_str().context("a token")?.to_owned())
}

async fn create_inbox(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    channel: &str,
    config: Value,
) -> anyhow::Result<String> {
    let response = client
        .post(format!("{base}/api/v1/inboxes"))
        .bearer_auth(token)
        .json(&json!({ "name": channel, "channel": channel, "config": config }))
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    if !status.is_success() {
        bail!("creating the {channel} inbox: {status} {body}");
    }
    Ok(body["id"].as_str().context("an inbox id")?.to_owned())
}

/// One visitor: connects, writes, asks for a person, waits for the `escalated` status.
async fn escalate(addr: std::net::SocketAddr, inbox: &str, visitor: usize) -> anyhow::Result<()> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{addr}/chat/ws?inbox={inbox}").into_client_request()?;
    request
        .headers_mut()
        .insert("origin", "https://bench.test".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let frame = |value: Value| Message::text(value.to_string());
    socket
        .send(frame(json!({ "type": "message", "client_id": "c-1",
            "text": format!("Order {visitor} arrived broken, I need a refund") })))
        .await?;
    socket.send(frame(json!({ "type": "handoff" }))).await?;
    let wait = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(message) = socket.next().await {
            if let Message::Text(text) = message?
                && let Ok(frame) = serde_json::from_str::<Value>(text.as_str())
                && frame["type"] == "status"
                && frame["status"] == "escalated"
            {
                return Ok(());
            }
        }
        bail!("the connection closed before the escalation")
    });
    wait.await.context("no escalation within 60 s")??;
    let _ = socket.close(None).await;
    Ok(())
}
