//! `webchat`: many web-chat visitors against a running hub, over the real WebSocket protocol
//! (docs/specs/webchat.md), each in its own task as a browser tab would be.
//!
//! Phases: ramp up (open every connection), hold them idle (the hub's memory per idle connection
//! is read at the end), messaging (each visitor sends its messages with think time; ack latency
//! and time to the first answer frame are measured), then a reconnect storm (every connection
//! dropped and reopened at once with its visitor token; each resumes from `seq` 0, so that every
//! acknowledged message must come back exactly once). A message sent and never acknowledged, or
//! acknowledged and missing from the replay, is lost; a message id received twice on one
//! connection, or one `client_id` acknowledged as two messages, is a duplicate. Either fails the
//! run.
//!
//! A visitor whose connection is lost while messaging (the hub closed it, or the node behind a
//! load balancer died: `bench/cluster.sh`) reconnects to the same URL with backoff and jitter,
//! resumes after the largest `seq` it has seen and resends what was not acknowledged under the
//! same `client_id`s, as the widget does; the time to its new `session` is reported. Without the
//! storm, those visitors then reopen once more and replay from `seq` 0 (the final check), so that
//! a message acknowledged by a node that died must still be there, once.

use std::{
    collections::{BTreeMap, HashMap, HashSet, VecDeque},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::{net::TcpStream, sync::watch, time::sleep};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{
        Message, client::IntoClientRequest, http::HeaderValue, protocol::WebSocketConfig,
    },
};

use crate::{
    proc::{Cpu, HubProcess},
    target::{Admin, Target},
};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What the visitors ask: questions the demo knowledge base answers (checked with `switchboard
/// eval answers`), so that every message gets the bot's answer, as most do on a real site.
pub(crate) const QUESTIONS: &[&str] = &[
    "How do I track my parcel?",
    "How long does a refund take?",
    "Can I change the delivery address after ordering?",
    "How do I reset my box PIN?",
    "My box keeps losing its Wi-Fi connection, what can I do?",
    "How do I give a courier a delivery code?",
    "How do I cancel my subscription?",
    "What does the warranty cover?",
    "How do I turn on two-factor authentication?",
    "Which payment methods do you accept?",
    "What happens to my box during a power outage?",
    "How do I return a faulty box?",
];

#[derive(clap::Args)]
pub struct Options {
    /// The hub's base URL (http://, loopback)
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The web-chat inbox; without it, the first web-chat inbox the admin can see
    #[arg(long)]
    inbox: Option<String>,
    #[command(flatten)]
    admin: Admin,
    /// Concurrent conversations (one WebSocket each)
    #[arg(long, default_value_t = 10_000)]
    conversations: usize,
    /// Messages each visitor sends
    #[arg(long, default_value_t = 3)]
    messages: usize,
    /// Mean think time before each message, in seconds; each wait is drawn uniformly from
    /// 50%..150% of it (the first as `--arrivals` says)
    #[arg(long, default_value_t = 10.0)]
    think_secs: f64,
    /// How the visitors' first waits are drawn: `steady`, from the think time's equilibrium
    /// (residual-life) distribution, so that N visitors offer N / think messages a second from
    /// the first second on, as visitors who did not arrive in step do; `burst`, uniformly from
    /// 0..100% of the think time (the generator's earlier rule), so that the first messages
    /// overlap the second ones and the offered rate peaks at 1.5 × N / think
    #[arg(long, value_enum, default_value_t = Arrivals::Steady)]
    arrivals: Arrivals,
    /// Connections opened per second while ramping up
    #[arg(long, default_value_t = 1000)]
    ramp_per_sec: usize,
    /// Seconds every connection is held idle before the messages start
    #[arg(long, default_value_t = 5)]
    idle_secs: u64,
    /// Seconds to wait at the end for acknowledgements and answers still on their way
    #[arg(long, default_value_t = 30)]
    drain_secs: u64,
    /// After the messages, drop every connection and reconnect all at once
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    storm: bool,
    /// The hub's process id, for its memory and CPU; default: the process listening on the
    /// URL's port
    #[arg(long)]
    hub_pid: Option<u32>,
    /// An `Origin` header to send (browsers always send one; the hub allows none for non-browser
    /// clients)
    #[arg(long)]
    origin: Option<String>,
    /// Also print the acknowledgements' p50 / p99 and count for each second of sending, by
    /// when the message was sent: where in the run the slow ones are
    #[arg(long)]
    timeline: bool,
    /// Start at once, while a hub that has just started is still encoding its knowledge bases
    /// (`switchboard_knowledge_preparing`); by default the generator waits for them, as a hub
    /// that has served before has its encoding on disk
    #[arg(long)]
    cold_knowledge: bool,
    /// Other work on the machine: this many threads of the generator spin from the first
    /// message to the last answer (at the generator's priority, counted in its CPU), as a build
    /// or a neighbour would; the hub must still answer (its background lane's rescue)
    #[arg(long, default_value_t = 0)]
    busy_loops: usize,
}

/// Starts `count` threads that spin until the flag returned is cleared (`--busy-loops`).
fn busy_loops(count: usize) -> Arc<AtomicBool> {
    let running = Arc::new(AtomicBool::new(true));
    for _ in 0..count {
        let running = running.clone();
        std::thread::spawn(move || {
            while running.load(Relaxed) {
                std::hint::spin_loop();
            }
        });
    }
    running
}

/// How the first message's wait is drawn (`--arrivals`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Arrivals {
    Steady,
    Burst,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Ramp,
    Messaging,
    Storm,
    /// Without the storm: the visitors that reconnected while messaging replay from `seq` 0.
    Verify,
    Stop,
}

/// What the visitors share: where to connect, and counters for the progress lines.
pub(crate) struct Shared {
    pub(crate) ws_url: String,
    pub(crate) origin: Option<String>,
    pub(crate) messages: usize,
    pub(crate) think: Duration,
    pub(crate) arrivals: Arrivals,
    pub(crate) connected: AtomicUsize,
    pub(crate) failed: AtomicUsize,
    pub(crate) sent: AtomicUsize,
    pub(crate) acked: AtomicUsize,
    pub(crate) answered: AtomicUsize,
    pub(crate) drops: AtomicUsize,
    pub(crate) done_sending: AtomicUsize,
    pub(crate) settled: AtomicUsize,
    pub(crate) storm_connected: AtomicUsize,
    pub(crate) storm_verified: AtomicUsize,
    /// Visitors that have reconnected after losing their connection, and of those, how many
    /// have passed (or could not reach) the final check.
    pub(crate) reconnected: AtomicUsize,
    pub(crate) checked: AtomicUsize,
    /// When the generator started, and the last first acknowledgement since (ms after it): the
    /// message rate is over the time acknowledgements kept coming, not the drain after.
    pub(crate) epoch: Instant,
    pub(crate) last_ack_ms: AtomicU64,
}

/// One visitor's results, merged at the end.
#[derive(Default)]
pub(crate) struct Report {
    connected: bool,
    connect_error: Option<String>,
    sent: usize,
    resends: usize,
    ack_latencies: Vec<Duration>,
    /// For each acknowledgement, the second of the run its message was sent in.
    ack_seconds: Vec<u32>,
    /// For each acknowledgement, whether its message was resent after a reconnect (its latency
    /// includes the outage).
    ack_resent: Vec<bool>,
    /// The latency of the visitor's first acknowledgement: its message opened the conversation.
    first_ack_latency: Option<Duration>,
    /// How long the visitor's first message waited for its answer: the same question as many
    /// other visitors' first, so with a model it is the answer cache's.
    first_answer_latency: Option<Duration>,
    answer_latencies: Vec<Duration>,
    /// Questions answered by a reply that also answered a later question of the visitor's (a
    /// bot that is behind answers a conversation's waiting questions with one reply).
    answered_together: usize,
    unanswered: usize,
    lost: usize,
    duplicates: usize,
    drops: usize,
    errors: BTreeMap<String, usize>,
    storm_reconnect: Option<Duration>,
    storm_replay: Option<Duration>,
    /// Acknowledged messages missing from the storm's or the final check's replay.
    replay_missing: usize,
    /// From a lost connection to the new `session`, for each reconnect.
    reconnects: Vec<Duration>,
    /// From a lost connection to the acknowledgement of everything resent after it.
    recoveries: Vec<Duration>,
    /// The final check's replay from `seq` 0 (only without the storm).
    check_replay: Option<Duration>,
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    let target = Target::new(&options.url, reqwest::Client::new())?;
    let (base, ws_base) = (&target.base, &target.ws_base);
    let inbox = match &options.inbox {
        Some(inbox) => inbox.clone(),
        None => {
            target
                .webchat_inbox(&target.sign_in(&options.admin).await?)
                .await?
        }
    };
    check_open_files(options.conversations);
    let hub = match options.hub_pid {
        Some(pid) => HubProcess::new(pid),
        None => HubProcess::listening_on(base).context(
            "could not find the hub's process from its port: pass --hub-pid (running as the \
             hub's user or root)",
        )?,
    };
    let ws_url = format!("{ws_base}/chat/ws?inbox={inbox}");
    println!(
        "webchat: {} conversations x {} messages, think {:.1}s ({:?} arrivals), ramp {}/s, hub pid {}, {ws_url}",
        options.conversations,
        options.messages,
        options.think_secs,
        options.arrivals,
        options.ramp_per_sec,
        hub.pid
    );

    let mut crowd = Crowd::new(CrowdSettings {
        ws_url,
        origin: options.origin.clone(),
        messages: options.messages,
        think: Duration::from_secs_f64(options.think_secs.max(0.0)),
        arrivals: options.arrivals,
    });
    let shared = crowd.shared.clone();
    let started = Instant::now();
    let progress = tokio::spawn(progress_lines(
        shared.clone(),
        options.conversations,
        started,
    ));

    if !options.cold_knowledge {
        let waited = knowledge_prepared(base).await?;
        println!(
            "the hub's knowledge bases were encoded after {:.1}s of waiting",
            waited.as_secs_f64()
        );
    }
    let rss_before = hub.rss_kib()?;
    let cpu_ramp = hub.cpu()?;
    crowd
        .ramp(options.conversations, options.ramp_per_sec)
        .await;
    let ramp_time = started.elapsed();
    let ramp_cpu = hub.cpu()?.since(&cpu_ramp);
    sleep(Duration::from_secs(options.idle_secs)).await;
    let rss_idle = hub.rss_kib()?;
    let held = shared.connected.load(Relaxed);
    println!(
        "held {held} connections after {:.1}s; hub RSS {} -> {} MiB",
        ramp_time.as_secs_f64(),
        rss_before / 1024,
        rss_idle / 1024
    );

    // Messaging.
    let cpu_messages = hub.cpu()?;
    let self_cpu = Cpu::of_self()?;
    let machine_cpu = Cpu::of_machine()?;
    let messaging_started = Instant::now();
    let busy = busy_loops(options.busy_loops);
    crowd.enter(Phase::Messaging);
    let mut rss_peak = rss_idle;
    crowd
        .settle(Duration::from_secs(options.drain_secs), || {
            rss_peak = rss_peak.max(hub.rss_kib()?);
            Ok(())
        })
        .await?;
    let messaging_time = messaging_started.elapsed();
    busy.store(false, Relaxed);
    let messaging_cpu = hub.cpu()?.since(&cpu_messages);
    let generator_cpu = Cpu::of_self()?.since(&self_cpu);
    let machine_cpu = Cpu::of_machine()?.since(&machine_cpu);

    // The reconnect storm.
    let mut storm_time = None;
    if options.storm {
        storm_time = Some(
            crowd
                .storm(|| {
                    rss_peak = rss_peak.max(hub.rss_kib()?);
                    Ok(())
                })
                .await?,
        );
    }
    // The final check, when the storm has not already replayed every conversation from 0.
    let reconnected = shared.reconnected.load(Relaxed);
    let mut check_time = None;
    if !options.storm && reconnected > 0 {
        let check_started = Instant::now();
        crowd.enter(Phase::Verify);
        let deadline = check_started + Duration::from_secs(60);
        while shared.checked.load(Relaxed) < reconnected && Instant::now() < deadline {
            sleep(Duration::from_millis(20)).await;
        }
        check_time = Some(check_started.elapsed());
    }
    let reports = crowd.finish().await?;
    progress.abort();

    let summary = Summary::of(&reports);
    let acking_time = (shared.epoch + Duration::from_millis(shared.last_ack_ms.load(Relaxed)))
        .saturating_duration_since(messaging_started)
        .max(Duration::from_millis(1));
    let msgs_per_sec = summary.acked as f64 / acking_time.as_secs_f64();
    let per_conn = |rss: u64| (rss.saturating_sub(rss_before)) as f64 / held.max(1) as f64;
    println!();
    println!("== webchat results ==");
    println!(
        "connections: {held} held of {} ({} failed to connect{}), ramp {:.1}s, hub CPU during ramp {:.2} cores",
        options.conversations,
        summary.connect_failures,
        summary
            .first_connect_error
            .as_deref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default(),
        ramp_time.as_secs_f64(),
        ramp_cpu.cores(ramp_time),
    );
    println!(
        "hub memory: RSS {:.1} MiB before, {:.1} MiB with {held} idle connections \
         ({:.1} KiB per connection), peak {:.1} MiB ({:.1} KiB per connection)",
        rss_before as f64 / 1024.0,
        rss_idle as f64 / 1024.0,
        per_conn(rss_idle),
        rss_peak as f64 / 1024.0,
        per_conn(rss_peak),
    );
    println!(
        "messages: {} sent, {} acked within {:.1}s of the start ({msgs_per_sec:.0}/s), {} resent, {} connections \
         dropped by the hub",
        summary.sent,
        summary.acked,
        acking_time.as_secs_f64(),
        summary.resends,
        summary.drops
    );
    println!("ack latency ms: {}", spread(&summary.acks));
    println!(
        "  of which first messages (each opens its conversation): {}",
        spread(&summary.first_acks)
    );
    if !summary.reconnects.is_empty() {
        println!(
            "  of which sent and acknowledged on one connection: {}",
            spread(&summary.steady_acks)
        );
        println!(
            "  of which resent after a reconnect (the outage included): {}",
            spread(&summary.resent_acks)
        );
        println!(
            "reconnected after a lost connection (a node died, or the hub closed it): {} visitors, \
             {} reconnects; new session after p50 {} p99 {} max {} ms; everything resent \
             acknowledged after p50 {} p99 {} max {} ms",
            summary.reconnected_visitors,
            summary.reconnects.len(),
            ms(&summary.reconnects, 0.50),
            ms(&summary.reconnects, 0.99),
            ms(&summary.reconnects, 1.0),
            ms(&summary.recoveries, 0.50),
            ms(&summary.recoveries, 0.99),
            ms(&summary.recoveries, 1.0),
        );
    }
    if options.timeline {
        print_timeline(&reports);
    }
    println!(
        "first answer frame ms: {} ({} answered, {} of them in one reply with a later question; \
         {} unanswered)",
        spread(&summary.answers),
        summary.answers.len(),
        summary.answered_together,
        summary.unanswered
    );
    println!(
        "  of which first messages (a question other visitors asked first: with a model, the \
         answer cache's): {}",
        spread(&summary.first_answers)
    );
    println!(
        "    the same after their ack (the hub's answering alone): {}; {} of {} within 10 ms",
        spread(&summary.first_answers_after_ack),
        summary
            .first_answers_after_ack
            .iter()
            .filter(|after| **after <= Duration::from_millis(10))
            .count(),
        summary.first_answers_after_ack.len(),
    );
    if let Ok(counts) = ai_counts(base).await {
        println!("{counts}");
    }
    // What else ran (the database, a fake model, anything else on the machine) is the rest
    // of the machine's: a run beside a build or another benchmark shows it there.
    println!(
        "hub CPU while messaging: {:.2} cores ({:.1}s user+system over {:.1}s); generator {:.2} \
         cores; the machine {:.2} of {} cores busy",
        messaging_cpu.cores(messaging_time),
        messaging_cpu.seconds(),
        messaging_time.as_secs_f64(),
        generator_cpu.cores(messaging_time),
        machine_cpu.cores(messaging_time),
        std::thread::available_parallelism().map_or(0, |cores| cores.get()),
    );
    if let Some(storm) = storm_time {
        println!(
            "reconnect storm: {} of {held} reconnected, all within {} ms (p50 {} p99 {}); \
             replay verified in {:.0} ms (p99 {} ms)",
            summary.storm_reconnects.len(),
            ms(&summary.storm_reconnects, 1.0),
            ms(&summary.storm_reconnects, 0.50),
            ms(&summary.storm_reconnects, 0.99),
            storm.as_secs_f64() * 1e3,
            ms(&summary.storm_replays, 0.99),
        );
    }
    if let Some(check) = check_time {
        println!(
            "final check: {} of {reconnected} reconnected visitors replayed from seq 0 in {:.0} ms \
             (p99 {} ms)",
            summary.check_replays.len(),
            check.as_secs_f64() * 1e3,
            ms(&summary.check_replays, 0.99),
        );
    }
    if !summary.errors.is_empty() {
        println!("error frames: {:?}", summary.errors);
    }
    let replay = if check_time.is_some() {
        "in the final check within 60 s"
    } else {
        "before the storm's 60 s deadline"
    };
    println!(
        "lost: {} (never acked: {}, acked but not replayed {replay}: {}); duplicated: {}",
        summary.lost + summary.replay_missing,
        summary.lost,
        summary.replay_missing,
        summary.duplicates
    );
    println!(
        "| {} | {held} | {} | {:.1} | {msgs_per_sec:.0} | {} / {} / {} | {} / {} / {} | {} | {} | {:.1} | {:.2} | {} |",
        options.conversations,
        summary.sent,
        options.think_secs,
        ms(&summary.acks, 0.50),
        ms(&summary.acks, 0.95),
        ms(&summary.acks, 0.99),
        ms(&summary.answers, 0.50),
        ms(&summary.answers, 0.95),
        ms(&summary.answers, 0.99),
        summary.lost + summary.replay_missing,
        summary.duplicates,
        per_conn(rss_idle),
        messaging_cpu.cores(messaging_time),
        storm_time
            .map(|_| format!("{} ms", ms(&summary.storm_reconnects, 1.0)))
            .unwrap_or_else(|| "-".into()),
    );
    if summary.lost + summary.replay_missing > 0 || summary.duplicates > 0 {
        bail!(
            "{} messages lost and {} duplicated: both must be 0",
            summary.lost + summary.replay_missing,
            summary.duplicates
        );
    }
    if held < options.conversations {
        bail!(
            "only {held} of {} connections were held",
            options.conversations
        );
    }
    Ok(())
}

/// What a crowd's visitors do: where they connect and what they send.
pub(crate) struct CrowdSettings {
    /// `ws://…/chat/ws?inbox=…`
    pub ws_url: String,
    pub origin: Option<String>,
    /// Messages each visitor sends
    pub messages: usize,
    /// Mean think time before each message
    pub think: Duration,
    pub arrivals: Arrivals,
}

/// Visitors that follow one phase together, with their shared counters: `run` drives one
/// through its phases, and so does the crash soak (`soak.rs`), across the hub's restarts.
pub(crate) struct Crowd {
    pub(crate) shared: Arc<Shared>,
    phase: watch::Sender<Phase>,
    visitors: tokio::task::JoinSet<Report>,
}

impl Crowd {
    pub(crate) fn new(settings: CrowdSettings) -> Crowd {
        let shared = Arc::new(Shared {
            ws_url: settings.ws_url,
            origin: settings.origin,
            messages: settings.messages,
            think: settings.think,
            arrivals: settings.arrivals,
            connected: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            sent: AtomicUsize::new(0),
            acked: AtomicUsize::new(0),
            answered: AtomicUsize::new(0),
            drops: AtomicUsize::new(0),
            done_sending: AtomicUsize::new(0),
            settled: AtomicUsize::new(0),
            storm_connected: AtomicUsize::new(0),
            storm_verified: AtomicUsize::new(0),
            reconnected: AtomicUsize::new(0),
            checked: AtomicUsize::new(0),
            epoch: Instant::now(),
            last_ack_ms: AtomicU64::new(0),
        });
        Crowd {
            shared,
            phase: watch::channel(Phase::Ramp).0,
            visitors: tokio::task::JoinSet::new(),
        }
    }

    /// Opens `conversations` visitors, `per_sec` a second (a batch every 10 ms), then waits
    /// (at most 60 s) until each has connected or given up.
    pub(crate) async fn ramp(&mut self, conversations: usize, per_sec: usize) {
        let per_batch = (per_sec / 100).max(1);
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        let mut opened = 0;
        while opened < conversations {
            tick.tick().await;
            for _ in 0..per_batch.min(conversations - opened) {
                self.visitors
                    .spawn(visitor(self.shared.clone(), self.phase.subscribe(), opened));
                opened += 1;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.shared.connected.load(Relaxed) + self.shared.failed.load(Relaxed) < conversations
            && Instant::now() < deadline
        {
            sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) fn enter(&self, phase: Phase) {
        self.phase.send_replace(phase);
    }

    /// Visitors holding a connection after the ramp.
    pub(crate) fn held(&self) -> usize {
        self.shared.connected.load(Relaxed)
    }

    /// Waits until every visitor held has sent everything and had it acknowledged and answered,
    /// or until `drain` has passed since the last one sent its last message; `tick` runs every
    /// 500 ms meanwhile.
    pub(crate) async fn settle(
        &self,
        drain: Duration,
        mut tick: impl FnMut() -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let held = self.held();
        let mut drain_started: Option<Instant> = None;
        loop {
            sleep(Duration::from_millis(500)).await;
            tick()?;
            if self.shared.settled.load(Relaxed) >= held {
                return Ok(());
            }
            if self.shared.done_sending.load(Relaxed) >= held {
                let since = *drain_started.get_or_insert_with(Instant::now);
                if since.elapsed() > drain {
                    return Ok(());
                }
            }
        }
    }

    /// The reconnect storm: every visitor drops its connection, reconnects at once and replays
    /// its conversation from `seq` 0; waits (at most 60 s) until every one held has seen each
    /// of its acknowledged messages come back. `tick` runs every 20 ms meanwhile. How long it
    /// took.
    pub(crate) async fn storm(
        &self,
        mut tick: impl FnMut() -> anyhow::Result<()>,
    ) -> anyhow::Result<Duration> {
        let held = self.held();
        let started = Instant::now();
        self.enter(Phase::Storm);
        let deadline = started + Duration::from_secs(60);
        while self.shared.storm_verified.load(Relaxed) < held && Instant::now() < deadline {
            sleep(Duration::from_millis(20)).await;
            tick()?;
        }
        Ok(started.elapsed())
    }

    /// Stops every visitor and gathers their reports.
    pub(crate) async fn finish(mut self) -> anyhow::Result<Vec<Report>> {
        self.enter(Phase::Stop);
        let mut reports = Vec::with_capacity(self.visitors.len());
        while let Some(report) = self.visitors.join_next().await {
            reports.push(report.context("a visitor task panicked")?);
        }
        Ok(reports)
    }
}

/// Every connection is a file descriptor: say so before the run fails half-way.
fn check_open_files(conversations: usize) {
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|line| line.starts_with("Max open files"))
                .and_then(|line| line.split_whitespace().nth(3)?.parse::<usize>().ok())
        });
    if let Some(limit) = limit
        && limit < conversations + 64
    {
        eprintln!(
            "warning: this process may open {limit} files but needs about {}: run `ulimit -n {}` \
             first (and for the hub too)",
            conversations + 64,
            conversations + 1024
        );
    }
}

async fn progress_lines(shared: Arc<Shared>, total: usize, started: Instant) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.tick().await;
    loop {
        tick.tick().await;
        println!(
            "[{:>5.1}s] connected {}/{total} (failed {}), sent {}, acked {}, answered {}, \
             dropped {}, storm reconnected {} verified {}",
            started.elapsed().as_secs_f64(),
            shared.connected.load(Relaxed),
            shared.failed.load(Relaxed),
            shared.sent.load(Relaxed),
            shared.acked.load(Relaxed),
            shared.answered.load(Relaxed),
            shared.drops.load(Relaxed),
            shared.storm_connected.load(Relaxed),
            shared.storm_verified.load(Relaxed),
        );
    }
}

/// One visitor's view of its conversation.
#[derive(Default)]
struct Visitor {
    /// The visitor's own address, sent as a proxy would (`X-Forwarded-For`, which the hub
    /// believes from loopback): each visitor counts alone against the hub's per-address limits,
    /// as visitors on the internet do.
    address: String,
    token: Option<String>,
    last_seq: u64,
    /// client_id → when it was (last) sent, until acknowledged.
    unacked: HashMap<String, Instant>,
    /// client_id → the message id its ack named.
    acked: HashMap<String, String>,
    /// message ids received on the current connection, and how often.
    seen_here: HashMap<String, usize>,
    /// Messages that have not had an answer yet, oldest first.
    awaiting_answer: VecDeque<Awaiting>,
    /// When each answer's first frame came (a delta, or the message itself), until its message
    /// says which questions it follows.
    answer_started: HashMap<String, Instant>,
    /// Answers already counted.
    answered: HashSet<String>,
    /// Set while the storm's (or the final check's) replay runs: answers then are history, not
    /// new.
    replaying: bool,
    /// The visitor's own messages seen in that replay: more than it had acknowledged (and may
    /// still have unacknowledged) means one was stored twice.
    replayed_own: HashSet<String>,
    /// When the connection was lost, until everything resent after the reconnect is
    /// acknowledged.
    lost_at: Option<Instant>,
    /// client_ids resent after a reconnect and not yet acknowledged.
    resent: HashSet<String>,
    /// When to resend the unacknowledged messages, after the hub said it dropped a frame.
    resend_due: Option<Instant>,
    /// Refusals since the last ack: the resend backoff.
    refusals: u32,
}

/// A question waiting for its answer: an answer follows it when the answer's `seq` is above the
/// one its ack gave it.
struct Awaiting {
    client_id: String,
    sent: Instant,
    seq: Option<u64>,
}

async fn visitor(shared: Arc<Shared>, mut phase: watch::Receiver<Phase>, number: usize) -> Report {
    let mut report = Report::default();
    let mut me = Visitor {
        address: visitor_address(number),
        ..Visitor::default()
    };
    let mut ws = match connect(&shared, &mut me, OPEN).await {
        Ok(ws) => ws,
        Err(err) => {
            shared.failed.fetch_add(1, Relaxed);
            report.connect_error = Some(format!("{err:#}"));
            return report;
        }
    };
    report.connected = true;
    shared.connected.fetch_add(1, Relaxed);

    let mut left_to_send = shared.messages;
    let mut next_send: Option<tokio::time::Instant> = None;
    // Which replay from 0 (the storm's or the final check's) started, and when.
    let mut replay_started: Option<(Phase, Instant)> = None;
    let mut settled = false;
    let mut resend_check = tokio::time::interval(Duration::from_secs(2));
    loop {
        let send_at = next_send;
        tokio::select! {
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    me.on_frame(text.as_str(), &shared, &mut report);
                }
                Some(Ok(_)) => {}
                // The hub closed the connection (too slow, restart, its node died): reconnect,
                // resume, resend.
                Some(Err(_)) | None => {
                    if *phase.borrow() == Phase::Stop {
                        break;
                    }
                    report.drops += 1;
                    shared.drops.fetch_add(1, Relaxed);
                    let lost = Instant::now();
                    match connect(&shared, &mut me, RECONNECT).await {
                        Ok(new) => {
                            ws = new;
                            if report.reconnects.is_empty() {
                                shared.reconnected.fetch_add(1, Relaxed);
                            }
                            report.reconnects.push(lost.elapsed());
                            let lost_at = *me.lost_at.get_or_insert(lost);
                            if me.unacked.is_empty() {
                                report.recoveries.push(lost_at.elapsed());
                                me.lost_at = None;
                            }
                            if !resume_and_resend(&mut ws, &mut me, &mut report).await {
                                continue;
                            }
                        }
                        Err(err) => {
                            report.connect_error = Some(format!("{err:#}"));
                            break;
                        }
                    }
                }
            },
            () = sleep_until(send_at), if send_at.is_some() => {
                let client_id = format!("bench-{}", uuid_like());
                let frame = json!({
                    "type": "message",
                    "client_id": client_id,
                    "text": QUESTIONS[shared.sent.load(Relaxed) % QUESTIONS.len()],
                });
                let now = Instant::now();
                if ws.send(Message::text(frame.to_string())).await.is_ok() {
                    me.awaiting_answer.push_back(Awaiting {
                        client_id: client_id.clone(),
                        sent: now,
                        seq: None,
                    });
                }
                // Unsent or not, it is now the visitor's: a reconnect resends it.
                me.unacked.insert(client_id, now);
                report.sent += 1;
                shared.sent.fetch_add(1, Relaxed);
                left_to_send -= 1;
                next_send = (left_to_send > 0).then(|| tokio::time::Instant::now() + think(shared.think, None));
                if left_to_send == 0 {
                    shared.done_sending.fetch_add(1, Relaxed);
                }
            }
            _ = resend_check.tick() => {
                // The hub dropped a frame and said so (`unavailable`, `rate_limited`): send the
                // unacknowledged messages again with their client_ids, as the widget does. A
                // message the hub never answers is not resent: it counts as lost.
                let due = me.resend_due.is_some_and(|at| at <= Instant::now());
                let overdue: Vec<String> = if due {
                    me.resend_due = None;
                    me.unacked.keys().cloned().collect()
                } else {
                    Vec::new()
                };
                for client_id in overdue {
                    let frame = json!({"type": "message", "client_id": client_id, "text": QUESTIONS[0]});
                    let _ = ws.send(Message::text(frame.to_string())).await;
                    report.resends += 1;
                }
                if !settled && left_to_send == 0 && me.unacked.is_empty() && me.awaiting_answer.is_empty() {
                    settled = true;
                    shared.settled.fetch_add(1, Relaxed);
                }
            }
            changed = phase.changed() => {
                if changed.is_err() {
                    break;
                }
                let now_phase = *phase.borrow_and_update();
                match now_phase {
                    Phase::Messaging if shared.messages > 0 => {
                        next_send = Some(tokio::time::Instant::now() + think(shared.think, Some(shared.arrivals)));
                    }
                    Phase::Messaging => {
                        shared.done_sending.fetch_add(1, Relaxed);
                    }
                    // The final check concerns only the visitors that lost a connection.
                    Phase::Verify if report.reconnects.is_empty() => {}
                    Phase::Storm | Phase::Verify => {
                        let since = Instant::now();
                        replay_started = Some((now_phase, since));
                        report.unanswered += me.awaiting_answer.len();
                        me.awaiting_answer.clear();
                        next_send = None;
                        // Drop the connection without a goodbye, as a restart or a network
                        // change does, then come back with the same visitor token.
                        drop(ws);
                        ws = match connect(&shared, &mut me, STORM).await {
                            Ok(new) => new,
                            Err(err) => {
                                report.connect_error = Some(format!("{err:#}"));
                                if now_phase == Phase::Verify {
                                    shared.checked.fetch_add(1, Relaxed);
                                }
                                break;
                            }
                        };
                        if now_phase == Phase::Storm {
                            report.storm_reconnect = Some(since.elapsed());
                            shared.storm_connected.fetch_add(1, Relaxed);
                        }
                        // From 0: every acknowledged message must come back, once.
                        me.last_seq = 0;
                        me.replaying = true;
                        resume_and_resend(&mut ws, &mut me, &mut report).await;
                        resend_check.reset_immediately();
                    }
                    Phase::Stop => break,
                    Phase::Ramp => {}
                }
            }
        }
        if let Some((which, since)) = replay_started
            && report.storm_replay.is_none()
            && report.check_replay.is_none()
            && me.replay_complete()
        {
            if which == Phase::Storm {
                report.storm_replay = Some(since.elapsed());
                shared.storm_verified.fetch_add(1, Relaxed);
            } else {
                report.check_replay = Some(since.elapsed());
                shared.checked.fetch_add(1, Relaxed);
            }
        }
    }
    report.lost += me.unacked.len();
    if replay_started.is_some() {
        report.replay_missing += me
            .acked
            .values()
            .filter(|id| !me.seen_here.contains_key(*id))
            .count();
        let claimed: HashSet<&String> = me.acked.values().collect();
        let unclaimed = me
            .replayed_own
            .iter()
            .filter(|id| !claimed.contains(id))
            .count();
        report.duplicates += unclaimed.saturating_sub(me.unacked.len());
    } else {
        report.unanswered += me.awaiting_answer.len();
    }
    report
}

impl Visitor {
    fn on_frame(&mut self, text: &str, shared: &Shared, report: &mut Report) {
        let Ok(frame) = serde_json::from_str::<Value>(text) else {
            *report.errors.entry("unparsable frame".into()).or_default() += 1;
            return;
        };
        match frame["type"].as_str().unwrap_or_default() {
            "session" => {
                self.token = frame["visitor_token"].as_str().map(str::to_owned);
            }
            "ack" => {
                let (Some(client_id), Some(message_id)) =
                    (frame["client_id"].as_str(), frame["message_id"].as_str())
                else {
                    return;
                };
                if let Some(earlier) = self.acked.get(client_id) {
                    // A resend acknowledged again: fine if it names the same message.
                    if earlier != message_id {
                        report.duplicates += 1;
                    }
                    return;
                }
                self.acked
                    .insert(client_id.to_owned(), message_id.to_owned());
                if let Some(waiting) = self
                    .awaiting_answer
                    .iter_mut()
                    .find(|waiting| waiting.client_id == client_id)
                {
                    waiting.seq = frame["seq"].as_u64();
                }
                self.refusals = 0;
                if let Some(sent) = self.unacked.remove(client_id) {
                    if self.acked.len() == 1 {
                        report.first_ack_latency = Some(sent.elapsed());
                    }
                    report.ack_latencies.push(sent.elapsed());
                    report.ack_resent.push(self.resent.remove(client_id));
                    if self.unacked.is_empty()
                        && let Some(lost_at) = self.lost_at.take()
                    {
                        report.recoveries.push(lost_at.elapsed());
                    }
                    let second = sent.saturating_duration_since(shared.epoch).as_secs();
                    report
                        .ack_seconds
                        .push(u32::try_from(second).unwrap_or(u32::MAX));
                    shared.acked.fetch_add(1, Relaxed);
                    let at = u64::try_from(shared.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
                    shared.last_ack_ms.fetch_max(at, Relaxed);
                }
            }
            "delta" => {
                if let Some(id) = frame["message_id"].as_str()
                    && !self.replaying
                {
                    self.answer_started
                        .entry(id.to_owned())
                        .or_insert_with(Instant::now);
                }
            }
            "message" => {
                let message = &frame["message"];
                let Some(id) = message["id"].as_str() else {
                    return;
                };
                let count = self.seen_here.entry(id.to_owned()).or_default();
                *count += 1;
                if *count > 1 {
                    report.duplicates += 1;
                    return;
                }
                if let Some(seq) = message["seq"].as_u64() {
                    self.last_seq = self.last_seq.max(seq);
                }
                if self.replaying && message["role"] == "customer" {
                    self.replayed_own.insert(id.to_owned());
                }
                if message["role"] != "customer" {
                    self.answer(id, message["seq"].as_u64(), shared, report);
                }
            }
            "error" => {
                let code = frame["code"].as_str().unwrap_or("?").to_owned();
                // Back off further with each refusal (3, 6, 12 … 48 s), so that resends do not
                // feed the rate limit that refused them.
                if (code == "unavailable" || code == "rate_limited") && self.resend_due.is_none() {
                    let wait = 3u64 << self.refusals.min(4);
                    self.refusals += 1;
                    self.resend_due = Some(Instant::now() + Duration::from_secs(wait));
                }
                *report.errors.entry(code).or_default() += 1;
            }
            _ => {}
        }
    }

    /// A reply `message_id` at `seq`: it answers every waiting question acknowledged below
    /// that `seq`, timed to the reply's first frame.
    fn answer(&mut self, message_id: &str, seq: Option<u64>, shared: &Shared, report: &mut Report) {
        let started = self.answer_started.remove(message_id);
        if self.replaying || !self.answered.insert(message_id.to_owned()) {
            return;
        }
        let at = started.unwrap_or_else(Instant::now);
        let mut answered = 0usize;
        while let Some(waiting) = self.awaiting_answer.front() {
            let follows = match (waiting.seq, seq) {
                (Some(question), Some(answer)) => question < answer,
                // Not acknowledged yet: not what the reply answers.
                (None, Some(_)) => false,
                // A reply without a seq (not in protocol v1): the oldest question, once.
                (_, None) => answered == 0,
            };
            if !follows {
                break;
            }
            let latency = at.saturating_duration_since(waiting.sent);
            if report.answer_latencies.is_empty() {
                report.first_answer_latency = Some(latency);
            }
            report.answer_latencies.push(latency);
            shared.answered.fetch_add(1, Relaxed);
            self.awaiting_answer.pop_front();
            answered += 1;
        }
        report.answered_together += answered.saturating_sub(1);
    }

    /// After the storm's (or the final check's) resume from 0: every acknowledged message has
    /// come back.
    fn replay_complete(&self) -> bool {
        self.unacked.is_empty()
            && self
                .acked
                .values()
                .all(|id| self.seen_here.contains_key(id))
    }
}

/// When to try connecting: before attempt n, a random wait in the upper half of
/// min(100 ms × 2ⁿ, `cap_ms`), the first attempt at once unless `wait_first`.
#[derive(Clone, Copy)]
struct Backoff {
    attempts: u32,
    wait_first: bool,
    cap_ms: u64,
}

/// The first connection, during the ramp.
const OPEN: Backoff = Backoff {
    attempts: 6,
    wait_first: false,
    cap_ms: 6_400,
};

/// The storm's and the final check's reconnects: everyone at once, on purpose.
const STORM: Backoff = Backoff {
    attempts: 30,
    wait_first: false,
    cap_ms: 6_400,
};

/// After a lost connection, as the widget does: the visitors of a node that died all lose
/// theirs at the same moment, so even the first attempt waits up to 100 ms to spread them, and
/// the wait stops growing at 2 s so that a visitor is back soon after a node is (about a
/// minute of attempts in all).
const RECONNECT: Backoff = Backoff {
    attempts: 36,
    wait_first: true,
    cap_ms: 2_000,
};

/// Opens a connection (with the visitor's token once it has one) and reads its `session`.
/// Retries with exponential backoff and jitter, as the widget does.
async fn connect(shared: &Shared, me: &mut Visitor, backoff: Backoff) -> anyhow::Result<Ws> {
    let mut last_error = anyhow::anyhow!("no attempt");
    for attempt in 0..backoff.attempts {
        if attempt > 0 || backoff.wait_first {
            let ceiling = (100u64 << attempt.min(6)).min(backoff.cap_ms);
            sleep(Duration::from_millis(
                ceiling / 2 + (rand::random::<f64>() * (ceiling / 2) as f64) as u64,
            ))
            .await;
        }
        match connect_once(shared, me).await {
            Ok(ws) => {
                me.seen_here.clear();
                return Ok(ws);
            }
            Err(err) => last_error = err,
        }
    }
    Err(last_error)
}

/// The `number`th visitor's address, in 10.0.0.0/8.
fn visitor_address(number: usize) -> String {
    let [_, a, b, c] = u32::try_from(number % (1 << 24))
        .unwrap_or_default()
        .to_be_bytes();
    format!("10.{a}.{b}.{c}")
}

async fn connect_once(shared: &Shared, me: &mut Visitor) -> anyhow::Result<Ws> {
    let url = match &me.token {
        Some(token) => format!("{}&visitor={token}", shared.ws_url),
        None => shared.ws_url.clone(),
    };
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("x-forwarded-for", HeaderValue::from_str(&me.address)?);
    if let Some(origin) = &shared.origin {
        request
            .headers_mut()
            .insert("origin", HeaderValue::from_str(origin)?);
    }
    // Small buffers: the generator holds as many sockets as the hub.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(15),
        tokio_tungstenite::connect_async_with_config(request, Some(config), true),
    )
    .await
    .context("connect timed out")??;
    let first = tokio::time::timeout(Duration::from_secs(15), ws.next())
        .await
        .context("no session frame")?
        .context("closed before the session frame")??;
    let Message::Text(text) = first else {
        bail!("the first frame is not text");
    };
    let session: Value = serde_json::from_str(text.as_str())?;
    if session["type"] != "session" {
        bail!("the first frame is not a session: {text}");
    }
    me.token = session["visitor_token"].as_str().map(str::to_owned);
    Ok(ws)
}

/// After a reconnect: ask for what was missed, then resend what was not acknowledged.
async fn resume_and_resend(ws: &mut Ws, me: &mut Visitor, report: &mut Report) -> bool {
    let resume = json!({ "type": "resume", "after_seq": me.last_seq });
    if ws.send(Message::text(resume.to_string())).await.is_err() {
        return false;
    }
    for client_id in me.unacked.keys() {
        let frame = json!({"type": "message", "client_id": client_id, "text": QUESTIONS[0]});
        me.resent.insert(client_id.clone());
        if ws.send(Message::text(frame.to_string())).await.is_err() {
            return false;
        }
        report.resends += 1;
    }
    true
}

/// A wait before a message: uniform over 50..150 % of `mean`, or, for the first message, as
/// `first` says.
///
/// `Steady` draws from the equilibrium distribution of that uniform wait, the time left until
/// the next message seen from a random moment: density P(wait > x) / mean, that is flat
/// (1 / mean) below 50 % of the mean and falling linearly to 0 at 150 %, each part half the
/// mass. Visitors whose first wait is drawn so offer a constant rate from the start: the sum
/// of independent stationary renewal processes.
fn think(mean: Duration, first: Option<Arrivals>) -> Duration {
    let uniform = rand::random::<f64>();
    let factor = match first {
        None => 0.5 + uniform,
        Some(Arrivals::Burst) => uniform,
        Some(Arrivals::Steady) if rand::random::<bool>() => 0.5 * uniform,
        // The falling half: the inverse of its distribution function on 0.5..1.5.
        Some(Arrivals::Steady) => 1.5 - uniform.sqrt(),
    };
    mean.mul_f64(factor)
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn uuid_like() -> String {
    format!("{:032x}", rand::random::<u128>())
}

pub(crate) struct Summary {
    pub(crate) connect_failures: usize,
    pub(crate) first_connect_error: Option<String>,
    pub(crate) sent: usize,
    pub(crate) acked: usize,
    pub(crate) resends: usize,
    pub(crate) drops: usize,
    pub(crate) acks: Vec<Duration>,
    pub(crate) first_acks: Vec<Duration>,
    pub(crate) first_answers: Vec<Duration>,
    /// Each first answer's time after its question's ack: the hub's answering alone.
    pub(crate) first_answers_after_ack: Vec<Duration>,
    pub(crate) answers: Vec<Duration>,
    pub(crate) answered_together: usize,
    pub(crate) unanswered: usize,
    pub(crate) lost: usize,
    pub(crate) replay_missing: usize,
    pub(crate) duplicates: usize,
    pub(crate) errors: BTreeMap<String, usize>,
    pub(crate) storm_reconnects: Vec<Duration>,
    pub(crate) storm_replays: Vec<Duration>,
    /// The acknowledgements split by whether the message was resent after a reconnect.
    pub(crate) steady_acks: Vec<Duration>,
    pub(crate) resent_acks: Vec<Duration>,
    pub(crate) reconnected_visitors: usize,
    pub(crate) reconnects: Vec<Duration>,
    pub(crate) recoveries: Vec<Duration>,
    pub(crate) check_replays: Vec<Duration>,
}

impl Summary {
    pub(crate) fn of(reports: &[Report]) -> Summary {
        let mut summary = Summary {
            connect_failures: reports.iter().filter(|r| !r.connected).count(),
            first_connect_error: reports.iter().find_map(|r| r.connect_error.clone()),
            sent: reports.iter().map(|r| r.sent).sum(),
            acked: reports.iter().map(|r| r.ack_latencies.len()).sum(),
            resends: reports.iter().map(|r| r.resends).sum(),
            drops: reports.iter().map(|r| r.drops).sum(),
            acks: reports
                .iter()
                .flat_map(|r| r.ack_latencies.clone())
                .collect(),
            first_acks: reports.iter().filter_map(|r| r.first_ack_latency).collect(),
            first_answers: reports
                .iter()
                .filter_map(|r| r.first_answer_latency)
                .collect(),
            first_answers_after_ack: reports
                .iter()
                .filter_map(|r| {
                    let (answer, ack) = r.first_answer_latency.zip(r.first_ack_latency)?;
                    Some(answer.saturating_sub(ack))
                })
                .collect(),
            answers: reports
                .iter()
                .flat_map(|r| r.answer_latencies.clone())
                .collect(),
            answered_together: reports.iter().map(|r| r.answered_together).sum(),
            unanswered: reports.iter().map(|r| r.unanswered).sum(),
            lost: reports.iter().map(|r| r.lost).sum(),
            replay_missing: reports.iter().map(|r| r.replay_missing).sum(),
            duplicates: reports.iter().map(|r| r.duplicates).sum(),
            errors: BTreeMap::new(),
            storm_reconnects: reports.iter().filter_map(|r| r.storm_reconnect).collect(),
            storm_replays: reports.iter().filter_map(|r| r.storm_replay).collect(),
            steady_acks: Vec::new(),
            resent_acks: Vec::new(),
            reconnected_visitors: reports.iter().filter(|r| !r.reconnects.is_empty()).count(),
            reconnects: reports.iter().flat_map(|r| r.reconnects.clone()).collect(),
            recoveries: reports.iter().flat_map(|r| r.recoveries.clone()).collect(),
            check_replays: reports.iter().filter_map(|r| r.check_replay).collect(),
        };
        for report in reports {
            for (code, count) in &report.errors {
                *summary.errors.entry(code.clone()).or_default() += count;
            }
            for (latency, resent) in report.ack_latencies.iter().zip(&report.ack_resent) {
                if *resent {
                    summary.resent_acks.push(*latency);
                } else {
                    summary.steady_acks.push(*latency);
                }
            }
        }
        summary.acks.sort();
        summary.first_acks.sort();
        summary.first_answers.sort();
        summary.first_answers_after_ack.sort();
        summary.answers.sort();
        summary.storm_reconnects.sort();
        summary.storm_replays.sort();
        summary.steady_acks.sort();
        summary.resent_acks.sort();
        summary.reconnects.sort();
        summary.recoveries.sort();
        summary.check_replays.sort();
        summary
    }
}

/// The acknowledgements' p50 / p99 and count for each second of the run a message was sent in.
fn print_timeline(reports: &[Report]) {
    let mut by_second: BTreeMap<u32, Vec<Duration>> = BTreeMap::new();
    for report in reports {
        for (second, latency) in report.ack_seconds.iter().zip(&report.ack_latencies) {
            by_second.entry(*second).or_default().push(*latency);
        }
    }
    println!("ack latency by second sent (s: p50 / p99 ms, count):");
    for (second, mut latencies) in by_second {
        latencies.sort();
        println!(
            "  {second:>4}: {:>7} / {:>7}  {:>5}",
            ms(&latencies, 0.50),
            ms(&latencies, 0.99),
            latencies.len()
        );
    }
}

/// "p50 … p95 … p99 … max …" of sorted durations, in milliseconds.
pub(crate) fn spread(sorted: &[Duration]) -> String {
    format!(
        "p50 {} p95 {} p99 {} max {}",
        ms(sorted, 0.50),
        ms(sorted, 0.95),
        ms(sorted, 0.99),
        ms(sorted, 1.0)
    )
}

/// The p-th percentile of sorted durations, in milliseconds with one decimal; "-" when empty.
pub(crate) fn ms(sorted: &[Duration], p: f64) -> String {
    if sorted.is_empty() {
        return "-".into();
    }
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    format!("{:.1}", sorted[index].as_secs_f64() * 1e3)
}

/// Waits until the hub's `/metrics` no longer says it is preparing its knowledge bases (the
/// gauge is absent when the built-in encoder is off), at most ten minutes.
async fn knowledge_prepared(base: &str) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let metrics = hub_metrics(base).await?;
        let preparing = metric_sum(&metrics, "switchboard_knowledge_preparing ", "") > 0.0;
        if !preparing || started.elapsed() > Duration::from_secs(600) {
            return Ok(started.elapsed());
        }
        sleep(Duration::from_millis(250)).await;
    }
}

/// The hub's `/metrics` text.
async fn hub_metrics(base: &str) -> anyhow::Result<String> {
    Ok(reqwest::get(format!("{base}/metrics"))
        .await?
        .error_for_status()?
        .text()
        .await?)
}

/// The sum of the series of `metrics` whose line starts with `name` and contains `label`.
fn metric_sum(metrics: &str, name: &str, label: &str) -> f64 {
    metrics
        .lines()
        .filter(|line| line.starts_with(name) && line.contains(label))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Where the hub's answers came from, from its `/metrics`: the answer cache, a model (main or
/// small), the offline composer when the model was busy or slow or the hub late, and the
/// model's sentiment scores asked on their own; and how often a question whose answer is not
/// kept found its retrieval kept.
async fn ai_counts(base: &str) -> anyhow::Result<String> {
    let metrics = hub_metrics(base).await?;
    let sum = |name: &str, label: &str| metric_sum(&metrics, name, label) as u64;
    Ok(format!(
        "answers: cache {} hits of {} lookups; retrievals kept {} hits of {}; model: main {}, \
         small {}; offline instead of the model {} (busy {}, slow {}, late {}); sentiment asked \
         on its own {}",
        sum("switchboard_ai_cache_lookups_total", "outcome=\"hit\""),
        sum("switchboard_ai_cache_lookups_total", ""),
        sum(
            "switchboard_ai_retrieval_cache_lookups_total",
            "outcome=\"hit\""
        ),
        sum("switchboard_ai_retrieval_cache_lookups_total", ""),
        sum("switchboard_llm_answers_total", "model=\"main\""),
        sum("switchboard_llm_answers_total", "model=\"small\""),
        sum("switchboard_llm_offline_answers_total", ""),
        sum("switchboard_llm_offline_answers_total", "reason=\"busy\""),
        sum("switchboard_llm_offline_answers_total", "reason=\"slow\""),
        sum("switchboard_llm_offline_answers_total", "reason=\"late\""),
        sum("switchboard_llm_sentiment_total", ""),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crowd() -> Crowd {
        Crowd::new(CrowdSettings {
            ws_url: String::new(),
            origin: None,
            messages: 3,
            think: Duration::from_secs(1),
            arrivals: Arrivals::Steady,
        })
    }

    fn asked(visitor: &mut Visitor, client_id: &str) {
        visitor.awaiting_answer.push_back(Awaiting {
            client_id: client_id.into(),
            sent: Instant::now(),
            seq: None,
        });
        visitor.unacked.insert(client_id.into(), Instant::now());
    }

    fn frame(visitor: &mut Visitor, shared: &Shared, report: &mut Report, frame: Value) {
        visitor.on_frame(&frame.to_string(), shared, report);
    }

    #[test]
    fn one_reply_after_two_questions_answers_both_and_says_so() {
        let crowd = crowd();
        let (mut visitor, mut report) = (Visitor::default(), Report::default());
        let shared = &crowd.shared;
        asked(&mut visitor, "a");
        asked(&mut visitor, "b");
        frame(
            &mut visitor,
            shared,
            &mut report,
            json!({"type": "ack", "client_id": "a", "message_id": "m1", "seq": 1}),
        );
        frame(
            &mut visitor,
            shared,
            &mut report,
            json!({"type": "ack", "client_id": "b", "message_id": "m2", "seq": 2}),
        );
        frame(
            &mut visitor,
            shared,
            &mut report,
            json!({"type": "delta", "message_id": "r1", "text": "Refunds"}),
        );
        frame(
            &mut visitor,
            shared,
            &mut report,
            json!({"type": "message", "message": {"id": "r1", "seq": 3, "role": "ai"}}),
        );
        assert_eq!(report.answer_latencies.len(), 2);
        assert_eq!(report.answered_together, 1);
        assert!(visitor.awaiting_answer.is_empty());
    }

    #[test]
    fn a_reply_answers_only_the_questions_acknowledged_before_it() {
        let crowd = crowd();
        let (mut visitor, mut report) = (Visitor::default(), Report::default());
        let shared = &crowd.shared;
        asked(&mut visitor, "a");
        frame(
            &mut visitor,
            shared,
            &mut report,
            json!({"type": "ack", "client_id": "a", "message_id": "m1", "seq": 1}),
        );
        asked(&mut visitor, "b");
        frame(
            &mut visitor,
            shared,
            &mut report,
            json!({"type": "message", "message": {"id": "r1", "seq": 2, "role": "ai"}}),
        );
        frame(
            &mut visitor,
            shared,
            &mut report,
            json!({"type": "ack", "client_id": "b", "message_id": "m2", "seq": 3}),
        );
        assert_eq!(report.answer_latencies.len(), 1);
        assert_eq!(report.answered_together, 0);
        assert_eq!(
            visitor.awaiting_answer.len(),
            1,
            "b waits for a reply after seq 3"
        );
        frame(
            &mut visitor,
            shared,
            &mut report,
            json!({"type": "message", "message": {"id": "r1", "seq": 2, "role": "ai"}}),
        );
        assert_eq!(report.duplicates, 1, "the same reply twice is a duplicate");
        assert_eq!(visitor.awaiting_answer.len(), 1);
        frame(
            &mut visitor,
            shared,
            &mut report,
            json!({"type": "message", "message": {"id": "r2", "seq": 4, "role": "ai"}}),
        );
        assert_eq!(report.answer_latencies.len(), 2);
        assert!(visitor.awaiting_answer.is_empty());
    }
}
